/*
 * Missing values in the compiled kernel: the likelihood of each row's observed
 * coordinates, log sum_k pi_k N(x_o | mu_ko, Sigma_koo), and its gradient; the same
 * density as bayesgmm/bayes/model/missing.py (tests/test_kernel_missing.py compares them).
 * Included by _kernel.c after the block loops, which it reuses unchanged.
 *
 * Buffer (bayesgmm.bayes.kernel.bindings.kernel_buffer): header[14] = P, the number of incomplete
 * missingness patterns (0: no NaN, and nothing below exists), header[15] = the number of
 * complete rows. The rows of X (and of the weights and labels) are sorted by pattern, the
 * complete rows first, the missing entries set to 0; after the labels come the row order
 * (N doubles: the user's index of each buffer row, so that pointwise comes back in the
 * user's order) and per pattern [first row, number of rows, observed mask (D: 1 or 0)].
 *
 * The complete rows take the ordinary path. Per incomplete pattern and component, full
 * and tied covariances factorise Sigma_pad = M o (S R S) + diag(1 - m) (M = m m^T, R = L L^T
 * the correlation, S = diag(sd)), whose Cholesky factor C is that of Sigma_oo padded with
 * the identity; the block loops then run with C in place of L, unit scales on the
 * observed coordinates and zero scales on the missing ones (so (x - mu) * 0 = 0 there),
 * and a log-determinant over the observed coordinates (the identity adds nothing). Their
 * reverse pass gives dlogp/dC; Murray (2016, "Differentiation of the Cholesky
 * decomposition") carries it to dlogp/dSigma_pad, which is masked and chained to the sds
 * and to L. Diagonal and spherical covariances only drop the missing coordinates: scales
 * m / sd, and a log-determinant over the observed sds.
 */
#ifndef BAYESGMM_KERNEL_MISSING_H
#define BAYESGMM_KERNEL_MISSING_H

#define PATTERN_SLOT 14 /* header[14] P, header[15] the complete rows */

typedef struct {
    int64_t n_patterns, n_complete; /* P; the leading complete rows */
    const double *order;            /* N user row indices (NULL when P = 0) */
    const double *table;            /* P x (2 + D): first row, rows, observed mask */
} MissingLayout;

/* The missing-value section of a buffer; `end` is where the rows' data (X, weights,
   labels) end. */
static MissingLayout missing_layout(const double *buf, const double *end) {
    MissingLayout ml = {(int64_t)buf[PATTERN_SLOT], 0, NULL, NULL};
    if (ml.n_patterns > 0) {
        ml.n_complete = (int64_t)buf[PATTERN_SLOT + 1];
        ml.order = end;
        ml.table = end + (int64_t)buf[0];
    }
    return ml;
}

/* pointwise[order[b]] = values[b]: a block's terms back to the user's rows */
static void scatter_rows(const double *values, const double *order, int64_t B, double *out) {
    for (int64_t b = 0; b < B; b++) out[(int64_t)order[b]] = values[b];
}

/* Per correlation factor m, R = L L^T and Sigma = S R S (S the sds of m's first
   component), once per evaluation: written as missing_model._padded_cholesky writes them,
   R_ij = sum_t L_it L_jt, Sigma_ij = s_i s_j R_ij, so that both round alike. */
static void component_covariances(const double *sd, const double *L, int64_t D, double *R,
                                  double *cov) {
    for (int64_t i = 0; i < D; i++)
        for (int64_t j = 0; j <= i; j++) {
            double corr = 0.0;
            for (int64_t t = 0; t <= j; t++) corr += L[i * D + t] * L[j * D + t];
            R[i * D + j] = R[j * D + i] = corr;
            cov[i * D + j] = cov[j * D + i] = sd[i] * sd[j] * corr;
        }
}

/* Lower Cholesky factor C of Sigma_pad = M o Sigma + diag(1 - m), by the unblocked
   factorisation as the graph writes it. Returns 0 where a pivot is not positive
   (rounding, far in the tails). */
static int padded_cholesky(const double *cov, const double *mask, int64_t D, double *C) {
    for (int64_t i = 0; i < D; i++)
        for (int64_t j = 0; j <= i; j++)
            C[i * D + j] = mask[i] * mask[j] * cov[i * D + j] + (i == j ? 1.0 - mask[i] : 0.0);
    for (int64_t j = 0; j < D; j++) { /* entry - (sum of products), as the graph rounds */
        double sum = 0.0;
        for (int64_t t = 0; t < j; t++) sum += C[j * D + t] * C[j * D + t];
        const double diag = C[j * D + j] - sum;
        if (!(diag > 0.0 && diag < INFINITY)) return 0;
        C[j * D + j] = sqrt(diag);
        for (int64_t i = j + 1; i < D; i++) {
            sum = 0.0;
            for (int64_t t = 0; t < j; t++) sum += C[i * D + t] * C[j * D + t];
            C[i * D + j] = (C[i * D + j] - sum) / C[j * D + j];
        }
        for (int64_t i = 0; i < j; i++) C[i * D + j] = 0.0;
    }
    return 1;
}

/* Reverse mode of Sigma = C C^T (Murray 2016, eq. 10, unblocked): from gC = df/dC (lower)
   to the symmetric G = df/dSigma, G = sym(C^-T Phi(C^T gC) C^-1), Phi the lower triangle
   with its diagonal halved; O(D^3). work: 2 D^2 doubles. */
static void cholesky_reverse(const double *C, const double *gC, int64_t D, double *G,
                             double *work) {
    double *P = work, *inv = work + D * D;
    for (int64_t i = 0; i < D; i++) /* P = Phi(C^T gC): (C^T gC)_ij = sum_t C_ti gC_tj */
        for (int64_t j = 0; j < D; j++) {
            double acc = 0.0;
            if (j <= i)
                for (int64_t t = i; t < D; t++) acc += C[t * D + i] * gC[t * D + j];
            P[i * D + j] = i == j ? 0.5 * acc : acc;
        }
    for (int64_t j = 0; j < D; j++) { /* inv = C^-1, lower, column by column */
        for (int64_t i = 0; i < D; i++) {
            double acc = i == j ? 1.0 : 0.0;
            for (int64_t t = j; t < i; t++) acc -= C[i * D + t] * inv[t * D + j];
            inv[i * D + j] = i < j ? 0.0 : acc / C[i * D + i];
        }
    }
    for (int64_t a = 0; a < D; a++) /* P inv, in place: row a reads P[a, b >= j] only */
        for (int64_t j = 0; j <= a; j++) {
            double acc = 0.0;
            for (int64_t b = j; b <= a; b++) acc += P[a * D + b] * inv[b * D + j];
            P[a * D + j] = acc;
        }
    for (int64_t i = 0; i < D; i++) /* G = inv^T (P inv), then symmetrised */
        for (int64_t j = 0; j < D; j++) {
            double acc = 0.0;
            for (int64_t a = i > j ? i : j; a < D; a++) acc += inv[a * D + i] * P[a * D + j];
            G[i * D + j] = acc;
        }
    for (int64_t i = 0; i < D; i++)
        for (int64_t j = 0; j < i; j++) {
            const double mean = 0.5 * (G[i * D + j] + G[j * D + i]);
            G[i * D + j] = mean;
            G[j * D + i] = mean;
        }
}

/* What missing_pass reads besides the ordinary Blocks. */
typedef struct {
    int64_t cov_code;
    const double *sd;        /* every component's sds (K*D) */
    const double *corr_chol; /* the correlation factors L (n_chol x D x D) */
    double *g_corr_chol;     /* their gradient sums */
} MissingModel;

/* Scratch of missing_pass: one allocation, carved up. */
typedef struct {
    double *C, *inv_diag, *scale, *log_det, *g_C, *resp, *g_unused, *sd, *G, *work, *pw;
    double *R, *cov; /* per factor: R = L L^T and Sigma (component_covariances) */
    double *mem;
} MissingScratch;

static int missing_scratch(int64_t K, int64_t D, int64_t n_chol, MissingScratch *ms) {
    const int64_t DD = D * D;
    ms->mem = (double *)calloc((size_t)(4 * n_chol * DD + n_chol * D + 3 * K * D + 2 * K +
                                        D + 3 * DD + BLOCK),
                               sizeof(double));
    if (ms->mem == NULL) return 0;
    ms->C = ms->mem;
    ms->g_C = ms->C + n_chol * DD;
    ms->inv_diag = ms->g_C + n_chol * DD;
    ms->scale = ms->inv_diag + n_chol * D;
    ms->g_unused = ms->scale + K * D;
    ms->log_det = ms->g_unused + K * D;
    ms->resp = ms->log_det + K;
    ms->sd = ms->resp + K;
    ms->G = ms->sd + K * D;
    ms->work = ms->G + DD;
    ms->pw = ms->work + 2 * DD;
    ms->R = ms->pw + BLOCK;
    ms->cov = ms->R + n_chol * DD;
    return 1;
}

/* Covariance factors of a correlated structure: one per component where its sds or its
   correlations differ between components (full, VEE, EVV), else one (tied); factor m
   reads the correlation factor corr_factor(m). */
static int64_t n_covariances(int64_t cov_code, int64_t K) {
    const int per = code_chol_per_component(cov_code) || code_sds_per_component(cov_code);
    return per ? K : 1;
}
static int64_t corr_factor(int64_t cov_code, int64_t m) {
    return code_chol_per_component(cov_code) ? m : 0;
}

/* The sds per component and, for the correlated structures, R and Sigma per factor: the
   same for every pattern. */
static void missing_setup(const Blocks *s, const MissingModel *mm, MissingScratch *ms) {
    const int64_t D = s->D, K = s->K, DD = D * D;
    for (int64_t i = 0; i < K * D; i++) ms->sd[i] = mm->sd[i];
    if (!code_correlated(mm->cov_code)) return;
    for (int64_t m = 0; m < n_covariances(mm->cov_code, K); m++)
        component_covariances(ms->sd + m * D, mm->corr_chol + corr_factor(mm->cov_code, m) * DD,
                              D, ms->R + m * DD, ms->cov + m * DD);
}

/* A pattern's factors, scales and log-determinants; 0 where a factorisation fails. */
static int pattern_factors(const Blocks *s, const MissingModel *mm, const double *mask,
                           MissingScratch *ms) {
    const int64_t D = s->D, K = s->K, DD = D * D, corr = code_correlated(mm->cov_code);
    const int64_t n_chol = n_covariances(mm->cov_code, K);
    for (int64_t k = 0; k < K; k++) {
        ms->log_det[k] = 0.0;
        for (int64_t d = 0; d < D; d++) {
            const double sd = ms->sd[k * D + d];
            /* full, tied: C carries the sds; diag, spherical: the scales do */
            ms->scale[k * D + d] = corr ? mask[d] : mask[d] / sd;
            if (!corr && mask[d] != 0.0) ms->log_det[k] += log(sd);
        }
    }
    if (!corr) return 1;
    for (int64_t m = 0; m < n_chol; m++) {
        double *C = ms->C + m * DD;
        if (!padded_cholesky(ms->cov + m * DD, mask, D, C)) return 0;
        double log_det = 0.0;
        for (int64_t d = 0; d < D; d++) {
            ms->inv_diag[m * D + d] = 1.0 / C[d * D + d];
            log_det += log(C[d * D + d]);
        }
        for (int64_t k = 0; k < K; k++)
            if (n_chol == 1 || k == m) ms->log_det[k] = log_det;
    }
    return 1;
}

/* After a pattern's reverse passes: its log-determinant terms, and for full and tied
   dlogp/dC through Sigma_pad to the sds (as s dlogp/ds) and to L. */
static void pattern_gradient(const Blocks *s, const MissingModel *mm, const double *mask,
                             MissingScratch *ms, double *g_stds) {
    const int64_t D = s->D, K = s->K, DD = D * D;
    if (!code_correlated(mm->cov_code)) {
        for (int64_t k = 0; k < K; k++)
            for (int64_t d = 0; d < D; d++) g_stds[k * D + d] -= mask[d] * ms->resp[k];
        return;
    }
    const int64_t n_chol = n_covariances(mm->cov_code, K);
    for (int64_t m = 0; m < n_chol; m++) {
        const int64_t f = corr_factor(mm->cov_code, m) * DD; /* this factor's L */
        const double *C = ms->C + m * DD, *sd = ms->sd + m * D, *L = mm->corr_chol + f;
        double *gC = ms->g_C + m * DD, *G = ms->G, *gL = mm->g_corr_chol + f;
        double r = 0.0;
        for (int64_t k = 0; k < K; k++)
            if (n_chol == 1 || k == m) r += ms->resp[k];
        for (int64_t d = 0; d < D; d++) gC[d * D + d] -= mask[d] * r / C[d * D + d];
        cholesky_reverse(C, gC, D, G, ms->work);
        const double *R = ms->R + m * DD;
        for (int64_t i = 0; i < D; i++) {
            double g_s = 0.0;
            for (int64_t j = 0; j < D; j++) { /* H = M o G s_i s_j into G */
                const double g = mask[i] * mask[j] * G[i * D + j] * sd[i] * sd[j];
                g_s += 2.0 * g * R[i * D + j];
                G[i * D + j] = g;
            }
            g_stds[m * D + i] += g_s; /* s_i dlogp/ds_i; tied: component 0 holds it */
        }
        for (int64_t i = 0; i < D; i++) /* dlogp/dL = 2 H L, lower */
            for (int64_t j = 0; j <= i; j++) {
                double acc = 0.0;
                for (int64_t t = j; t < D; t++) acc += G[i * D + t] * L[t * D + j];
                gL[i * D + j] += 2.0 * acc;
            }
    }
}

/*
 * The incomplete patterns' log-likelihood (returned; -inf where a factorisation fails),
 * their terms in pointwise (the user's rows), and with want_grad their gradient added to
 * the sums of `s` (means, sds, resp_sum) and to mm->g_corr_chol. *ok is 0 when scratch
 * memory cannot be allocated.
 */
static double missing_pass(const Blocks *s, const MissingModel *mm, const MissingLayout *ml,
                           double *pointwise, int want_grad, int *ok) {
    const int64_t D = s->D, K = s->K, n_chol = n_covariances(mm->cov_code, K);
    const int corr = code_correlated(mm->cov_code);
    MissingScratch ms;
    *ok = missing_scratch(K, D, n_chol, &ms);
    if (!*ok) return NAN;
    missing_setup(s, mm, &ms);
    double loglik = 0.0;
    for (int64_t p = 0; p < ml->n_patterns; p++) {
        const double *row = ml->table + p * (2 + D), *mask = row + 2;
        const int64_t first = (int64_t)row[0], count = (int64_t)row[1];
        double n_obs = 0.0;
        for (int64_t d = 0; d < D; d++) n_obs += mask[d];
        if (!pattern_factors(s, mm, mask, &ms)) {
            loglik = -INFINITY;
            break;
        }
        for (int64_t i = 0; i < n_chol * D * D; i++) ms.g_C[i] = 0.0;
        for (int64_t k = 0; k < K; k++) ms.resp[k] = 0.0;
        Blocks pb = *s;
        pb.full = corr ? n_chol == K : s->full; /* a factor per component, or one shared */
        pb.has_corr = corr;
        pb.chol = corr ? ms.C : s->chol;
        pb.inv_diag = corr ? ms.inv_diag : s->inv_diag;
        pb.inv_std = ms.scale;
        pb.log_det = ms.log_det;
        pb.cnst = 0.5 * n_obs * LOG_2PI;
        pb.g_stds = corr ? ms.g_unused : s->g_stds; /* diag, spherical: the ordinary sums */
        pb.g_chol = corr ? ms.g_C : s->g_chol; /* diag, spherical: the identity's, unread */
        pb.resp_sum = ms.resp;
        for (int64_t n0 = first; n0 < first + count; n0 += BLOCK) {
            const int64_t B = first + count - n0 < BLOCK ? first + count - n0 : BLOCK;
            forward_block(&pb, n0, B);
            loglik += finish_block(&pb, B, pointwise == NULL ? NULL : ms.pw);
            if (pointwise != NULL) scatter_rows(ms.pw, ml->order + n0, B, pointwise);
            if (want_grad) reverse_block(&pb, B);
        }
        if (!want_grad) continue;
        for (int64_t k = 0; k < K; k++) s->resp_sum[k] += ms.resp[k];
        pattern_gradient(s, mm, mask, &ms, s->g_stds);
    }
    free(ms.mem);
    return loglik;
}

#endif /* BAYESGMM_KERNEL_MISSING_H */
