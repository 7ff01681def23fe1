/*
 * The Bayesian GMM's log density and its gradient, in C, for nutpie and ADVI.
 *
 * The same density as bayesgmm.model.build_model (the same transforms, priors and
 * parameter order; tests/test_model.py checks value and gradient against PyMC's own
 * compile_logp / compile_dlogp for every covariance type and prior family), evaluated in
 * one pass over the data with a hand-written reverse pass. Compiled when the package is
 * installed, so a first run pays no JIT compilation, and called by nutpie's sampler
 * threads through a plain C function pointer, so chains run in parallel without the GIL.
 *
 * Speed (benchmarks/bench_kernel.py, benchmarks/README.md): points go BLOCK at a time
 * (forward_block, finish_block, reverse_block), and within a block TILE at a time through
 * the triangular solves, with every per-point array contiguous over the points of the
 * block, so the loops over points run as SIMD vectors (the tile arithmetic is in
 * _kernel_tiles.h, on vector locals that stay in registers); exp and log are written out
 * so that they vectorise too, and the block loops are compiled for AVX2 + FMA and for the
 * baseline, picked at load time (DISPATCH).
 *
 * Unconstrained vector (PyMC's model.value_vars order):
 *   alpha_log__ (1, only when alpha_prior is 1), weights_simplex__ (K-1), means (K*D),
 *   stds_log__ (n_std),
 *   partial_corr_unit_logodds__ (n_cpc: K*P full, P tied, 0 otherwise; P = D(D-1)/2).
 * EEV and VEV (codes 10, 11; D = 2, 3, 4; _kernel_orient.h) fill the same two blocks
 * differently: volume_sd_log__ (1 EEV, K VEV) and shape_gaps_log__ (D - 1) as the n_std
 * block, orient_free (K*m; m = 2 for D = 2, else 4) and, for D = 4, orient_right (K*4)
 * as the n_cpc block (raw values, no transform).
 *
 * Data buffer (float64, built by bayesgmm.kernel.kernel_buffer):
 *   header [N, D, K, cov_code, std_family, n_std, n_cpc, alpha, buffer length,
 *   has_weights, has_labels, alpha_prior, alpha_a, alpha_b, n_patterns, n_complete]
 *   (alpha_prior 0: alpha fixed at header[7], 1: a sparse finite mixture,
 *   alpha ~ Gamma(alpha_a, alpha_b) (shape, rate) with log(alpha) the first free value;
 *   n_patterns, n_complete: missing values, see _kernel_missing.h, 0 and 0 without NaN),
 *   then mean_loc (D), mean_scale (D), std_p1 (n_std), std_p2 (n_std),
 *   cpc_beta (n_cpc), X feature-major (D*N: feature 0 of every point, then feature 1...),
 *   then, if has_weights, the observation weights (N), and if has_labels the partial
 *   labels (N doubles: the component index, or -1 where unknown), then, with NaN in the
 *   data, the row order and the patterns (_kernel_missing.h). EEV and VEV: std_p1 and
 *   std_p2[0:n_vol] the volume prior's parameters, std_p1[n_vol] the shape's sd, the
 *   entries past it and cpc_beta zeros (unread).
 * Weights make the likelihood a power likelihood: point n's term (and so its
 * responsibilities in the reverse pass) is multiplied by w_n. A labelled point's term is
 * log pi_k + log N(x | k) for its own k: the other components' terms are -inf before the
 * log-sum-exp, so its responsibility is exactly one-hot and the gradient stays exact.
 * cov_code: 0 full, 1 tied, 2 diag, 3 spherical, 4 EII (one sd), 5 EEI (one sd per feature),
 *   6 VEI, 7 EVI, 8 VEE, 9 EVV (volume and shape: see code_has_volume),
 *   10 EEV, 11 VEV (volume, shape and orientation: see code_has_orientation).
 * std_family: 0 lognormal(p1=mu, p2=sigma), 1 gamma(alpha, beta),
 *   2 inverse gamma(alpha, beta), 3 half-normal(p1=sigma).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI /* not in strict C99 / MSVC's math.h */
#define M_PI 3.14159265358979323846
#endif

#define HEADER 16
#define BLOCK 256 /* points per block: a block's arrays stay in the L1/L2 cache */
#define TILE 16   /* points per tile of a solve: a multiple of the widest vector */
#define LOG_2PI 1.8378770664093453

#include "_vecmath.h" /* DISPATCH, exp_nonpositive, log_positive */
#include "_kernel_tiles.h" /* solve_tile, back_solve_tile, the block sums */

/* Index of the free standard deviation for component k, feature d: one per component
   (spherical), one for all (EII), one per feature (tied, EEI), else one per both. */
static inline int64_t std_index(int64_t cov_code, int64_t k, int64_t d, int64_t D) {
    if (cov_code == 3) return k;
    if (cov_code == 4) return 0;
    if (cov_code == 1 || cov_code == 5) return d;
    return k * D + d;
}

/* Whether a structure has correlations (full, tied, VEE, EVV), one factor per component
   (full, EVV), sds that differ between components (all but tied, EII, EEI). */
static inline int code_correlated(int64_t cov_code) {
    return cov_code <= 1 || cov_code >= 8;
}
static inline int code_chol_per_component(int64_t cov_code) {
    return cov_code == 0 || cov_code >= 9;
}
static inline int code_sds_per_component(int64_t cov_code) {
    return !(cov_code == 1 || cov_code == 4 || cov_code == 5);
}

/* EEV (10) and VEV (11), D = 2, 3, 4 (_kernel_orient.h): the sd block holds the volumes'
   log sqrt(lambda) and the shape's D - 1 log gaps, the CPC block the orientations' raw
   values (no C-vine). The likelihood runs on unit sds and the covariances' own Cholesky
   factors, one per component (code_correlated and code_chol_per_component). */
static inline int code_has_orientation(int64_t cov_code) {
    return cov_code == 10 || cov_code == 11;
}

/* The volume-shape structures (6 VEI, 7 EVI, 8 VEE, 9 EVV): Sigma_k = lambda_k C_k, det C_k
   = 1, C_k = S~_k R_k S~_k / det(R_k)^(1/D). Their sd block is log sqrt(lambda) (one per
   component, VEI and VEE, or one shared), then per shape (one per component, EVI and EVV,
   or one shared; none when D = 1) the D - 1 free values of the zero-sum log s~ (PyMC's
   ZeroSumTransform). The likelihood reads s_kd = sqrt(lambda_k) s~_kd det(R_k)^(-1/(2D)). */
static inline int code_has_volume(int64_t cov_code) { return cov_code >= 6 && cov_code <= 9; }
static inline int64_t n_volumes(int64_t cov_code, int64_t K) {
    return cov_code == 6 || cov_code == 8 ? K : 1;
}
static inline int64_t n_shape_rows(int64_t cov_code, int64_t K, int64_t D) {
    if (!code_has_volume(cov_code) || D < 2) return 0;
    return cov_code == 7 || cov_code == 9 ? K : 1;
}

/* PyMC's ZeroSumTransform backward (extend_axis): D - 1 free values to D summing to 0. */
static void zerosum_backward(const double *y, int64_t D, double *x) {
    const double n = (double)D, root = sqrt(n);
    double total = 0.0;
    for (int64_t j = 0; j < D - 1; j++) total += y[j];
    const double norm = total / (root + n);
    for (int64_t j = 0; j < D - 1; j++) x[j] = y[j] - norm;
    x[D - 1] = (norm - total / root) - norm;
}

/* Its reverse: the gradient in the D - 1 free values from the gradient g in the D. */
static void zerosum_reverse(const double *g, int64_t D, double *g_free) {
    const double n = (double)D, root = sqrt(n);
    double head = 0.0;
    for (int64_t j = 0; j < D - 1; j++) head += g[j];
    for (int64_t j = 0; j < D - 1; j++) g_free[j] = g[j] - head / (root + n) - g[D - 1] / root;
}

/* PyMC's simplex transform: zeta = [theta[0:K-1], -sum(theta[0:K-1])], the weights being
   softmax(zeta). Writes zeta (K values) and returns log(sum(exp(zeta))). */
static double simplex_zeta(const double *theta, int64_t K, double *zeta) {
    zeta[K - 1] = 0.0;
    for (int64_t k = 0; k < K - 1; k++) {
        zeta[k] = theta[k];
        zeta[K - 1] -= theta[k];
    }
    double zmax = zeta[0];
    for (int64_t k = 1; k < K; k++)
        if (zeta[k] > zmax) zmax = zeta[k];
    double norm = 0.0;
    for (int64_t k = 0; k < K; k++) norm += exp(zeta[k] - zmax);
    return zmax + log(norm);
}


/* digamma(x) for x > 0 (the gradient of the Dirichlet's normaliser in a free alpha):
   the recurrence psi(x) = psi(x + 1) - 1/x up to x >= 10, then the asymptotic series
   ln x - 1/(2x) - sum_{n=1..7} B_2n / (2n x^2n). Its first omitted term, 3617/(8160 x^16),
   is below 5e-17 at x = 10; at x = 6, where the recurrence often stops, it is 1.6e-13,
   coarser than the 1e-14 the tests hold this to. NaN stays NaN; +inf gives +inf. */
double bgmm_digamma(double x) {
    double shift = 0.0;
    while (x < 10.0) {
        shift -= 1.0 / x;
        x += 1.0;
    }
    const double y = 1.0 / (x * x);
    double p = 1.0 / 12.0;
    p = p * y - 691.0 / 32760.0;
    p = p * y + 1.0 / 132.0;
    p = p * y - 1.0 / 240.0;
    p = p * y + 1.0 / 252.0;
    p = p * y - 1.0 / 120.0;
    p = p * y + 1.0 / 12.0;
    return shift + (log(x) - 0.5 / x - p * y);
}

/* What the per-block loops read and write; the block arrays hold BLOCK points each,
   component-major, and every per-point quantity of a block is contiguous over points. */
typedef struct {
    int64_t N, D, K;
    int full;     /* one Cholesky factor per component (else one shared) */
    int has_corr; /* off-diagonal Cholesky entries (else the solves are diagonal) */
    const double *X, *means, *chol, *inv_diag, *inv_std, *log_w, *log_det;
    const double *obs_w, *labels; /* N weights, N labels (-1 unknown); NULL when absent */
    double cnst;
    /* x: the block of X, feature-major, padded with zeros to whole tiles (D*BLOCK);
       z = L^-1 (x - mu) / s (K*D*BLOCK); a: log pi_k N(x | k), then exp(a - max_k a)
       (K*BLOCK); v = r L^-T z, one component at a time (D*BLOCK); per point: max_k a and
       the total of exp(a - max), replaced by its inverse before the reverse pass */
    double *x_blk, *z_blk, *a_blk, *v_blk, *amax_blk, *total_blk;
    double *w_blk, *lab_blk; /* the block's weights (padded 0) and labels (padded -1) */
    double *g_means, *g_stds, *g_chol, *resp_sum; /* gradient sums over all blocks */
} Blocks;

/*
 * Forward pass over the B points from n0: each component's log term, then the terms
 * exp(a - max) and their total per point. Points go TILE at a time through the
 * triangular solve: the innermost loops run over the TILE points of a row, with
 * that row of z in registers (4 AVX2 vectors, independent chains that hide the FMA
 * latency) while the row's L z products are subtracted. The block of X is first copied
 * into x_blk, padded with zeros to whole tiles; the padded points are computed and never
 * summed.
 */
DISPATCH static void forward_block(const Blocks *s, int64_t n0, int64_t B) {
    const int64_t D = s->D, K = s->K, N = s->N, DD = D * D, Bp = (B + TILE - 1) / TILE * TILE;
    double *restrict amax = s->amax_blk, *restrict total = s->total_blk;
    double *restrict xb = s->x_blk;
    for (int64_t i = 0; i < D; i++) {
        for (int64_t b = 0; b < B; b++) xb[i * BLOCK + b] = s->X[i * N + n0 + b];
        for (int64_t b = B; b < Bp; b++) xb[i * BLOCK + b] = 0.0;
    }
    const double *restrict lab = s->labels == NULL ? NULL : s->lab_blk;
    if (lab != NULL) {
        for (int64_t b = 0; b < B; b++) s->lab_blk[b] = s->labels[n0 + b];
        for (int64_t b = B; b < Bp; b++) s->lab_blk[b] = -1.0;
    }
    if (s->obs_w != NULL) {
        for (int64_t b = 0; b < B; b++) s->w_blk[b] = s->obs_w[n0 + b];
        for (int64_t b = B; b < Bp; b++) s->w_blk[b] = 0.0;
    }
    for (int64_t b = 0; b < Bp; b++) amax[b] = -INFINITY;
    for (int64_t k = 0; k < K; k++) {
        const int64_t m = s->full ? k : 0, n_off = s->has_corr;
        const double *restrict L = s->chol + m * DD, *restrict inv_L = s->inv_diag + m * D;
        const double *restrict mu = s->means + k * D, *restrict inv_s = s->inv_std + k * D;
        double *restrict z = s->z_blk + k * D * BLOCK, *restrict a = s->a_blk + k * BLOCK;
        const double a0 = s->log_w[k] - s->log_det[k] - s->cnst;
        for (int64_t t = 0; t < Bp; t += TILE) {
            double q[TILE];
            solve_tile(D, n_off, L, inv_L, mu, inv_s, xb + t, z + t, q);
            if (lab != NULL) { /* a labelled point counts for its own component only */
                const double kd = (double)k;
#pragma omp simd
                for (int w = 0; w < TILE; w++) {
                    const int own = lab[t + w] < 0.0 || lab[t + w] == kd;
                    a[t + w] = own ? a0 - 0.5 * q[w] : -INFINITY;
                    amax[t + w] = a[t + w] > amax[t + w] ? a[t + w] : amax[t + w];
                }
                continue;
            }
#pragma omp simd
            for (int w = 0; w < TILE; w++) {
                a[t + w] = a0 - 0.5 * q[w];
                amax[t + w] = a[t + w] > amax[t + w] ? a[t + w] : amax[t + w];
            }
        }
    }
    for (int64_t b = 0; b < Bp; b++) total[b] = 0.0;
    for (int64_t k = 0; k < K; k++) {
        double *restrict a = s->a_blk + k * BLOCK;
#pragma omp simd
        for (int64_t b = 0; b < Bp; b++) {
            a[b] = exp_nonpositive(a[b] - amax[b]);
            total[b] += a[b];
        }
    }
}

/*
 * After forward_block: each point's log-likelihood max + log(total), -inf where it is
 * NaN, into pointwise (if not NULL); total_blk is replaced by 1 / total for the reverse
 * pass. Returns the block's sum. With weights, each point's term (also in pointwise) is
 * w * term (0 for w = 0, even where the term is -inf) and total_blk holds w / total, so
 * that the reverse pass's responsibilities come out multiplied by w.
 */
DISPATCH static double finish_block(const Blocks *s, int64_t B, double *pointwise) {
    const double *restrict amax = s->amax_blk;
    double *restrict total = s->total_blk, *restrict lse = s->v_blk; /* v is free here */
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int64_t b = 0; b < B; b++) {
        double value = amax[b] + log_positive(total[b]);
        /* Far in the tails (a std of 1e-250, a mean of 1e200) every component's term
           overflows: -inf - -inf or inf - inf gives NaN. The density there is below
           what a double holds, so the point's log-likelihood is -inf. */
        value = value == value ? value : -INFINITY;
        lse[b] = value;
        sum += value;
        total[b] = 1.0 / total[b];
    }
    if (s->obs_w != NULL) {
        const double *restrict w = s->w_blk;
        sum = 0.0;
#pragma omp simd reduction(+ : sum)
        for (int64_t b = 0; b < B; b++) {
            lse[b] = w[b] > 0.0 ? w[b] * lse[b] : 0.0;
            sum += lse[b];
            total[b] *= w[b];
        }
    }
    if (pointwise != NULL) memcpy(pointwise, lse, (size_t)B * sizeof(double));
    return sum;
}

/*
 * Reverse pass over a block, after forward_block and with total_blk inverted: adds the
 * block's terms to the gradient sums. Per component, the back substitution v = L^-T z
 * scaled by the responsibility r, vectorised over the points as the forward solve, then
 * the sums over the points (vectorised reductions) of r v (means), r v c (sds) and
 * r v z^T (the Cholesky factor).
 */
DISPATCH static void reverse_block(const Blocks *s, int64_t B) {
    const int64_t D = s->D, K = s->K, DD = D * D, Bp = (B + TILE - 1) / TILE * TILE;
    const double *restrict inv_total = s->total_blk;
    double *restrict v = s->v_blk;
    for (int64_t k = 0; k < K; k++) {
        const int64_t m = s->full ? k : 0;
        const double *restrict L = s->chol + m * DD, *restrict inv_L = s->inv_diag + m * D;
        const double *restrict mu = s->means + k * D, *restrict inv_s = s->inv_std + k * D;
        const double *restrict z = s->z_blk + k * D * BLOCK;
        const double *restrict a = s->a_blk + k * BLOCK;
        double *restrict gL = s->g_chol + m * DD;
        const int64_t n_off = s->has_corr;
        double r_tile[TILE] = {0.0}; /* partial sums of r, lane by lane */
        for (int64_t t = 0; t < Bp; t += TILE) {
            /* r v = L^-T (r z): the responsibility scales z first, so v comes out scaled */
            double r[TILE];
#pragma omp simd
            for (int w = 0; w < TILE; w++) {
                r[w] = a[t + w] * inv_total[t + w];
                r_tile[w] += t + w < B ? r[w] : 0.0; /* padded points are not summed */
            }
            back_solve_tile(D, n_off, L, inv_L, r, z + t, v + t);
        }
        s->resp_sum[k] += tile_total(load4(r_tile), load4(r_tile + 4), load4(r_tile + 8),
                                     load4(r_tile + 12));
        for (int64_t i = 0; i < D; i++) {
            double g_mean, g_std;
            const double *vi = v + i * BLOCK;
            block_mean_std(vi, s->x_blk + i * BLOCK, mu[i], inv_s[i], B, &g_mean, &g_std);
            s->g_means[k * D + i] += g_mean * inv_s[i];
            s->g_stds[k * D + i] += g_std; /* s * d loglik / d s */
        }
        cholesky_sums(v, z, D, n_off, B, gL);
    }
}

#include "_kernel_missing.h" /* the observed-coordinate likelihood of incomplete rows */

/* Every component's sds (K*D) from the free sds (std_index), or for a volume-shape
   structure s_kd = sqrt(lambda_k) s~_kd det(R_k)^(-1/(2D)) with det(R) = prod L_ii^2.
   0 where one is 0 or infinite. */
static int component_sds(int64_t cov_code, int64_t K, int64_t D, const double *stds_free,
                         const double *shape, const double *chol, int correlated, double *sd) {
    const int64_t rows = n_shape_rows(cov_code, K, D), per_volume = n_volumes(cov_code, K) > 1;
    for (int64_t k = 0; k < K; k++) {
        if (!code_has_volume(cov_code)) {
            for (int64_t d = 0; d < D; d++) sd[k * D + d] = stds_free[std_index(cov_code, k, d, D)];
            continue;
        }
        const double *L = chol + (code_chol_per_component(cov_code) ? k : 0) * D * D;
        double log_det = 0.0; /* log det(R) / (2D) */
        if (correlated)
            for (int64_t i = 0; i < D; i++) log_det += log(L[i * D + i]);
        log_det /= (double)D;
        const double log_v = log(stds_free[per_volume ? k : 0]);
        const double *x = rows == 0 ? NULL : shape + (rows > 1 ? k : 0) * D;
        for (int64_t d = 0; d < D; d++) {
            const double value = exp(log_v + (x == NULL ? 0.0 : x[d]) - log_det);
            if (!(value > 0.0 && value < INFINITY)) return 0;
            sd[k * D + d] = value;
        }
    }
    return 1;
}

/* A volume-shape structure's reverse pass from g_stds (s dlogp/ds per component and
   feature): into g_free (d/d log sqrt(lambda)), into the correlation factors' diagonal
   (gL, before the C-vine's reverse pass), and through the zero-sum transform into
   grad_shape (the log shapes' free values), with the shapes' ZeroSumNormal(sigma) prior,
   whose log density is returned. */
static double volume_shape_reverse(int64_t cov_code, int64_t K, int64_t D, const double *g_stds,
                                   const double *shape,
                                   const double *chol, int correlated, double sigma,
                                   double *g_free, double *g_shape, double *g_chol,
                                   double *grad_shape) {
    const int64_t rows = n_shape_rows(cov_code, K, D), per_volume = n_volumes(cov_code, K) > 1;
    const int per_chol = code_chol_per_component(cov_code);
    for (int64_t k = 0; k < K; k++) {
        double total = 0.0;
        for (int64_t d = 0; d < D; d++) {
            total += g_stds[k * D + d];
            if (rows > 0) g_shape[(rows > 1 ? k : 0) * D + d] += g_stds[k * D + d];
        }
        g_free[per_volume ? k : 0] += total;
        if (correlated) { /* log s_kd - sum_i log L_ii / D */
            const double *L = chol + (per_chol ? k : 0) * D * D;
            double *gL = g_chol + (per_chol ? k : 0) * D * D;
            for (int64_t i = 0; i < D; i++) gL[i * D + i] -= total / ((double)D * L[i * D + i]);
        }
    }
    double logp = 0.0;
    const double inv_var = 1.0 / (sigma * sigma);
    for (int64_t r = 0; r < rows; r++) {
        const double *x = shape + r * D;
        double *g = g_shape + r * D;
        for (int64_t d = 0; d < D; d++) {
            logp -= 0.5 * x[d] * x[d] * inv_var;
            g[d] -= x[d] * inv_var;
        }
        logp -= (double)(D - 1) * (0.5 * LOG_2PI + log(sigma));
        zerosum_reverse(g, D, grad_shape + r * (D - 1));
    }
    return logp;
}

#include "_kernel_orient.h" /* EEV and VEV: Sigma_k = lambda_k R_k diag(a) R_k^T */

/* The free scales (exp of the first values of the sd block): the sds, the volumes'
   sqrt(lambda) of the volume-shape and orientation structures. */
static inline int64_t n_free_scales(int64_t cov_code, int64_t K, int64_t n_std) {
    if (code_has_orientation(cov_code)) return orient_volumes(cov_code, K);
    return code_has_volume(cov_code) ? n_volumes(cov_code, K) : n_std;
}

/* Correlation Cholesky factors (n_chol, D x D, lower) from the C-vine CPCs' unit values
   (row-major lower pairs; the identity without CPCs), 1 / L_ii in inv_diag; rem holds the
   squared norm left in each row before each entry, for the reverse pass. */
static void cvine_cholesky(int64_t n_chol, int64_t D, const double *unit, int has_cpc,
                           double *chol, double *rem, double *inv_diag) {
    const int64_t DD = D * D, n_pairs = D * (D - 1) / 2;
    for (int64_t m = 0; m < n_chol; m++) {
        double *L = chol + m * DD, *R = rem + m * DD;
        int64_t p = m * n_pairs;
        L[0] = 1.0;
        for (int64_t i = 1; i < D; i++) {
            double r = 1.0;
            for (int64_t j = 0; j < i; j++) {
                R[i * D + j] = r;
                const double value = has_cpc ? (2.0 * unit[p] - 1.0) * sqrt(r) : 0.0;
                L[i * D + j] = value;
                r -= value * value;
                p++;
            }
            R[i * D + i] = r;
            L[i * D + i] = sqrt(r);
        }
        for (int64_t i = 0; i < D; i++) inv_diag[m * D + i] = 1.0 / L[i * D + i];
    }
}

/*
 * Log density at theta (returned), its gradient in grad, and each point's marginal
 * log-likelihood in pointwise (skipped when NULL). With grad NULL, the reverse pass over
 * the points is skipped: the value and pointwise only, for stored draws. Returns -inf where a transform rounds
 * to its boundary far in the tails (u = 0 or 1, s = 0 or inf, a weight of 0): the
 * density is undefined there and the sampler should treat the step as divergent. The
 * same -inf where the arithmetic overflows. Returns NaN only if scratch memory cannot be
 * allocated.
 */
double bgmm_logp_grad(const double *theta, const double *buf, double *grad, double *pointwise) {
    const int64_t N = (int64_t)buf[0], D = (int64_t)buf[1], K = (int64_t)buf[2];
    const int64_t cov_code = (int64_t)buf[3], std_family = (int64_t)buf[4];
    const int64_t n_std = (int64_t)buf[5], n_cpc = (int64_t)buf[6];
    /* a sparse finite mixture: alpha = exp(theta[0]) is free, the rest follows it */
    const int64_t n_alpha = buf[11] != 0.0;
    const double log_alpha = n_alpha ? theta[0] : 0.0;
    const double alpha = n_alpha ? exp(log_alpha) : buf[7];
    theta += n_alpha;
    const double *mean_loc = buf + HEADER, *mean_scale = mean_loc + D;
    const double *std_p1 = mean_scale + D, *std_p2 = std_p1 + n_std;
    const double *cpc_beta = std_p2 + n_std, *X = cpc_beta + n_cpc;
    const double *obs_w = buf[9] != 0.0 ? X + D * N : NULL;
    const double *labels = buf[10] != 0.0 ? X + D * N + (obs_w != NULL ? N : 0) : NULL;
    const int64_t off_means = K - 1, off_std = off_means + K * D, off_cpc = off_std + n_std;
    const int64_t n_dim = off_cpc + n_cpc;
    const int64_t n_pairs = D * (D - 1) / 2, n_chol = code_chol_per_component(cov_code) ? K : 1;
    const int64_t DD = D * D;

    /* scratch: one allocation, carved up; the block arrays hold BLOCK points each */
    const int64_t n_scratch = 4 * K + 6 * K * D + 3 * n_chol * DD + n_chol * D + 2 * n_std +
                              2 * n_cpc + n_dim + n_alpha + (K * D + K + 2 * D + 4) * BLOCK;
    double *scratch = (double *)calloc((size_t)n_scratch, sizeof(double));
    if (scratch == NULL) return NAN;
    double *log_w = scratch, *weights = log_w + K, *log_det = weights + K;
    double *resp_sum = log_det + K;
    double *inv_std = resp_sum + K, *g_means = inv_std + K * D, *g_stds = g_means + K * D;
    double *chol = g_stds + K * D, *rem = chol + n_chol * DD, *g_chol = rem + n_chol * DD;
    double *inv_diag = g_chol + n_chol * DD; /* 1 / L[i, i]: multiply, not divide, per point */
    double *stds_free = inv_diag + n_chol * D, *g_free = stds_free + n_std;
    double *unit = g_free + n_std, *g_cpc = unit + n_cpc;
    /* every component's sds, and a volume-shape structure's log shapes and their gradient */
    double *sd = g_cpc + n_cpc, *shape = sd + K * D, *g_shape = shape + K * D;
    double *g_unused = g_shape + K * D;
    const int64_t n_vol = n_free_scales(cov_code, K, n_std);
    const int64_t n_rows = n_shape_rows(cov_code, K, D);
    const int want_grad = grad != NULL;
    if (!want_grad) grad = g_unused; /* the cheap prior gradients land here, unread */
    double *g_alpha = grad; /* d/d log alpha (sparse only); the rest follows it */
    grad += n_alpha;
    /* the block arrays of Blocks (see there) */
    double *z_blk = g_unused + n_dim + n_alpha, *a_blk = z_blk + K * D * BLOCK;
    double *v_blk = a_blk + K * BLOCK;
    double *amax_blk = v_blk + D * BLOCK, *total_blk = amax_blk + BLOCK;
    double *x_blk = total_blk + BLOCK, *w_blk = x_blk + D * BLOCK, *lab_blk = w_blk + BLOCK;
    double logp = -INFINITY;

    for (int64_t i = 0; i < n_dim + n_alpha; i++) g_alpha[i] = 0.0;
    if (!(alpha > 0.0 && K * alpha < INFINITY)) goto done;

    /* weights: w = softmax(zeta) */
    const double log_norm = simplex_zeta(theta, K, log_w);
    double sum_log_w = 0.0;
    for (int64_t k = 0; k < K; k++) {
        log_w[k] -= log_norm;
        weights[k] = exp(log_w[k]);
        sum_log_w += log_w[k];
        if (!(weights[k] > 0.0)) goto done;
    }
    for (int64_t i = 0; i < n_vol; i++) { /* the sds, or the volumes' sqrt(lambda) */
        stds_free[i] = exp(theta[off_std + i]);
        if (!(stds_free[i] > 0.0 && stds_free[i] < INFINITY)) goto done;
    }
    for (int64_t r = 0; r < n_rows; r++)
        zerosum_backward(theta + off_std + n_vol + r * (D - 1), D, shape + r * D);
    const int64_t n_unit = code_has_orientation(cov_code) ? 0 : n_cpc; /* the C-vine's CPCs */
    for (int64_t i = 0; i < n_unit; i++) {
        unit[i] = 1.0 / (1.0 + exp(-theta[off_cpc + i]));
        if (!(unit[i] > 0.0 && unit[i] < 1.0)) goto done;
    }

    if (code_has_orientation(cov_code)) {
        if (!orient_forward(cov_code, K, D, stds_free, theta + off_std + n_vol, theta + off_cpc,
                            chol, inv_diag, sd))
            goto done;
    } else {
        cvine_cholesky(n_chol, D, unit, n_cpc > 0, chol, rem, inv_diag);
        if (!component_sds(cov_code, K, D, stds_free, shape, chol, n_cpc > 0, sd)) goto done;
    }
    for (int64_t k = 0; k < K; k++) {
        const double *L = chol + (code_chol_per_component(cov_code) ? k : 0) * DD;
        for (int64_t d = 0; d < D; d++) {
            const double s = sd[k * D + d];
            inv_std[k * D + d] = 1.0 / s;
            log_det[k] += log(s) + log(L[d * D + d]);
        }
    }

    /* ---- likelihood and its reverse pass, BLOCK points at a time ---- */
    const Blocks blocks = {N, D, K, code_chol_per_component(cov_code), n_cpc > 0, X, theta + off_means, chol,
                           inv_diag, inv_std, log_w, log_det, obs_w, labels,
                           0.5 * (double)D * LOG_2PI, x_blk, z_blk, a_blk, v_blk, amax_blk,
                           total_blk, w_blk, lab_blk, g_means, g_stds, g_chol, resp_sum};
    double loglik = 0.0;
    /* with NaN, the leading complete rows take this path, in sorted order (see
       _kernel_missing.h): their terms go back to the user's rows through ml.order */
    const MissingLayout ml = missing_layout(buf, X + D * N + (obs_w != NULL) * N +
                                                     (labels != NULL) * N);
    const int64_t n_plain = ml.n_patterns > 0 ? ml.n_complete : N;
    double pw_blk[BLOCK];
    for (int64_t n0 = 0; n0 < n_plain; n0 += BLOCK) {
        const int64_t B = n_plain - n0 < BLOCK ? n_plain - n0 : BLOCK;
        double *pw = pointwise == NULL ? NULL : ml.order == NULL ? pointwise + n0 : pw_blk;
        forward_block(&blocks, n0, B);
        loglik += finish_block(&blocks, B, pw);
        if (pw == pw_blk) scatter_rows(pw_blk, ml.order + n0, B, pointwise);
        if (want_grad) reverse_block(&blocks, B);
    }
    /* log-determinant terms, once per component with the summed responsibilities */
    for (int64_t k = 0; k < K; k++) {
        const double *L = chol + (code_chol_per_component(cov_code) ? k : 0) * DD;
        double *gL = g_chol + (code_chol_per_component(cov_code) ? k : 0) * DD;
        for (int64_t d = 0; d < D; d++) {
            g_stds[k * D + d] -= resp_sum[k];
            gL[d * D + d] -= resp_sum[k] / L[d * D + d];
        }
    }
    if (ml.n_patterns > 0) { /* after the complete rows' log-determinants, which read resp_sum */
        const MissingModel mm = {cov_code, sd, chol, g_chol};
        int ok;
        loglik += missing_pass(&blocks, &mm, &ml, pointwise, want_grad, &ok);
        if (!ok) {
            free(scratch);
            return NAN;
        }
    }
    double total_resp = 0.0;
    for (int64_t k = 0; k < K; k++) total_resp += resp_sum[k];
    logp = loglik;

    /* ---- weights: Dirichlet prior + simplex Jacobian (log K + sum log w) ---- */
    logp += lgamma(K * alpha) - K * lgamma(alpha) + (alpha - 1.0) * sum_log_w;
    logp += log((double)K) + sum_log_w;
    /* d/d log w_k of (likelihood + prior + Jacobian) = R_k + alpha; through the softmax: */
    const double total_mass = total_resp + K * alpha;
    const double g_last = resp_sum[K - 1] + alpha - weights[K - 1] * total_mass;
    for (int64_t k = 0; k < K - 1; k++)
        grad[k] = resp_sum[k] + alpha - weights[k] * total_mass - g_last;
    if (n_alpha) { /* alpha ~ Gamma(a, b), log transform (Jacobian alpha) */
        const double a = buf[12], b = buf[13];
        logp += a * log(b) - lgamma(a) + (a - 1.0) * log_alpha - b * alpha + log_alpha;
        /* d/d log alpha = alpha d/d alpha of (Dirichlet + Gamma) + 1 */
        const double d_dirichlet =
            K * bgmm_digamma(K * alpha) - K * bgmm_digamma(alpha) + sum_log_w;
        g_alpha[0] = alpha * (d_dirichlet - b) + a;
    }

    /* ---- means: Normal prior ---- */
    for (int64_t k = 0; k < K; k++) {
        for (int64_t d = 0; d < D; d++) {
            const double dev = (theta[off_means + k * D + d] - mean_loc[d]) / mean_scale[d];
            logp += -0.5 * dev * dev - log(mean_scale[d]) - 0.5 * LOG_2PI;
            grad[off_means + k * D + d] = g_means[k * D + d] - dev / mean_scale[d];
        }
    }

    /* ---- standard deviations: prior on s, log transform (Jacobian s) ---- */
    if (code_has_volume(cov_code)) {
        const double sigma = n_rows > 0 ? std_p1[n_vol] : 1.0; /* the shapes' prior sd */
        logp += volume_shape_reverse(cov_code, K, D, g_stds, shape, chol, n_cpc > 0, sigma,
                                     g_free, g_shape, g_chol, grad + off_std + n_vol);
    } else if (code_has_orientation(cov_code)) { /* g_stds is unused: the sds are 1 */
        logp += orient_reverse(cov_code, K, D, stds_free, theta + off_std + n_vol,
                               theta + off_cpc, std_p1[n_vol], chol, g_chol, want_grad, g_free,
                               grad + off_std + n_vol, grad + off_cpc);
    } else {
        for (int64_t k = 0; k < K; k++)
            for (int64_t d = 0; d < D; d++)
                g_free[std_index(cov_code, k, d, D)] += g_stds[k * D + d];
    }
    for (int64_t i = 0; i < n_vol; i++) {
        const double s = stds_free[i], log_s = theta[off_std + i];
        const double p1 = std_p1[i], p2 = std_p2[i];
        double g_s;
        if (std_family == 0) { /* lognormal(mu=p1, sigma=p2) */
            const double dev = (log_s - p1) / p2;
            logp += -log_s - log(p2) - 0.5 * LOG_2PI - 0.5 * dev * dev;
            g_s = -1.0 / s - dev / (p2 * s);
        } else if (std_family == 1) { /* gamma(alpha=p1, beta=p2) */
            logp += p1 * log(p2) - lgamma(p1) + (p1 - 1.0) * log_s - p2 * s;
            g_s = (p1 - 1.0) / s - p2;
        } else if (std_family == 2) { /* inverse gamma(alpha=p1, beta=p2) */
            logp += p1 * log(p2) - lgamma(p1) - (p1 + 1.0) * log_s - p2 / s;
            g_s = -(p1 + 1.0) / s + p2 / (s * s);
        } else { /* half-normal(sigma=p1) */
            logp += 0.5 * log(2.0 / M_PI) - log(p1) - 0.5 * (s * s) / (p1 * p1);
            g_s = -s / (p1 * p1);
        }
        logp += log_s; /* Jacobian of s = exp(theta) */
        grad[off_std + i] = g_free[i] + g_s * s + 1.0;
    }

    /* ---- correlations: reverse pass of the C-vine, Beta(b, b) on u, logodds ---- */
    if (n_unit > 0) {
        for (int64_t m = 0; m < n_chol; m++) {
            const double *L = chol + m * DD, *R = rem + m * DD, *gL = g_chol + m * DD;
            int64_t p_row = m * n_pairs;
            for (int64_t i = 1; i < D; i++) {
                double g_rem = gL[i * D + i] * 0.5 / L[i * D + i];
                for (int64_t j = i - 1; j >= 0; j--) {
                    const double sq = sqrt(R[i * D + j]);
                    const double g_value = gL[i * D + j] - 2.0 * L[i * D + j] * g_rem;
                    g_cpc[p_row + j] += g_value * sq;
                    if (j > 0) /* rem before the first pair is the constant 1 */
                        g_rem += g_value * (2.0 * unit[p_row + j] - 1.0) * 0.5 / sq;
                }
                p_row += i;
            }
        }
        for (int64_t i = 0; i < n_cpc; i++) {
            const double u = unit[i], b = cpc_beta[i];
            const double log_u = log(u), log_1mu = log1p(-u);
            logp += (b - 1.0) * (log_u + log_1mu) - (2.0 * lgamma(b) - lgamma(2.0 * b));
            logp += log_u + log_1mu; /* Jacobian of the logodds transform */
            const double g_u = 2.0 * g_cpc[i] + (b - 1.0) * (1.0 / u - 1.0 / (1.0 - u));
            grad[off_cpc + i] = g_u * u * (1.0 - u) + (1.0 - 2.0 * u);
        }
    }

done:
    free(scratch);
    /* NaN is reserved for "no memory": any other breakdown is a density of 0 */
    return isnan(logp) ? -INFINITY : logp;
}

/*
 * Constrained values from theta, flat: alpha (1, sparse only), weights (K), means (K*D), stds (n_std;
 * a volume-shape structure: its sqrt(lambda), then D values per log shape), partial_corr_unit
 * (n_cpc). EEV and VEV: the volume sds and the gaps (exp of their n_std free values), then
 * the n_cpc orientation values as they are.
 */
void bgmm_expand(const double *theta, const double *buf, double *out) {
    const int64_t D = (int64_t)buf[1], K = (int64_t)buf[2];
    const int64_t n_std = (int64_t)buf[5], n_cpc = (int64_t)buf[6];
    if (buf[11] != 0.0) { /* alpha first, as in the unconstrained vector */
        *out++ = exp(*theta++);
    }
    const double log_norm = simplex_zeta(theta, K, out);
    for (int64_t k = 0; k < K; k++) out[k] = exp(out[k] - log_norm);
    double *o = out + K;
    const double *t = theta + K - 1;
    for (int64_t i = 0; i < K * D; i++) o[i] = t[i];
    o += K * D;
    t += K * D;
    const int64_t cov_code = (int64_t)buf[3];
    const int orient = code_has_orientation(cov_code); /* volumes and gaps, then raw x */
    const int64_t n_vol = orient ? n_std : n_free_scales(cov_code, K, n_std);
    for (int64_t i = 0; i < n_vol; i++) o[i] = exp(t[i]);
    o += n_vol;
    t += n_vol;
    for (int64_t r = 0; r < n_shape_rows(cov_code, K, D); r++) { /* the zero-sum log shapes */
        zerosum_backward(t, D, o);
        o += D;
        t += D - 1;
    }
    for (int64_t i = 0; i < n_cpc; i++) o[i] = orient ? t[i] : 1.0 / (1.0 + exp(-t[i]));
}

/* ---- nutpie's C callbacks (the signatures of nutpie.compile_pymc's numba cfuncs) ---- */

/* 0: success; 3: a non-finite gradient; 4: a non-finite log density (both recoverable:
   nutpie records a divergence); -1: wrong dimension; -2: out of memory. */
int64_t bgmm_nutpie_logp(uint64_t dim, const double *x, double *out, double *logp,
                         void *user_data) {
    const double *buf = (const double *)user_data;
    const int64_t K = (int64_t)buf[2], D = (int64_t)buf[1];
    const int64_t n_dim = (buf[11] != 0.0) + (K - 1) + K * D + (int64_t)buf[5] + (int64_t)buf[6];
    if ((int64_t)dim != n_dim) return -1;
    const double value = bgmm_logp_grad(x, buf, out, NULL);
    *logp = value;
    if (isnan(value)) return -2;
    if (!isfinite(value)) return 4;
    for (int64_t i = 0; i < n_dim; i++)
        if (!isfinite(out[i])) return 3;
    return 0;
}

int64_t bgmm_nutpie_expand(uint64_t dim, uint64_t n_expanded, const double *x, double *out,
                           void *user_data) {
    const double *buf = (const double *)user_data;
    const int64_t K = (int64_t)buf[2], D = (int64_t)buf[1];
    const int64_t n_std = (int64_t)buf[5], n_cpc = (int64_t)buf[6];
    const int64_t n_alpha = buf[11] != 0.0;
    if ((int64_t)dim != n_alpha + (K - 1) + K * D + n_std + n_cpc) return -1;
    const int64_t n_rows = n_shape_rows((int64_t)buf[3], K, D); /* one more value each */
    if ((int64_t)n_expanded != n_alpha + K + K * D + n_std + n_rows + n_cpc) return -1;
    bgmm_expand(x, buf, out);
    return 0;
}

/* An importable (empty) module, so that setuptools builds and installs the library like
   any extension; bayesgmm.kernel loads the functions above from it with ctypes. */
static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT, "_kernel", NULL, -1, NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__kernel(void) { return PyModule_Create(&kernel_module); }
