/*
 * mclust's EEV (kernel code 10) and VEV (11) in the compiled kernel: Sigma_k = lambda_k
 * R_k diag(a) R_k^T with one shared sorted shape a (prod a = 1) and one orientation R_k
 * per component, for D = 2, 3, 4, in the "ring" parametrisation of
 * benchmarks/orientation_study.py. The contract (free vector, priors, Sigma, buffer,
 * expand) is docs/mclust.md's and bayesgmm.bayes.model's; tests/test_kernel_orient.py
 * checks value and gradient against an independent numpy reference.
 *
 * Free values: the volumes' log sqrt(lambda) (1 EEV, K VEV) and the D - 1 log gaps of
 * the shape (the sd block, n_std = n_vol + D - 1), then per component m raw values x
 * (m = 2 for D = 2, 4 for D = 3, 4), and for D = 4 K more blocks of 4 (the right
 * quaternions) after all the left ones (the CPC block, n_cpc). u = x / |x|, each x with
 * the ring prior -(|x| - 1)^2 / (2 RING_SD^2).
 *   gaps g = exp(t), tops = [0, -g_1, -(g_1 + g_2), ...], z = tops - mean(tops),
 *   a = exp(z), prior: ZeroSumNormal(sigma) on z plus log(D!) (the sorted cone).
 *   D = 2: u = (c, s), Sigma = lambda (a_2 I + (a_1 - a_2) (I + [[c, s], [s, -c]]) / 2);
 *   D = 3: R = the rotation of the unit quaternion u;
 *   D = 4: R = Lmat(p) Rmat(q), quaternion products on the left by p, on the right by q.
 *
 * The likelihood machinery runs on unit scales (sd = 1) with the covariance's own
 * Cholesky factor M_k in place of the correlation factor, so that the blocks, the tiles
 * and the missing-value patterns need nothing new; their reverse pass leaves dlogp/dM_k
 * in g_chol, which orient_reverse carries through Sigma_k = M_k M_k^T (Murray 2016,
 * cholesky_reverse) to lambda, a and the orientation.
 *
 * Included by _kernel.c after _kernel_missing.h (padded_cholesky, cholesky_reverse).
 */
#ifndef BAYESGMM_KERNEL_ORIENT_H
#define BAYESGMM_KERNEL_ORIENT_H

#define RING_SD 0.25
#define ORIENT_MAX_D 4

/* Values per orientation vector: a doubled angle's (c, s) for D = 2, a quaternion else. */
static inline int64_t orient_width(int64_t D) { return D == 2 ? 2 : 4; }

/* Volumes: one shared (EEV) or one per component (VEV). */
static inline int64_t orient_volumes(int64_t cov_code, int64_t K) {
    return cov_code == 11 ? K : 1;
}

/* Entry (i, j) of the quaternion product matrices: Lmat(p) x = p x, Rmat(q) x = x q;
   entry = sign * value[QUAT_INDEX[i][j]]. */
static const int QUAT_INDEX[4][4] = {{0, 1, 2, 3}, {1, 0, 3, 2}, {2, 3, 0, 1}, {3, 2, 1, 0}};
static const double QUAT_LEFT[4][4] = {
    {1, -1, -1, -1}, {1, 1, -1, 1}, {1, 1, 1, -1}, {1, -1, 1, 1}};
static const double QUAT_RIGHT[4][4] = {
    {1, -1, -1, -1}, {1, 1, 1, -1}, {1, -1, 1, 1}, {1, 1, -1, 1}};

static void quat_matrix(const double *v, const double sign[4][4], double *out) {
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) out[i * 4 + j] = sign[i][j] * v[QUAT_INDEX[i][j]];
}

/* The reverse of quat_matrix: g_v[l] += sum over the entries holding v[l] of sign * g. */
static void quat_matrix_reverse(const double *g, const double sign[4][4], double *g_v) {
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) g_v[QUAT_INDEX[i][j]] += sign[i][j] * g[i * 4 + j];
}

/* Unit vector u = x / |x| of m values; returns |x| (0 or not finite: no direction). */
static double ring_unit(const double *x, int64_t m, double *u) {
    double r2 = 0.0;
    for (int64_t i = 0; i < m; i++) r2 += x[i] * x[i];
    const double r = sqrt(r2);
    for (int64_t i = 0; i < m; i++) u[i] = x[i] / r;
    return r;
}

/* The rotation (D = 3, 4; row-major D x D) of component k's unit vectors p (and q). */
static void orient_rotation(int64_t D, const double *p, const double *q, double *R) {
    if (D == 3) {
        const double w = p[0], x = p[1], y = p[2], z = p[3];
        R[0] = 1.0 - 2.0 * (y * y + z * z);
        R[1] = 2.0 * (x * y - w * z);
        R[2] = 2.0 * (x * z + w * y);
        R[3] = 2.0 * (x * y + w * z);
        R[4] = 1.0 - 2.0 * (x * x + z * z);
        R[5] = 2.0 * (y * z - w * x);
        R[6] = 2.0 * (x * z - w * y);
        R[7] = 2.0 * (y * z + w * x);
        R[8] = 1.0 - 2.0 * (x * x + y * y);
        return;
    }
    double Lp[16], Rq[16];
    quat_matrix(p, QUAT_LEFT, Lp);
    quat_matrix(q, QUAT_RIGHT, Rq);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            double acc = 0.0;
            for (int t = 0; t < 4; t++) acc += Lp[i * 4 + t] * Rq[t * 4 + j];
            R[i * 4 + j] = acc;
        }
}

/* The reverse of orient_rotation: from gR = dlogp/dR to g_p (and g_q), added. */
static void orient_rotation_reverse(int64_t D, const double *p, const double *q,
                                    const double *gR, double *g_p, double *g_q) {
    if (D == 3) {
        const double w = p[0], x = p[1], y = p[2], z = p[3];
        const double *g = gR;
        g_p[0] += 2.0 * (-z * g[1] + y * g[2] + z * g[3] - x * g[5] - y * g[6] + x * g[7]);
        g_p[1] += 2.0 * (y * g[1] + z * g[2] + y * g[3] - 2.0 * x * g[4] - w * g[5] +
                         z * g[6] + w * g[7] - 2.0 * x * g[8]);
        g_p[2] += 2.0 * (-2.0 * y * g[0] + x * g[1] + w * g[2] + x * g[3] + z * g[5] -
                         w * g[6] + z * g[7] - 2.0 * y * g[8]);
        g_p[3] += 2.0 * (-2.0 * z * g[0] - w * g[1] + x * g[2] + w * g[3] - 2.0 * z * g[4] +
                         y * g[5] + x * g[6] + y * g[7]);
        return;
    }
    double Lp[16], Rq[16], gL[16], gRq[16];
    quat_matrix(p, QUAT_LEFT, Lp);
    quat_matrix(q, QUAT_RIGHT, Rq);
    for (int i = 0; i < 4; i++) /* R = Lp Rq: gLp = gR Rq^T, gRq = Lp^T gR */
        for (int j = 0; j < 4; j++) {
            double acc_l = 0.0, acc_r = 0.0;
            for (int t = 0; t < 4; t++) {
                acc_l += gR[i * 4 + t] * Rq[j * 4 + t];
                acc_r += Lp[t * 4 + i] * gR[t * 4 + j];
            }
            gL[i * 4 + j] = acc_l;
            gRq[i * 4 + j] = acc_r;
        }
    quat_matrix_reverse(gL, QUAT_LEFT, g_p);
    quat_matrix_reverse(gRq, QUAT_RIGHT, g_q);
}

/* The shared shape: a = exp(z), z the sorted zero-sum log shape from the log gaps t. */
static void orient_shape(const double *t, int64_t D, double *z, double *a) {
    double top = 0.0, mean = 0.0;
    z[0] = 0.0;
    for (int64_t j = 1; j < D; j++) {
        top -= exp(t[j - 1]);
        z[j] = top;
        mean += top;
    }
    mean /= (double)D;
    for (int64_t j = 0; j < D; j++) {
        z[j] -= mean;
        a[j] = exp(z[j]);
    }
}

/* Component k's unit vectors from theta's orientation block (u_p, and u_q for D = 4);
   0 where an x has no direction. */
static int orient_units(const double *x_cpc, int64_t K, int64_t D, int64_t k, double *u_p,
                        double *u_q, double *r_p, double *r_q) {
    const int64_t m = orient_width(D);
    *r_p = ring_unit(x_cpc + k * m, m, u_p);
    if (!(*r_p > 0.0 && *r_p < INFINITY)) return 0;
    if (D == 4) {
        *r_q = ring_unit(x_cpc + K * 4 + k * 4, 4, u_q);
        if (!(*r_q > 0.0 && *r_q < INFINITY)) return 0;
    }
    return 1;
}

/* Sigma = lambda R diag(a) R^T (D = 2: through the doubled angle), symmetric, D x D. */
static void orient_covariance(int64_t D, double lambda, const double *a, const double *u_p,
                              const double *u_q, double *Sigma) {
    if (D == 2) {
        const double c = u_p[0], s = u_p[1], h = 0.5 * (a[0] - a[1]);
        Sigma[0] = lambda * (a[1] + h * (1.0 + c));
        Sigma[1] = Sigma[2] = lambda * h * s;
        Sigma[3] = lambda * (a[1] + h * (1.0 - c));
        return;
    }
    double R[16];
    orient_rotation(D, u_p, u_q, R);
    for (int64_t i = 0; i < D; i++)
        for (int64_t j = 0; j <= i; j++) {
            double acc = 0.0;
            for (int64_t t = 0; t < D; t++) acc += R[i * D + t] * a[t] * R[j * D + t];
            Sigma[i * D + j] = Sigma[j * D + i] = lambda * acc;
        }
}

/*
 * Forward: every component's Cholesky factor M_k of Sigma_k into chol (K x D x D, lower),
 * 1 / M_k,ii into inv_diag and unit scales into sd (K*D). scale: the free volumes s
 * (lambda = s^2). Returns 0 where an x has no direction or Sigma_k has no Cholesky factor,
 * and for D outside 2..4 (which bindings refuses first: nothing here reads past R's 4 x 4).
 */
static int orient_forward(int64_t cov_code, int64_t K, int64_t D, const double *scale,
                          const double *t_gaps, const double *x_cpc, double *chol,
                          double *inv_diag, double *sd) {
    double z[ORIENT_MAX_D], a[ORIENT_MAX_D], Sigma[16];
    const double ones[ORIENT_MAX_D] = {1.0, 1.0, 1.0, 1.0};
    const int64_t DD = D * D, per_volume = orient_volumes(cov_code, K) > 1;
    if (D < 2 || D > ORIENT_MAX_D) return 0;
    orient_shape(t_gaps, D, z, a);
    for (int64_t k = 0; k < K; k++) {
        double u_p[4], u_q[4], r_p, r_q;
        if (!orient_units(x_cpc, K, D, k, u_p, u_q, &r_p, &r_q)) return 0;
        const double s = scale[per_volume ? k : 0];
        orient_covariance(D, s * s, a, u_p, u_q, Sigma);
        double *M = chol + k * DD;
        if (!padded_cholesky(Sigma, ones, D, M)) return 0;
        for (int64_t d = 0; d < D; d++) {
            inv_diag[k * D + d] = 1.0 / M[d * D + d];
            sd[k * D + d] = 1.0;
        }
    }
    return 1;
}

/* One component's reverse pass from G = dlogp/dSigma (symmetric): d/d log s into *g_log_s,
   d/da into g_a (D), d/du into g_p (and g_q). */
static void orient_component_reverse(int64_t D, double lambda, const double *a,
                                     const double *u_p, const double *u_q, const double *G,
                                     double *g_log_s, double *g_a, double *g_p, double *g_q) {
    if (D == 2) {
        const double c = u_p[0], s = u_p[1], h = 0.5 * (a[0] - a[1]);
        const double g_diag = G[0] + G[3], g_diff = G[0] - G[3], g_off = G[1] + G[2];
        /* Sigma / lambda = a_1 P + a_2 (I - P), P = (I + [[c, s], [s, -c]]) / 2 */
        const double g_proj = 0.5 * (g_diag + c * g_diff + s * g_off); /* <G, P> */
        g_a[0] += lambda * g_proj;
        g_a[1] += lambda * (g_diag - g_proj);
        *g_log_s += 2.0 * lambda * (a[1] * g_diag + 2.0 * h * g_proj);
        g_p[0] += lambda * h * g_diff;
        g_p[1] += lambda * h * g_off;
        return;
    }
    double R[16], gR[16];
    orient_rotation(D, u_p, u_q, R);
    double total = 0.0;
    for (int64_t i = 0; i < D; i++) /* W = G R; <G, Sigma> = lambda sum_ij R_ij a_j W_ij */
        for (int64_t j = 0; j < D; j++) {
            double w = 0.0;
            for (int64_t t = 0; t < D; t++) w += G[i * D + t] * R[t * D + j];
            const double rw = R[i * D + j] * w;
            g_a[j] += lambda * rw;
            total += a[j] * rw;
            gR[i * D + j] = 2.0 * lambda * w * a[j];
        }
    *g_log_s += 2.0 * lambda * total;
    orient_rotation_reverse(D, u_p, u_q, gR, g_p, g_q);
}

/* The ring prior of one x (returned) and d/dx of (it + the direction's gradient g_u). */
static double ring_reverse(const double *u, double r, const double *g_u, int64_t m,
                           double *g_x) {
    const double inv_var = 1.0 / (RING_SD * RING_SD);
    double radial = 0.0;
    for (int64_t i = 0; i < m; i++) radial += u[i] * g_u[i];
    for (int64_t i = 0; i < m; i++)
        g_x[i] = (g_u[i] - u[i] * radial) / r - (r - 1.0) * inv_var * u[i];
    return -0.5 * (r - 1.0) * (r - 1.0) * inv_var;
}

/*
 * Reverse: from g_chol (dlogp/dM_k, lower, with the log-determinant terms) to g_vol
 * (d/d log s per volume, the likelihood's part: the volume prior is _kernel.c's), to
 * grad_gaps (D - 1, with the shape prior and the gaps' Jacobian) and grad_x (n_cpc, with
 * the ring priors). Returns the log density of the shape prior, the gaps' Jacobian and
 * the ring priors. With want_grad 0 only that value is computed.
 */
static double orient_reverse(int64_t cov_code, int64_t K, int64_t D, const double *scale,
                             const double *t_gaps, const double *x_cpc, double sigma,
                             const double *chol, const double *g_chol, int want_grad,
                             double *g_vol, double *grad_gaps, double *grad_x) {
    double z[ORIENT_MAX_D], a[ORIENT_MAX_D], g_a[ORIENT_MAX_D] = {0.0}, g_z[ORIENT_MAX_D];
    double G[16], work[32];
    const int64_t DD = D * D, m = orient_width(D), per_volume = orient_volumes(cov_code, K) > 1;
    orient_shape(t_gaps, D, z, a);
    double logp = lgamma((double)D + 1.0) - (double)(D - 1) * (0.5 * LOG_2PI + log(sigma));
    const double inv_var = 1.0 / (sigma * sigma);
    for (int64_t d = 0; d < D; d++) logp -= 0.5 * z[d] * z[d] * inv_var;
    for (int64_t j = 0; j < D - 1; j++) logp += t_gaps[j]; /* Jacobian of g = exp(t) */
    for (int64_t k = 0; k < K; k++) {
        double u_p[4], u_q[4], r_p = 1.0, r_q = 1.0, g_p[4] = {0.0}, g_q[4] = {0.0};
        orient_units(x_cpc, K, D, k, u_p, u_q, &r_p, &r_q); /* orient_forward checked them */
        if (want_grad) {
            const double s = scale[per_volume ? k : 0];
            cholesky_reverse(chol + k * DD, g_chol + k * DD, D, G, work);
            orient_component_reverse(D, s * s, a, u_p, u_q, G, g_vol + (per_volume ? k : 0),
                                     g_a, g_p, g_q);
        }
        logp += ring_reverse(u_p, r_p, g_p, m, grad_x + k * m);
        if (D == 4) logp += ring_reverse(u_q, r_q, g_q, 4, grad_x + K * 4 + k * 4);
    }
    /* a = exp(z), z = tops - mean(tops), tops_j = -(g_1 + ... + g_j), g = exp(t) */
    double mean = 0.0;
    for (int64_t d = 0; d < D; d++) {
        g_z[d] = a[d] * g_a[d] - z[d] * inv_var;
        mean += g_z[d];
    }
    mean /= (double)D;
    double tail = 0.0; /* d/dg_j = -sum_{i >= j} d/dtops_i */
    for (int64_t j = D - 1; j >= 1; j--) {
        tail += g_z[j] - mean;
        grad_gaps[j - 1] = -exp(t_gaps[j - 1]) * tail + 1.0;
    }
    return logp;
}

#endif /* BAYESGMM_KERNEL_ORIENT_H */
