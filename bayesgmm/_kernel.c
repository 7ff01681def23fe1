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
 * Unconstrained vector (PyMC's model.value_vars order):
 *   weights_simplex__ (K-1), means (K*D), stds_log__ (n_std),
 *   partial_corr_unit_logodds__ (n_cpc: K*P full, P tied, 0 otherwise; P = D(D-1)/2).
 *
 * Data buffer (float64, built by bayesgmm.kernel.kernel_buffer):
 *   header [N, D, K, cov_code, std_family, n_std, n_cpc, alpha, buffer length],
 *   then mean_loc (D), mean_scale (D), std_p1 (n_std), std_p2 (n_std),
 *   cpc_beta (n_cpc), X feature-major (D*N: feature 0 of every point, then feature 1...).
 * cov_code: 0 full, 1 tied, 2 diag, 3 spherical.
 * std_family: 0 lognormal(p1=mu, p2=sigma), 1 gamma(alpha, beta),
 *   2 inverse gamma(alpha, beta), 3 half-normal(p1=sigma).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#ifndef M_PI /* not in strict C99 / MSVC's math.h */
#define M_PI 3.14159265358979323846
#endif

#define HEADER 9
#define BLOCK 256 /* points per block: a block's arrays stay in the L1/L2 cache */
#define LOG_2PI 1.8378770664093453

/* Index of the free standard deviation for component k, feature d. */
static inline int64_t std_index(int64_t cov_code, int64_t k, int64_t d, int64_t D) {
    if (cov_code == 3) return k;
    if (cov_code == 1) return d;
    return k * D + d;
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
    const double alpha = buf[7];
    const double *mean_loc = buf + HEADER, *mean_scale = mean_loc + D;
    const double *std_p1 = mean_scale + D, *std_p2 = std_p1 + n_std;
    const double *cpc_beta = std_p2 + n_std, *X = cpc_beta + n_cpc;
    const int64_t off_means = K - 1, off_std = off_means + K * D, off_cpc = off_std + n_std;
    const int64_t n_dim = off_cpc + n_cpc;
    const int64_t n_pairs = D * (D - 1) / 2, n_chol = cov_code == 0 ? K : 1;
    const int64_t DD = D * D;

    /* scratch: one allocation, carved up; the block arrays hold BLOCK points each */
    const int64_t n_scratch = 4 * K + 3 * K * D + 3 * n_chol * DD + n_chol * D + 2 * n_std +
                              2 * n_cpc + n_dim + (2 * K * D + K + D + 3) * BLOCK;
    double *scratch = (double *)calloc((size_t)n_scratch, sizeof(double));
    if (scratch == NULL) return NAN;
    double *log_w = scratch, *weights = log_w + K, *log_det = weights + K;
    double *resp_sum = log_det + K;
    double *inv_std = resp_sum + K, *g_means = inv_std + K * D, *g_stds = g_means + K * D;
    double *chol = g_stds + K * D, *rem = chol + n_chol * DD, *g_chol = rem + n_chol * DD;
    double *inv_diag = g_chol + n_chol * DD; /* 1 / L[i, i]: multiply, not divide, per point */
    double *stds_free = inv_diag + n_chol * D, *g_free = stds_free + n_std;
    double *unit = g_free + n_std, *g_cpc = unit + n_cpc, *g_unused = g_cpc + n_cpc;
    const int want_grad = grad != NULL;
    if (!want_grad) grad = g_unused; /* the cheap prior gradients land here, unread */
    /* per block, component-major: c = (x - mu) / s, z = L^-1 c, log pi_k N(x | k) then its
       exp, v = L^-T z, the responsibility, and the per-point max and total over k */
    double *c_blk = g_unused + n_dim, *z_blk = c_blk + K * D * BLOCK, *a_blk = z_blk + K * D * BLOCK;
    double *v_blk = a_blk + K * BLOCK, *r_blk = v_blk + D * BLOCK;
    double *amax_blk = r_blk + BLOCK, *total_blk = amax_blk + BLOCK;
    double logp = -INFINITY;

    for (int64_t i = 0; i < n_dim; i++) grad[i] = 0.0;

    /* weights: w = softmax(zeta) */
    const double log_norm = simplex_zeta(theta, K, log_w);
    double sum_log_w = 0.0;
    for (int64_t k = 0; k < K; k++) {
        log_w[k] -= log_norm;
        weights[k] = exp(log_w[k]);
        sum_log_w += log_w[k];
        if (!(weights[k] > 0.0)) goto done;
    }
    for (int64_t i = 0; i < n_std; i++) {
        stds_free[i] = exp(theta[off_std + i]);
        if (!(stds_free[i] > 0.0 && stds_free[i] < INFINITY)) goto done;
    }
    for (int64_t i = 0; i < n_cpc; i++) {
        unit[i] = 1.0 / (1.0 + exp(-theta[off_cpc + i]));
        if (!(unit[i] > 0.0 && unit[i] < 1.0)) goto done;
    }

    /* correlation Cholesky factors from the C-vine CPCs (row-major lower pairs); rem holds
       the squared norm left in each row before each entry, for the reverse pass */
    for (int64_t m = 0; m < n_chol; m++) {
        double *L = chol + m * DD, *R = rem + m * DD;
        int64_t p = m * n_pairs;
        L[0] = 1.0;
        for (int64_t i = 1; i < D; i++) {
            double r = 1.0;
            for (int64_t j = 0; j < i; j++) {
                R[i * D + j] = r;
                const double value = n_cpc > 0 ? (2.0 * unit[p] - 1.0) * sqrt(r) : 0.0;
                L[i * D + j] = value;
                r -= value * value;
                p++;
            }
            R[i * D + i] = r;
            L[i * D + i] = sqrt(r);
        }
        for (int64_t i = 0; i < D; i++) inv_diag[m * D + i] = 1.0 / L[i * D + i];
    }
    for (int64_t k = 0; k < K; k++) {
        const double *L = chol + (cov_code == 0 ? k : 0) * DD;
        for (int64_t d = 0; d < D; d++) {
            const double s = stds_free[std_index(cov_code, k, d, D)];
            inv_std[k * D + d] = 1.0 / s;
            log_det[k] += log(s) + log(L[d * D + d]);
        }
    }

    /* ---- likelihood and its reverse pass ----
       Points are taken BLOCK at a time, and every loop over the points of a block is the
       innermost loop, over contiguous arrays (X is stored feature-major), so the compiler
       vectorises it; the small loops over components and features stay outside. */
    const double cnst = 0.5 * (double)D * LOG_2PI;
    const int has_corr = n_cpc > 0;
    double loglik = 0.0;
    for (int64_t n0 = 0; n0 < N; n0 += BLOCK) {
        const int64_t B = N - n0 < BLOCK ? N - n0 : BLOCK;
        for (int64_t b = 0; b < B; b++) amax_blk[b] = -INFINITY;
        for (int64_t k = 0; k < K; k++) {
            const int64_t m = cov_code == 0 ? k : 0;
            const double *L = chol + m * DD, *inv_L = inv_diag + m * D;
            const double *mu = theta + off_means + k * D;
            double *a = a_blk + k * BLOCK;
            const double a0 = log_w[k] - log_det[k] - cnst;
            for (int64_t b = 0; b < B; b++) a[b] = a0;
            for (int64_t i = 0; i < D; i++) {
                const double *x = X + i * N + n0;
                double *ci = c_blk + (k * D + i) * BLOCK, *zi = z_blk + (k * D + i) * BLOCK;
                const double mu_i = mu[i], inv_s = inv_std[k * D + i], inv_l = inv_L[i];
                for (int64_t b = 0; b < B; b++) zi[b] = ci[b] = (x[b] - mu_i) * inv_s;
                if (has_corr) {
                    for (int64_t j = 0; j < i; j++) {
                        const double l_ij = L[i * D + j];
                        const double *zj = z_blk + (k * D + j) * BLOCK;
                        for (int64_t b = 0; b < B; b++) zi[b] -= l_ij * zj[b];
                    }
                }
                for (int64_t b = 0; b < B; b++) {
                    zi[b] *= inv_l;
                    a[b] -= 0.5 * zi[b] * zi[b];
                }
            }
            for (int64_t b = 0; b < B; b++) amax_blk[b] = a[b] > amax_blk[b] ? a[b] : amax_blk[b];
        }
        for (int64_t b = 0; b < B; b++) total_blk[b] = 0.0;
        for (int64_t k = 0; k < K; k++) {
            double *a = a_blk + k * BLOCK;
            for (int64_t b = 0; b < B; b++) {
                a[b] = exp(a[b] - amax_blk[b]);
                total_blk[b] += a[b];
            }
        }
        for (int64_t b = 0; b < B; b++) {
            double lse = amax_blk[b] + log(total_blk[b]);
            /* Far in the tails (a std of 1e-250, a mean of 1e200) every component's term
               overflows: -inf - -inf or inf - inf gives NaN. The density there is below
               what a double holds, so the point's log-likelihood is -inf. */
            if (isnan(lse)) lse = -INFINITY;
            if (pointwise != NULL) pointwise[n0 + b] = lse;
            loglik += lse;
            total_blk[b] = 1.0 / total_blk[b];
        }
        for (int64_t k = 0; k < K && want_grad; k++) {
            const int64_t m = cov_code == 0 ? k : 0;
            const double *L = chol + m * DD, *inv_L = inv_diag + m * D;
            double *gL = g_chol + m * DD;
            const double *a = a_blk + k * BLOCK;
            double r_sum = 0.0;
#pragma omp simd reduction(+ : r_sum)
            for (int64_t b = 0; b < B; b++) {
                r_blk[b] = a[b] * total_blk[b];
                r_sum += r_blk[b];
            }
            resp_sum[k] += r_sum;
            /* v = L^-T z by back substitution, then scaled by the responsibility */
            for (int64_t i = D - 1; i >= 0; i--) {
                double *vi = v_blk + i * BLOCK;
                const double *zi = z_blk + (k * D + i) * BLOCK;
                for (int64_t b = 0; b < B; b++) vi[b] = zi[b];
                if (has_corr) {
                    for (int64_t j = i + 1; j < D; j++) {
                        const double l_ji = L[j * D + i];
                        const double *vj = v_blk + j * BLOCK;
                        for (int64_t b = 0; b < B; b++) vi[b] -= l_ji * vj[b];
                    }
                }
                const double inv_l = inv_L[i];
                for (int64_t b = 0; b < B; b++) vi[b] *= inv_l;
            }
            for (int64_t i = 0; i < D; i++) {
                const double *vi = v_blk + i * BLOCK, *ci = c_blk + (k * D + i) * BLOCK;
                double g_mean = 0.0, g_std = 0.0;
#pragma omp simd reduction(+ : g_mean, g_std)
                for (int64_t b = 0; b < B; b++) {
                    const double rv = r_blk[b] * vi[b];
                    g_mean += rv;
                    g_std += rv * ci[b];
                }
                g_means[k * D + i] += g_mean * inv_std[k * D + i];
                g_stds[k * D + i] += g_std; /* s * d loglik / d s */
                for (int64_t j = 0; j <= i; j++) {
                    if (j < i && !has_corr) continue;
                    const double *zj = z_blk + (k * D + j) * BLOCK;
                    double g_l = 0.0;
#pragma omp simd reduction(+ : g_l)
                    for (int64_t b = 0; b < B; b++) g_l += r_blk[b] * vi[b] * zj[b];
                    gL[i * D + j] += g_l;
                }
            }
        }
    }
    /* log-determinant terms, once per component with the summed responsibilities */
    double total_resp = 0.0;
    for (int64_t k = 0; k < K; k++) {
        total_resp += resp_sum[k];
        const double *L = chol + (cov_code == 0 ? k : 0) * DD;
        double *gL = g_chol + (cov_code == 0 ? k : 0) * DD;
        for (int64_t d = 0; d < D; d++) {
            g_stds[k * D + d] -= resp_sum[k];
            gL[d * D + d] -= resp_sum[k] / L[d * D + d];
        }
    }
    logp = loglik;

    /* ---- weights: Dirichlet prior + simplex Jacobian (log K + sum log w) ---- */
    logp += lgamma(K * alpha) - K * lgamma(alpha) + (alpha - 1.0) * sum_log_w;
    logp += log((double)K) + sum_log_w;
    /* d/d log w_k of (likelihood + prior + Jacobian) = R_k + alpha; through the softmax: */
    const double total_mass = total_resp + K * alpha;
    const double g_last = resp_sum[K - 1] + alpha - weights[K - 1] * total_mass;
    for (int64_t k = 0; k < K - 1; k++)
        grad[k] = resp_sum[k] + alpha - weights[k] * total_mass - g_last;

    /* ---- means: Normal prior ---- */
    for (int64_t k = 0; k < K; k++) {
        for (int64_t d = 0; d < D; d++) {
            const double dev = (theta[off_means + k * D + d] - mean_loc[d]) / mean_scale[d];
            logp += -0.5 * dev * dev - log(mean_scale[d]) - 0.5 * LOG_2PI;
            grad[off_means + k * D + d] = g_means[k * D + d] - dev / mean_scale[d];
        }
    }

    /* ---- standard deviations: prior on s, log transform (Jacobian s) ---- */
    for (int64_t k = 0; k < K; k++)
        for (int64_t d = 0; d < D; d++) g_free[std_index(cov_code, k, d, D)] += g_stds[k * D + d];
    for (int64_t i = 0; i < n_std; i++) {
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
    if (n_cpc > 0) {
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
 * Constrained values from theta, flat: weights (K), means (K*D), stds (n_std),
 * partial_corr_unit (n_cpc).
 */
void bgmm_expand(const double *theta, const double *buf, double *out) {
    const int64_t D = (int64_t)buf[1], K = (int64_t)buf[2];
    const int64_t n_std = (int64_t)buf[5], n_cpc = (int64_t)buf[6];
    const double log_norm = simplex_zeta(theta, K, out);
    for (int64_t k = 0; k < K; k++) out[k] = exp(out[k] - log_norm);
    double *o = out + K;
    const double *t = theta + K - 1;
    for (int64_t i = 0; i < K * D; i++) o[i] = t[i];
    o += K * D;
    t += K * D;
    for (int64_t i = 0; i < n_std; i++) o[i] = exp(t[i]);
    o += n_std;
    t += n_std;
    for (int64_t i = 0; i < n_cpc; i++) o[i] = 1.0 / (1.0 + exp(-t[i]));
}

/* ---- nutpie's C callbacks (the signatures of nutpie.compile_pymc's numba cfuncs) ---- */

/* 0: success; 3: a non-finite gradient; 4: a non-finite log density (both recoverable:
   nutpie records a divergence); -1: wrong dimension; -2: out of memory. */
int64_t bgmm_nutpie_logp(uint64_t dim, const double *x, double *out, double *logp,
                         void *user_data) {
    const double *buf = (const double *)user_data;
    const int64_t K = (int64_t)buf[2], D = (int64_t)buf[1];
    const int64_t n_dim = (K - 1) + K * D + (int64_t)buf[5] + (int64_t)buf[6];
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
    if ((int64_t)dim != (K - 1) + K * D + n_std + n_cpc) return -1;
    if ((int64_t)n_expanded != K + K * D + n_std + n_cpc) return -1;
    bgmm_expand(x, buf, out);
    return 0;
}

/* An importable (empty) module, so that setuptools builds and installs the library like
   any extension; bayesgmm.kernel loads the functions above from it with ctypes. */
static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT, "_kernel", NULL, -1, NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__kernel(void) { return PyModule_Create(&kernel_module); }
