# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The singularity: an unbounded likelihood, and what keeps a fit away from it
#
# The likelihood of a Gaussian mixture has no maximum. Put one component's mean on a data
# point and shrink its standard deviation $\sigma_k$: that point's density grows like
# $1/\sigma_k$ while the other components keep every other point's density positive, so
# the log-likelihood climbs to $+\infty$ (Bishop, *PRML*, section 9.2.1). This notebook
#
# 1. computes that curve, with numbers;
# 2. lets maximum-likelihood EM with no covariance floor run into it;
# 3. shows what bayesgmm does about it in EM: the floor `reg_covar`, restarts, MAP-EM;
# 4. and in the Bayesian fit: the default log-normal prior on $\sigma_k$ keeps the
#    posterior proper, a half-normal one does not, and the collapse report says so.

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.special import logsumexp
from scipy.stats import norm

import bayesgmm

plt.rcParams["figure.dpi"] = 90
pd.set_option("display.precision", 4)
# Notices about this machine's installation, not about the model:
warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
warnings.filterwarnings("ignore", message="IProgress not found")

# %% [markdown]
# ## 1. Data
#
# 103 values on one axis (simulated, in arbitrary units): two clusters of 60 and 40
# points around 0 and 5, and one value, 10, recorded three times, as an instrument that
# rounds or a copy-pasted row would. Ties like these are common in real data (Old
# Faithful's waiting times are whole minutes).

# %%
rng = np.random.default_rng(0)
x = np.concatenate([rng.normal(0, 1, 60), rng.normal(5, 1, 40), np.full(3, 10.0)])
X = x[:, None]  # bayesgmm takes (N, D) data

# %% [markdown]
# ## 2. The log-likelihood against $\sigma_3$
#
# Fix two components on the clusters ($\mu = 0, 5$; $\sigma = 0.9, 1.06$) and put a third,
# of weight $1/N$, on a data point; then shrink its $\sigma_3$. Two cases: centred on a
# single point (the largest of the 100 cluster points), and on the value recorded three
# times. The log-likelihood is
# $\ell = \sum_n \log \sum_k \pi_k\, \mathcal N(x_n \mid \mu_k, \sigma_k^2)$:


# %%
def log_likelihood(sigma3: float, centre: float) -> float:
    """Total log-likelihood of x with the third component at `centre`, sd `sigma3`."""
    weights = np.array([60, 40, 1]) / 101
    means, sds = np.array([0.0, 5.0, centre]), np.array([0.9, 1.06, sigma3])
    with np.errstate(over="ignore"):  # at tiny sigma3 the far points' log densities are -inf
        terms = np.log(weights) + norm.logpdf(x[:, None], means, sds)
    return float(logsumexp(terms, axis=1).sum())


single = float(x[:100].max())
sigmas = np.logspace(0, -12, 25)
curve = pd.DataFrame(
    {
        "sigma_3": sigmas,
        f"on one point (x = {single:.3f})": [log_likelihood(s, single) for s in sigmas],
        "on the 3 tied points (x = 10)": [log_likelihood(s, 10.0) for s in sigmas],
    }
)

fig, ax = plt.subplots(figsize=(6.5, 4))
for column, marker in zip(curve.columns[1:], "os", strict=True):
    ax.semilogx(curve["sigma_3"], curve[column], marker + "-", label=column, markersize=4)
ax.invert_xaxis()
ax.set(xlabel="$\\sigma_3$, sd of the shrinking component (units of x)",
       ylabel="log-likelihood $\\ell$ (nats)",
       title="the likelihood grows without bound as $\\sigma_3 \\to 0$")  # fmt: skip
ax.legend()
plt.show()

# %% [markdown]
# Read from left to right: at $\sigma_3 = 1$ the third component is an ordinary bump; as
# it shrinks, the log-likelihood first dips (the bump stops covering its neighbours) and
# then rises on a straight line in $\log \sigma_3$ with no end. Each factor of 10 adds
# $m \ln 10$ nats, where $m$ is the number of points the component sits on: 2.3 for one
# point, 6.9 for three. The values:

# %%
curve.iloc[::4]

# %% [markdown]
# Past the dip the log-likelihood gains 2.30 nats per decade of $\sigma_3$ on one point
# and 6.91 on three, without end. Far beyond the plot:

# %%
for sigma3 in (1e-50, 1e-100, 1e-300):
    print(f"sigma_3 = {sigma3:.0e}: one point {log_likelihood(sigma3, single):9.1f},"
          f"  three tied points {log_likelihood(sigma3, 10.0):9.1f}")  # fmt: skip

# %% [markdown]
# None of these "fits" says anything about the data: the maximum-likelihood
# estimate of a Gaussian mixture does not exist, and what EM returns is a *local*
# maximum that it was lucky, or helped, to find.
#
# ## 3. Maximum-likelihood EM with no floor runs into it
#
# `reg_covar=0` removes bayesgmm's floor on the variances. Start EM with a third component
# near the tied value, and watch it, iteration by iteration (`max_iter` = 0, 1, 2, ...
# from the same start):

# %%
start = {"weights": [0.55, 0.4, 0.05], "means": [[0.0], [5.0], [9.0]],
         "covariances": [[[1.0]], [[1.0]], [[1.0]]]}  # fmt: skip
steps = []
for n_iter in range(6):
    fit = bayesgmm.fit_em(X, 3, init=start, max_iter=n_iter, reg_covar=0, tol=0, warn=False)
    sd3 = float(np.sqrt(fit.covariances[2, 0, 0]))
    steps.append({"iteration": n_iter, "log-likelihood": fit.log_likelihood, "sigma_3": sd3,
                  "points held by component 3": fit.weights[2] * len(x)})  # fmt: skip
pd.DataFrame(steps)

# %% [markdown]
# In three iterations the third component takes the three tied points and its standard
# deviation drops from 1 to about $2 \times 10^{-7}$. That is not a real estimate: the true
# variance of three equal numbers is 0, and $2 \times 10^{-7}$ is what is left of
# rounding errors of size $10^{-14}$ in the computed variance. The log-likelihood jumps
# by about 40 nats and then moves by rounding only. EM stopped because the arithmetic
# did, not because it found a maximum.
#
# ## 4. What bayesgmm does about it in EM
#
# - **The floor.** By default `reg_covar=1e-6` is added to every variance, so
#   $\sigma_k \geq 10^{-3}$: the collapse is bounded, EM converges, and the fit flags the
#   component as degenerate, with a `DegenerateComponentWarning` that says what to do.
# - **Restarts.** `n_init=5` runs EM from five starts and keeps the best fit *without* a
#   collapsed component, if there is one. Here the three tied points are found by every
#   start, so restarts do not help; the warning says so.
# - **MAP-EM.** `prior="default"` adds the conjugate prior of Fraley & Raftery (2007). Its
#   inverse-gamma factor on each variance vanishes at 0 faster than the likelihood grows,
#   so the objective is bounded and has a maximum.

# %%
rows = {}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", bayesgmm.DegenerateComponentWarning)
    rows["ML, floor 1e-6, 5 restarts"] = bayesgmm.fit_em(X, 3, n_init=5, random_seed=0)
for w in caught:
    print(f"{w.category.__name__}: {w.message}\n")
rows["MAP-EM (prior='default'), 5 restarts"] = bayesgmm.fit_em(
    X, 3, n_init=5, random_seed=0, prior="default"
)
summary = []
for name, fit in rows.items():
    k = int(np.argmin(fit.weights))
    summary.append({"fit": name, "objective": fit.log_likelihood,
                    "points in smallest component": fit.weights[k] * len(x),
                    "its sd": float(np.sqrt(fit.covariances[k, 0, 0])),
                    "flagged degenerate": list(fit.degenerate_components)})  # fmt: skip
pd.DataFrame(summary).set_index("fit")

# %% [markdown]
# With the floor, the smallest component's sd sits on the floor, $10^{-3}$, and is flagged;
# its log-likelihood, $-200$, is whatever the floor allows (a smaller floor would give a
# larger one). MAP-EM gives the three tied points a component with a proper sd of about
# 0.4 units (printed above), bounded away from zero by the prior, not by an arbitrary constant.
#
# ## 5. In the Bayesian fit: the prior decides
#
# A posterior is $p(\theta \mid x) \propto p(x \mid \theta)\, p(\theta)$. Near the
# collapse onto $m$ equal points the likelihood grows like $\sigma^{-m}$; integrating the
# mean out takes one power away, so the posterior's mass near $\sigma = 0$ behaves like
# $\int_0 \sigma^{-(m-1)} p(\sigma)\, d\sigma$. For $m = 3$ that integral is **infinite**
# for any prior with $p(0) > 0$, like the half-normal: the "posterior" is improper, and a
# sampler drifts towards $\sigma = 0$ for ever. bayesgmm's default prior on $\sigma_k$ is
# log-normal, which vanishes at 0 faster than any power of $\sigma$: the posterior is
# proper whatever the ties.
#
# Two NUTS fits of the same data, the default prior (2 chains of 500 draws) and
# `GMMPriors(std_family="halfnormal")`. The half-normal chains are kept short (100
# draws after 100 tuning steps): once a component collapses every NUTS trajectory hits
# the maximum tree depth, and longer runs only drift further down.

# %%
fits = {}
reported = (bayesgmm.DegenerateComponentWarning, bayesgmm.LabelSwitchingWarning,
            bayesgmm.ConvergenceWarning)  # fmt: skip
for family, length in (("lognormal", 500), ("halfnormal", 100)):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fits[family] = bayesgmm.BayesianGMM(
            3,
            priors=bayesgmm.GMMPriors(std_family=family),
            draws=length,
            tune=length,
            random_seed=1,
            progressbar=False,
        ).fit(X)
    kinds = sorted({w.category.__name__ for w in caught if issubclass(w.category, reported)})
    print(f"{family}: warnings raised: {kinds or 'none'}")
    print(f"  collapse report: {fits[family].collapse_report_}")
    print(f"  label-switching report: {fits[family].label_report_}\n")

# %% [markdown]
# Both reports look at every draw: a component is collapsed when it holds fewer than 2
# points or its variance is below $10^{-4}$ times the data's (sd 100 times smaller). The
# per-component tables:

# %%
pd.concat({family: fit.collapse_report_.table for family, fit in fits.items()})

# %% [markdown]
# The figure shows, draw by draw, the sd of the component that sits on the tied value
# (the component whose mean is closest to 10 in that draw, so the labels do not matter),
# on a log scale.

# %%
fig, ax = plt.subplots(figsize=(6.5, 4))
for family, fit in fits.items():
    post = fit.idata_.posterior
    means = post["means"].values[..., 0].reshape(-1, 3)
    stds = post["stds"].values[..., 0].reshape(-1, 3)
    on_ties = stds[np.arange(len(means)), np.abs(means - 10).argmin(axis=1)]
    bins = np.linspace(-9, 1, 81)
    ax.hist(np.log10(on_ties), bins, alpha=0.6, density=True, label=f"std_family={family!r}")
    low, median, high = np.percentile(on_ties, [5, 50, 95])
    print(f"{family}: sd on the tied value, median {median:.2g},"
          f" 90% of draws {low:.2g} to {high:.2g}")  # fmt: skip
ax.axvline(np.log10(1e-2 * x.std()), color="black", ls="--", label="collapse threshold")
ax.set(xlabel="$\\log_{10}$ sd of the component on the tied value (units of x)",
       ylabel="density of draws", title="posterior draws of that sd")  # fmt: skip
ax.legend()
plt.show()

# %% [markdown]
# With the log-normal prior the sd of the component nearest the tied value takes two
# kinds of values (printed above: median, and the range of 90% of the draws): small,
# about 0.05 to 0.5 units, where a narrow component sits on the three equal values (they
# do suggest one), and about 3 units, where a broad component takes them together with
# the upper tail of the cluster at 5. The posterior has these two modes, which is also
# why the label-switching report is not clean; neither is near zero. About 1% of draws
# cross the near-singular threshold (the table's `singular` column); most of the draws
# flagged are ones where that component holds fewer than 2 points, which the report
# counts as collapsed too. With the half-normal prior the sd has run down to about
# $10^{-7}$ units within the 100 tuning steps, five orders of magnitude below the
# threshold, and stays there. Every draw is flagged near-singular, and the report names
# the prior as the cause and says what to use instead.
#
# ## Conclusions
#
# - The mixture log-likelihood is unbounded: $m \ln 10$ nats more for every factor of 10
#   that a component on $m$ equal points shrinks.
# - Maximum-likelihood EM without a floor runs into it and stops only at rounding. The
#   floor bounds it (and flags the component), restarts avoid it when some start does,
#   and MAP-EM removes it by a prior whose density vanishes at zero variance.
# - In the Bayesian fit the prior on $\sigma_k$ decides whether the posterior exists. The
#   default log-normal prior keeps it proper; a half-normal one does not, and
#   `collapse_report` detects the collapsed draws.
