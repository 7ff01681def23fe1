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
 *   cpc_beta (n_cpc), X row-major (N*D).
 * cov_code: 0 full, 1 tied, 2 diag, 3 spherical.
 * std_family: 0 lognormal(p1=mu, p2=sigma), 1 gamma(alpha, beta),
 *   2 inverse gamma(alpha, beta), 3 half-normal(p1=sigma).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define HEADER 9
#define LOG_2PI 1.8378770664093453

/* Index of the free standard deviation for component k, feature d. */
static inline int64_t std_index(int64_t cov_code, int64_t k, int64_t d, int64_t D) {
    if (cov_code == 3) return k;
    if (cov_code == 1) return d;
    return k * D + d;
}

/*
 * Log density at theta (returned), its gradient in grad, and each point's marginal
 * log-likelihood in pointwise (skipped when NULL). Returns -inf where a transform rounds
 * to its boundary far in the tails (u = 0 or 1, s = 0 or inf, a weight of 0): the
 * density is undefined there and the sampler should treat the step as divergent.
 * Returns NaN if scratch memory cannot be allocated.
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

    /* scratch: one allocation, carved up */
    const int64_t n_scratch = 5 * K + 5 * K * D + 3 * n_chol * DD + 2 * n_std + 2 * n_cpc + D;
    double *scratch = (double *)calloc((size_t)n_scratch, sizeof(double));
    if (scratch == NULL) return NAN;
    double *log_w = scratch, *weights = log_w + K, *log_det = weights + K;
    double *resp_sum = log_det + K, *a = resp_sum + K;
    double *inv_std = a + K, *g_means = inv_std + K * D, *g_stds = g_means + K * D;
    double *c = g_stds + K * D, *z = c + K * D;
    double *chol = z + K * D, *rem = chol + n_chol * DD, *g_chol = rem + n_chol * DD;
    double *stds_free = g_chol + n_chol * DD, *g_free = stds_free + n_std;
    double *unit = g_free + n_std, *g_cpc = unit + n_cpc, *v = g_cpc + n_cpc;
    double logp = -INFINITY;

    for (int64_t i = 0; i < n_dim; i++) grad[i] = 0.0;

    /* weights: PyMC's simplex transform, zeta = [theta, -sum(theta)], w = softmax(zeta) */
    double last = 0.0;
    for (int64_t k = 0; k < K - 1; k++) last -= theta[k];
    double zmax = last;
    for (int64_t k = 0; k < K - 1; k++)
        if (theta[k] > zmax) zmax = theta[k];
    double norm = 0.0;
    for (int64_t k = 0; k < K; k++) norm += exp((k < K - 1 ? theta[k] : last) - zmax);
    const double log_norm = zmax + log(norm);
    double sum_log_w = 0.0;
    for (int64_t k = 0; k < K; k++) {
        log_w[k] = (k < K - 1 ? theta[k] : last) - log_norm;
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
    }
    for (int64_t k = 0; k < K; k++) {
        const double *L = chol + (cov_code == 0 ? k : 0) * DD;
        for (int64_t d = 0; d < D; d++) {
            const double s = stds_free[std_index(cov_code, k, d, D)];
            inv_std[k * D + d] = 1.0 / s;
            log_det[k] += log(s) + log(L[d * D + d]);
        }
    }

    /* ---- likelihood and its reverse pass ---- */
    const double cnst = 0.5 * (double)D * LOG_2PI;
    double loglik = 0.0;
    for (int64_t n = 0; n < N; n++) {
        const double *x = X + n * D;
        double amax = -INFINITY;
        for (int64_t k = 0; k < K; k++) {
            const double *L = chol + (cov_code == 0 ? k : 0) * DD;
            const double *mu = theta + off_means + k * D;
            double *ck = c + k * D, *zk = z + k * D;
            double quad = 0.0;
            for (int64_t i = 0; i < D; i++) {
                double ci = (x[i] - mu[i]) * inv_std[k * D + i];
                ck[i] = ci;
                for (int64_t j = 0; j < i; j++) ci -= L[i * D + j] * zk[j];
                zk[i] = ci / L[i * D + i];
                quad += zk[i] * zk[i];
            }
            a[k] = log_w[k] - log_det[k] - 0.5 * quad - cnst;
            if (a[k] > amax) amax = a[k];
        }
        double total = 0.0;
        for (int64_t k = 0; k < K; k++) {
            a[k] = exp(a[k] - amax);
            total += a[k];
        }
        const double lse = amax + log(total);
        if (pointwise != NULL) pointwise[n] = lse;
        loglik += lse;
        for (int64_t k = 0; k < K; k++) {
            const double r = a[k] / total;
            if (r < 1e-300) continue;
            resp_sum[k] += r;
            const double *L = chol + (cov_code == 0 ? k : 0) * DD;
            double *gL = g_chol + (cov_code == 0 ? k : 0) * DD;
            const double *ck = c + k * D, *zk = z + k * D;
            /* v = L^-T z by back substitution */
            for (int64_t i = D - 1; i >= 0; i--) {
                double acc = zk[i];
                for (int64_t j = i + 1; j < D; j++) acc -= L[j * D + i] * v[j];
                v[i] = acc / L[i * D + i];
            }
            for (int64_t i = 0; i < D; i++) {
                const double rv = r * v[i];
                g_means[k * D + i] += rv * inv_std[k * D + i];
                g_stds[k * D + i] += rv * ck[i]; /* s * d loglik / d s */
                for (int64_t j = 0; j <= i; j++) gL[i * D + j] += rv * zk[j];
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
    return logp;
}

/*
 * Constrained values from theta, flat: weights (K), means (K*D), stds (n_std),
 * partial_corr_unit (n_cpc).
 */
void bgmm_expand(const double *theta, const double *buf, double *out) {
    const int64_t D = (int64_t)buf[1], K = (int64_t)buf[2];
    const int64_t n_std = (int64_t)buf[5], n_cpc = (int64_t)buf[6];
    double last = 0.0;
    for (int64_t k = 0; k < K - 1; k++) last -= theta[k];
    double zmax = last;
    for (int64_t k = 0; k < K - 1; k++)
        if (theta[k] > zmax) zmax = theta[k];
    double norm = 0.0;
    for (int64_t k = 0; k < K; k++) {
        out[k] = exp((k < K - 1 ? theta[k] : last) - zmax);
        norm += out[k];
    }
    for (int64_t k = 0; k < K; k++) out[k] /= norm;
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
