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
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import bayesgmm
from bayesgmm import BayesianGMM, GMMPriors
from bayesgmm.core.n_clusters import prior_n_clusters
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
# One NUTS fit (nutpie on bayesgmm's compiled kernel), K = 10, full covariances. alpha is
# sampled with the rest; the chains start at a MAP-EM fit, with alpha at its prior mean
# a / b = 0.1.

# %%
sparse = BayesianGMM(
    K,
    priors=GMMPriors(alpha_prior="sparse"),
    draws=500,
    tune=500,
    progressbar=False,
    random_seed=1,
).fit(X)
result = bayesgmm.n_clusters(sparse)
print(result)

# %%
plot_n_clusters(result)
plt.show()

# %% [markdown]
# The posterior of K+ is far more concentrated than its prior: the data, not the prior,
# pick the number of occupied components. The posterior of alpha has moved too (see the
# summary above): a small alpha is what empties the unneeded components.
#
# Convergence is judged on label-invariant quantities: alpha, the sorted weights and the
# log-likelihood (the raw per-component draws switch labels among the empty components).

# %%
import arviz as az  # noqa: E402

post = sparse.raw_idata_.posterior
sorted_w = np.sort(post["weights"].values, axis=-1)[..., ::-1]
loglik = sparse.raw_idata_.log_likelihood["x"].sum("obs").values
rhat = {"alpha": float(az.rhat(post["alpha"].values)), "log-likelihood": float(az.rhat(loglik))}
rhat.update({f"weight (rank {j + 1})": float(az.rhat(sorted_w[..., j])) for j in range(3)})
pd.Series(rhat, name="R-hat").round(3)

# %% [markdown]
# ## 3. BIC and LOO over fixed K

# %%
bic = bayesgmm.select_k(X, ks=range(1, 7), covariance_types=("full",), random_seed=0)
print("BIC picks", bic.attrs["best"])
bic

# %%
loo = bayesgmm.compare_k(X, [1, 2, 3, 4], methods=("em", "nuts"), draws=300, tune=300)
loo[["K", "bic", "elpd_loo", "se_loo", "n_pareto_k_bad", "rank_bic", "rank_loo"]]

# %% [markdown]
# ## 4. Side by side
#
# - **BIC** picks one K and says nothing about how sure it is.
# - **LOO** ranks fixed K by predictive accuracy; on Old Faithful the differences between
#   K = 2, 3 and 4 are within a few standard errors, and LOO tends to keep favouring larger
#   K, since an extra component costs little predictive accuracy.
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
