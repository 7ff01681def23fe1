/*
 * Vectorisable exp and log, and the runtime dispatch of the hot loops, shared by the
 * compiled kernel (bayes/_kernel.c) and EM's compiled normalisation (core/_estep.c).
 */
#ifndef BAYESGMM_VECMATH_H
#define BAYESGMM_VECMATH_H

#include <stdint.h>
#include <string.h>

/* Runtime dispatch for the per-block loops: GCC compiles each function marked DISPATCH
   twice, for x86-64-v3 (AVX2 + FMA: 4 doubles per instruction, fused multiply-adds) and
   for the baseline x86-64 (SSE2), and the dynamic loader picks the clone the CPU runs
   (an ifunc, so glibc on Linux only). The package stays portable (no -march=native) and
   still runs at AVX2 speed where AVX2 is there: measured 2-3x on the block loops.
   Elsewhere (other compilers, musl, macOS, ARM) the plain build runs. The clones round
   differently only where FMA contracts a multiply-add: a few ulps, as any reordering. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) && \
    __GNUC__ >= 11
#define DISPATCH __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define DISPATCH
#endif

/* exp(x) for x <= 0 (also -inf and NaN), written out so that a loop over points
   vectorises: glibc's exp is a scalar call (~10 ns, as long as the whole triangular solve
   at D=5), and its vector variants need -ffast-math. Cody-Waite reduction x = k ln2 + r,
   |r| <= ln2/2, then the Taylor series of exp(r) to r^13 (truncation below 1e-17), scaled
   by 2^k built in the exponent bits: within a few ulps of exp. Below -708 (where exp
   leaves the normal range) it returns 0: such a term is below 1e-307 of the largest one,
   which is exp(0) = 1. NaN stays NaN. */
static inline double exp_nonpositive(double x) {
    const double shifter = 0x1.8p52, log2e = 0x1.71547652b82fep0;
    const double ln2_hi = 0x1.62e42fefa39efp-1, ln2_lo = 0x1.abc9e3b39803fp-56;
    const double xc = x < -708.0 ? -708.0 : x;
    double kd = xc * log2e + shifter; /* round to the nearest integer k */
    int64_t bits, shift_bits;
    memcpy(&bits, &kd, sizeof bits);
    memcpy(&shift_bits, &shifter, sizeof shift_bits);
    kd -= shifter;
    const double r = (xc - kd * ln2_hi) - kd * ln2_lo;
    double p = 1.0 / 6227020800.0; /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    const int64_t scale_bits = (bits - shift_bits + 1023) << 52;
    double scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    return x < -708.0 ? 0.0 : p * scale;
}

/* log(x) for the per-point totals, x in [1, K] or NaN (NaN stays NaN), written out to
   vectorise as exp_nonpositive is: x = 2^e m with m in [sqrt(1/2), sqrt(2)), then
   log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, by its series to s^19
   (truncation below 3e-17 relative). Within a few ulps of log for any positive normal x. */
static inline double log_positive(double x) {
    const int64_t mantissa = 0x000fffffffffffffLL, one = 0x3ff0000000000000LL;
    const int64_t two52 = 0x4330000000000000LL; /* 2^52 as a double's bits */
    const double ln2_hi = 0x1.62e42fefa39efp-1, ln2_lo = 0x1.abc9e3b39803fp-56;
    int64_t bits;
    memcpy(&bits, &x, sizeof bits);
    const int64_t m_bits = (bits & mantissa) | one, e_bits = (bits >> 52) | two52;
    double m, e;
    memcpy(&m, &m_bits, sizeof m); /* in [1, 2) */
    memcpy(&e, &e_bits, sizeof e); /* 2^52 + biased exponent, exactly */
    e -= 0x1p52 + 1023.0;
    const int big = m > 0x1.6a09e667f3bcdp0; /* sqrt(2) */
    m = big ? 0.5 * m : m;
    e = big ? e + 1.0 : e;
    const double sv = (m - 1.0) / (m + 1.0), s2 = sv * sv;
    double p = 1.0 / 19.0;
    p = p * s2 + 1.0 / 17.0;
    p = p * s2 + 1.0 / 15.0;
    p = p * s2 + 1.0 / 13.0;
    p = p * s2 + 1.0 / 11.0;
    p = p * s2 + 1.0 / 9.0;
    p = p * s2 + 1.0 / 7.0;
    p = p * s2 + 1.0 / 5.0;
    p = p * s2 + 1.0 / 3.0;
    const double log_m = 2.0 * sv + 2.0 * sv * s2 * p;
    const double result = e * ln2_hi + (log_m + e * ln2_lo);
    return x == x ? result : x;
}

#endif /* BAYESGMM_VECMATH_H */
