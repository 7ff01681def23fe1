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
# # How many clusters? A sparse finite mixture on Old Faithful, beside BIC and LOO
#
# Three ways to ask how many clusters the Old Faithful eruptions hold:
#
# 1. **BIC** over EM fits with K = 1..6 (`bayesgmm.select_k`): which fixed K balances fit
#    and parameter count best;
# 2. **PSIS-LOO** over posteriors with K = 1..4 (`bayesgmm.compare_k`): which fixed K
#    predicts new eruptions best;
# 3. a **sparse finite mixture** (Malsiner-Walli, Frühwirth-Schnatter & Grün 2016): one fit
#    with K = 10 components and a prior `alpha ~ Gamma(10, 10 K)` on the Dirichlet
#    concentration, which lets the components the data do not need empty out. It gives a
#    posterior over **K+**, the number of non-empty components, which we put beside the
#    **prior** of K+ that the same N, K and alpha prior imply (as the R package fipp does).
#
# The docs page "How many clusters?" (`docs/number_of_clusters.md`) states the model and
# the prior sensitivity in full. Everything is seeded.

# %%
import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import bayesgmm
from bayesgmm import GMMPriors
from bayesgmm.analysis.kplus_prior import prior_n_clusters
from bayesgmm.bayes.inference import sample_nuts
from bayesgmm.bayes.model.graph import build_model
from bayesgmm.plotting import plot_n_clusters

plt.rcParams["figure.dpi"] = 90
pd.set_option("display.precision", 3)
faithful = bayesgmm.load_faithful()
X = faithful.to_numpy()
N, K = X.shape[0], 10
print(faithful.shape)

# %% [markdown]
# ## 1. The prior of K+ before any data
#
# With K = 10 components and N = 272 points, what does each prior on alpha say about
# K+? The sparse default (`alpha_prior="sparse"`, Gamma(10, 100), mean 1/K) expects 3 to 6
# clusters; a broad prior with a small mean favours 1 or 2; the uniform Dirichlet
# (alpha = 1 fixed) uses nearly all 10 components. This is the yardstick for the
# posterior below: whatever the posterior adds to it, the data said.

# %%
priors_of_alpha = {
    "Gamma(10, 100) (sparse default)": {"alpha_gamma": (10.0, 10.0 * K)},
    "Gamma(1, 20)": {"alpha_gamma": (1.0, 20.0)},
    "Gamma(1, 2)": {"alpha_gamma": (1.0, 2.0)},
    "alpha = 1 fixed": {"alpha": 1.0},
}
prior_table = pd.DataFrame(
    {name: prior_n_clusters(N, K, **kw) for name, kw in priors_of_alpha.items()},
    index=pd.RangeIndex(1, K + 1, name="K+"),
).T
prior_table.round(3)

# %% [markdown]
# ## 2. The sparse finite mixture
#
# One NUTS run (nutpie on bayesgmm's compiled kernel), K = 10, full covariances. alpha is
# sampled with the rest; the chains start at a MAP-EM fit, with alpha at its prior mean
# a / b = 0.1. The empty components' log weights and alpha form a funnel (the smaller
# alpha, the further those log weights spread). nutpie's low-rank mass matrix (the
# default) learns that correlation, and `BayesianGMM` samples a sparse mixture on it at
# NUTS's own target, 0.8, where alpha mixes as well as at 0.95. This short run keeps
# `target_accept=0.95` for fewer divergences on Old Faithful: 37, 8 and 20 at 0.8 against
# 0, 10 and 0 at 0.95 over seeds 1-3 (alpha's R-hat at most 1.014 and 1.023), at about
# 1.6 times the leapfrog steps. K+ needs no relabeling, so the run goes through
# `sample_nuts` directly (`BayesianGMM(10, priors=GMMPriors(alpha_prior="sparse"))` fits
# the same model, and relabels and reports per component on top).

# %%
gmm = build_model(X, K, "full", priors=GMMPriors(alpha_prior="sparse"))
idata = sample_nuts(
    gmm, draws=400, tune=400, chains=2, target_accept=0.95, random_seed=1, progressbar=False
)
result = bayesgmm.n_clusters(idata)
print(result)

# %%
plot_n_clusters(result)
plt.show()

# %% [markdown]
# Read the two columns together. The prior spreads K+ over 1 to 8; the posterior puts
# nearly all its mass on a few values, and that is what the data added. On Old Faithful
# those values are above the 2 groups the eye sees: a Gaussian component is not a
# cluster, and the two groups are skewed and the waiting times are recorded in whole
# minutes, so the mixture spends a third or fourth component on their shapes. The
# posterior of alpha is in the summary above: a small alpha is what empties the unneeded
# components.
#
# Convergence is judged on label-invariant quantities: alpha, the sorted weights and the
# log-likelihood (the raw per-component draws switch labels among the empty components).
# Values above 1.01, as some are in this short run (400 + 400 draws, to keep the notebook
# fast), call for longer chains before K+ is reported.

# %%
sorted_w = np.sort(idata.posterior["weights"].values, axis=-1)[..., ::-1]
loglik = idata.log_likelihood["x"].sum("obs").values
rhat = {"alpha": float(az.rhat(idata.posterior["alpha"].values))}
rhat["log-likelihood"] = float(az.rhat(loglik))
rhat.update({f"weight (rank {j + 1})": float(az.rhat(sorted_w[..., j])) for j in range(4)})
print("divergences:", int(idata.sample_stats["diverging"].sum()))
pd.Series(rhat, name="R-hat").round(3)

# %% [markdown]
# ## 3. BIC and LOO over fixed K

# %%
bic = bayesgmm.select_k(X, ks=range(1, 7), covariance_types=("full",), random_seed=0)
print("BIC picks", bic.attrs["best"])
bic

# %%
loo = bayesgmm.compare_k(X, [1, 2, 3, 4], methods=("em", "nuts"), draws=200, tune=200)
loo[["K", "bic", "elpd_loo", "se_loo", "n_pareto_k_bad", "rank_bic", "rank_loo"]]

# %% [markdown]
# ## 4. Side by side
#
# - **BIC** picks one K and says nothing about how sure it is.
# - **LOO** ranks fixed K by predictive accuracy; look at the elpd differences against
#   their standard errors: when they are within a few se, LOO does not separate those K,
#   and it tends to keep favouring larger K, since an extra component costs little
#   predictive accuracy.
# - The **sparse mixture** gives a probability for each number of occupied components,
#   next to what the prior alone would have said. Its answer depends on the prior on alpha
#   (section 1): report the two columns together, and refit under a second prior when the
#   answer matters.

# %%
summary = pd.DataFrame(
    {
        "answer": [bic.attrs["best"][0], int(loo.attrs["best_loo"][0]), result.mode],
        "how sure": [
            "no measure",
            "elpd differences vs their se (table above)",
            f"P(K+ = {result.mode}) = {result.table['posterior'].max():.2f} "
            f"(prior {result.table['prior'][result.mode]:.2f})",
        ],
    },
    index=["BIC (EM)", "PSIS-LOO (NUTS)", "sparse mixture, posterior mode of K+"],
)
summary
