/*
 * The tile-level arithmetic of the compiled kernel (bayes/_kernel.c): the triangular
 * solves over the TILE points of a tile, and the sums over the points of a block, on
 * GCC's vector extension so that the running sums stay in registers.
 *
 * Included by _kernel.c after BLOCK and TILE (a multiple of 4) are defined; the functions
 * are inlined into its DISPATCH clones, so each clone compiles them for its own ISA.
 * Measured against the same loops written over double arrays (benchmarks/README.md):
 * 1.3x on the kernel's value + gradient at N=10,000 D=5 K=4 and at N=100,000 D=10 K=10.
 */
#ifndef BAYESGMM_KERNEL_TILES_H
#define BAYESGMM_KERNEL_TILES_H

#include <stdint.h>
#include <string.h>

#if !defined(BLOCK) || !defined(TILE) || TILE != 16
#error "define BLOCK and TILE (16) before including _kernel_tiles.h"
#endif

/* Inlined everywhere, so that each DISPATCH clone of the block loops gets its own ISA's
   copy (a call would run the baseline build). */
#define TILE_FN static inline __attribute__((always_inline))

/* Four doubles as one value (GCC's vector extension: AVX2 registers in the x86-64-v3 clone,
   pairs of SSE2 registers in the baseline one). A tile's running sums are held in such
   locals so that they stay in registers: as arrays, GCC kept them on the stack and every
   multiply-add of the solves waited on a store and a reload. */
typedef double vec4 __attribute__((vector_size(4 * sizeof(double))));

/* Unaligned loads and stores of four doubles (the arrays are aligned to 8 bytes only),
   may_alias since they read and write double arrays, as immintrin.h's __m256d_u. */
typedef double vec4_unaligned __attribute__((vector_size(4 * sizeof(double)), aligned(8), may_alias));
#define load4(p) (*(const vec4_unaligned *)(p))
#define store4(p, v) (*(vec4_unaligned *)(p) = (v))

/* z = L^-1 ((x - mu) * inv_s) for the TILE points of one tile (x, z at the tile's first
   point, rows BLOCK apart) and q = |z|^2 per point. */
TILE_FN void solve_tile(
    int64_t D, int64_t n_off, const double *restrict L, const double *restrict inv_L,
    const double *restrict mu, const double *restrict inv_s, const double *restrict x,
    double *restrict z, double *restrict q) {
    vec4 q0 = {0.0}, q1 = {0.0}, q2 = {0.0}, q3 = {0.0};
    for (int64_t i = 0; i < D; i++) {
        const double *xi = x + i * BLOCK;
        vec4 a0 = (load4(xi) - mu[i]) * inv_s[i], a1 = (load4(xi + 4) - mu[i]) * inv_s[i];
        vec4 a2 = (load4(xi + 8) - mu[i]) * inv_s[i], a3 = (load4(xi + 12) - mu[i]) * inv_s[i];
        for (int64_t j = 0; j < i * n_off; j++) {
            const double l_ij = L[i * D + j], *zj = z + j * BLOCK;
            a0 -= l_ij * load4(zj);
            a1 -= l_ij * load4(zj + 4);
            a2 -= l_ij * load4(zj + 8);
            a3 -= l_ij * load4(zj + 12);
        }
        a0 *= inv_L[i];
        a1 *= inv_L[i];
        a2 *= inv_L[i];
        a3 *= inv_L[i];
        double *zi = z + i * BLOCK;
        store4(zi, a0);
        store4(zi + 4, a1);
        store4(zi + 8, a2);
        store4(zi + 12, a3);
        q0 += a0 * a0;
        q1 += a1 * a1;
        q2 += a2 * a2;
        q3 += a3 * a3;
    }
    store4(q, q0);
    store4(q + 4, q1);
    store4(q + 8, q2);
    store4(q + 12, q3);
}

/* The sum of the four lanes of each of a tile's partial sums, added pairwise (a macro, as
   load4 and store4: a vec4 passed to a function draws GCC's ABI notes without AVX). */
#define tile_total(a0, a1, a2, a3)                                                          \
    ({                                                                                      \
        const vec4 t_ = ((a0) + (a1)) + ((a2) + (a3));                                      \
        (t_[0] + t_[1]) + (t_[2] + t_[3]);                                                  \
    })

/* Sums over the B points of a block with TILE partial sums (TILE / 4 AVX2 vectors): one
   running sum would wait on each add's latency; TILE independent ones keep both FMA
   units busy. The partial sums are vector locals, added pairwise at the end: as an array
   summed lane by lane, those 16 dependent adds cost as much as the products. */
TILE_FN double block_dot(const double *restrict x, const double *restrict y, int64_t B) {
    vec4 a0 = {0.0}, a1 = {0.0}, a2 = {0.0}, a3 = {0.0};
    double rest = 0.0;
    int64_t b = 0;
    for (; b + TILE <= B; b += TILE) {
        a0 += load4(x + b) * load4(y + b);
        a1 += load4(x + b + 4) * load4(y + b + 4);
        a2 += load4(x + b + 8) * load4(y + b + 8);
        a3 += load4(x + b + 12) * load4(y + b + 12);
    }
    for (; b < B; b++) rest += x[b] * y[b];
    return tile_total(a0, a1, a2, a3) + rest;
}

/* The four sums over a block of x_a y_c (a, c in {0, 1}): a 2 x 2 tile of the Cholesky
   factor's gradient V Z^T, so that each loaded vector feeds two multiply-adds (one per
   load, where block_dot needs two loads per multiply-add). */
TILE_FN void block_dot_2x2(const double *restrict x0, const double *restrict x1,
                                 const double *restrict y0, const double *restrict y1,
                                 int64_t B, double out[4]) {
    vec4 s00 = {0.0}, s01 = {0.0}, s10 = {0.0}, s11 = {0.0};
    vec4 t00 = {0.0}, t01 = {0.0}, t10 = {0.0}, t11 = {0.0};
    double r00 = 0.0, r01 = 0.0, r10 = 0.0, r11 = 0.0;
    int64_t b = 0;
    for (; b + 8 <= B; b += 8) {
        const vec4 a0 = load4(x0 + b), a1 = load4(x1 + b), c0 = load4(y0 + b), c1 = load4(y1 + b);
        const vec4 e0 = load4(x0 + b + 4), e1 = load4(x1 + b + 4);
        const vec4 f0 = load4(y0 + b + 4), f1 = load4(y1 + b + 4);
        s00 += a0 * c0;
        s01 += a0 * c1;
        s10 += a1 * c0;
        s11 += a1 * c1;
        t00 += e0 * f0;
        t01 += e0 * f1;
        t10 += e1 * f0;
        t11 += e1 * f1;
    }
    for (; b < B; b++) {
        r00 += x0[b] * y0[b];
        r01 += x0[b] * y1[b];
        r10 += x1[b] * y0[b];
        r11 += x1[b] * y1[b];
    }
    const vec4 zero = {0.0};
    out[0] = tile_total(s00, t00, zero, zero) + r00;
    out[1] = tile_total(s01, t01, zero, zero) + r01;
    out[2] = tile_total(s10, t10, zero, zero) + r10;
    out[3] = tile_total(s11, t11, zero, zero) + r11;
}

/* gL[i, j] += sum over the block of v_i z_j, for j <= i (every pair when the factor has
   off-diagonal entries, else the diagonal only), rows in pairs through block_dot_2x2. */
TILE_FN void cholesky_sums(const double *restrict v, const double *restrict z, int64_t D,
                                 int64_t n_off, int64_t B, double *restrict gL) {
    int64_t i = 0;
    if (n_off) {
        for (; i + 1 < D; i += 2) {
            const double *v0 = v + i * BLOCK, *v1 = v0 + BLOCK;
            for (int64_t j = 0; j <= i; j += 2) { /* j + 1 <= i + 1 < D */
                double out[4];
                block_dot_2x2(v0, v1, z + j * BLOCK, z + (j + 1) * BLOCK, B, out);
                gL[i * D + j] += out[0];
                if (j < i) gL[i * D + j + 1] += out[1]; /* (i, i + 1) is above the diagonal */
                gL[(i + 1) * D + j] += out[2];
                gL[(i + 1) * D + j + 1] += out[3];
            }
        }
    }
    for (; i < D; i++) /* the last row of an odd D, or every diagonal entry */
        for (int64_t j = n_off ? 0 : i; j <= i; j++)
            gL[i * D + j] += block_dot(v + i * BLOCK, z + j * BLOCK, B);
}

/* sum of v and of v c over a block, c = (x - mu) * inv_s recomputed as forward_block
   computes it (the same rounding), from the block of X that every component shares,
   rather than stored per component */
TILE_FN void block_mean_std(const double *restrict v, const double *restrict x, double mu,
                                  double inv_s, int64_t B, double *sum_v, double *sum_vc) {
    vec4 v0 = {0.0}, v1 = {0.0}, v2 = {0.0}, v3 = {0.0};
    vec4 c0 = {0.0}, c1 = {0.0}, c2 = {0.0}, c3 = {0.0};
    double rest_v = 0.0, rest_vc = 0.0;
    int64_t b = 0;
    for (; b + TILE <= B; b += TILE) {
        const vec4 w0 = load4(v + b), w1 = load4(v + b + 4);
        const vec4 w2 = load4(v + b + 8), w3 = load4(v + b + 12);
        v0 += w0;
        v1 += w1;
        v2 += w2;
        v3 += w3;
        c0 += w0 * ((load4(x + b) - mu) * inv_s);
        c1 += w1 * ((load4(x + b + 4) - mu) * inv_s);
        c2 += w2 * ((load4(x + b + 8) - mu) * inv_s);
        c3 += w3 * ((load4(x + b + 12) - mu) * inv_s);
    }
    for (; b < B; b++) {
        rest_v += v[b];
        rest_vc += v[b] * ((x[b] - mu) * inv_s);
    }
    *sum_v = tile_total(v0, v1, v2, v3) + rest_v;
    *sum_vc = tile_total(c0, c1, c2, c3) + rest_vc;
}

/* v = L^-T (r z) for the TILE points of one tile (z, v at the tile's first point, rows
   BLOCK apart; r the tile's responsibilities), the back substitution of reverse_block. */
TILE_FN void back_solve_tile(
    int64_t D, int64_t n_off, const double *restrict L, const double *restrict inv_L,
    const double *restrict r, const double *restrict z, double *restrict v) {
    const vec4 r0 = load4(r), r1 = load4(r + 4), r2 = load4(r + 8), r3 = load4(r + 12);
    for (int64_t i = D - 1; i >= 0; i--) {
        const double *zi = z + i * BLOCK;
        vec4 a0 = r0 * load4(zi), a1 = r1 * load4(zi + 4);
        vec4 a2 = r2 * load4(zi + 8), a3 = r3 * load4(zi + 12);
        for (int64_t j = n_off ? i + 1 : D; j < D; j++) {
            const double l_ji = L[j * D + i], *vj = v + j * BLOCK;
            a0 -= l_ji * load4(vj);
            a1 -= l_ji * load4(vj + 4);
            a2 -= l_ji * load4(vj + 8);
            a3 -= l_ji * load4(vj + 12);
        }
        double *vi = v + i * BLOCK;
        store4(vi, a0 * inv_L[i]);
        store4(vi + 4, a1 * inv_L[i]);
        store4(vi + 8, a2 * inv_L[i]);
        store4(vi + 12, a3 * inv_L[i]);
    }
}

#endif /* BAYESGMM_KERNEL_TILES_H */
