# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # mclust's 14 covariance structures on iris: BIC, the EM fit, and the Bayesian four
#
# mclust (Scrucca et al. 2016) parametrises each component's covariance as
# `Sigma_k = lambda_k D_k A_k D_k^T`: volume `lambda`, shape `A`, orientation `D`, each
# Equal across components, Variable, or the Identity. The three letters name the choice
# (`VEV`: variable volume, equal shape, variable orientation), 14 structures in all, from
# `EII` (one sphere shared by all components) to `VVV` (unrestricted).
#
# `bayesgmm.select_k` fits every structure by EM for every K and lays the BIC out as
# mclust's `mclustBIC` does. This notebook does that on Fisher's iris (4 measurements of
# 150 flowers), checks it against mclust's published result, fits the chosen model, and
# then puts a posterior beside the best structure the Bayesian model supports.
#
# **What the Bayesian model supports.** `BayesianGMM` samples four of the structures:
# `VVV` (`full`), `EEE` (`tied`), `VVI` (`diag`) and `VII` (`spherical`). The other ten
# (`EII`, `EEI`, `VEI`, `EVI`, `EVE`, `VEE`, `EEV`, `VVE`, `VEV`, `EVV`) are **EM-only for
# now**: they have maximum-likelihood fits, BIC and plots, but no prior and no posterior.
# Everything is seeded.

# %%
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.datasets import load_iris

import bayesgmm
from bayesgmm.plotting import plot_clusters, plot_comparison, plot_select_k

plt.rcParams["figure.dpi"] = 90
pd.set_option("display.precision", 2)
iris = load_iris(as_frame=True).data
iris.columns = ["sepal length", "sepal width", "petal length", "petal width"]
X = iris.to_numpy()
print(X.shape)

# %% [markdown]
# ## 1. BIC over 14 structures and K = 1..5
#
# `sign="mclust"` prints BIC as mclust does, `2 log L - p log N`: **higher is better**
# (the default sign is scikit-learn's, `-2 log L + p log N`, lower is better). One EM
# start per cell (`n_init=1`) keeps this cell to a few seconds; mclust starts from a
# model-based hierarchical clustering instead, so a cell can differ from mclust's where EM
# has several local optima, but not at the maximum below.

# %%
bic = bayesgmm.select_k(X, range(1, 6), sign="mclust", n_init=1, random_seed=0)
best_k, best_structure = bic.attrs["best"]
print(f"best: {best_structure}, K = {best_k}, BIC = {bic.loc[best_k, best_structure]:.2f}")
bic

# %% [markdown]
# mclust's `Mclust(iris[, 1:4])` chooses **VEV with K = 2, BIC -561.73** (Scrucca et al.
# 2016, section 3.1). The table above finds the same model and the same value. Two
# components, not three: versicolor and virginica overlap so much that one elongated
# component describes them better than two, once the parameter count is paid for.
#
# The plot shows the same table: one line per structure, BIC (mclust's sign, higher is
# better) against the number of components K.

# %%
ax = plot_select_k(bic)
ax.set_title("BIC of EM fits on iris, mclust's 14 covariance structures")
plt.show()

# %% [markdown]
# ## 2. The chosen model's EM fit
#
# VEV, K = 2, refitted with `bayesgmm.fit_em`. The figure shows petal length against petal
# width, the two features that separate the species best: points coloured by their most
# probable component, each component's 95% ellipse (the projection of its 4-D covariance
# onto these two features).

# %%
vev = bayesgmm.fit_em(X, best_k, best_structure, n_init=5, random_seed=0)
print(f"log-likelihood {vev.log_likelihood:.2f}, weights {vev.weights.round(3)}")
ax = plot_clusters(iris, em=vev, features=("petal length", "petal width"))
ax.set_title(f"EM fit, {best_structure} with K = {best_k}: components and 95% ellipses")
plt.show()

# %% [markdown]
# ## 3. What the ten extra structures buy
#
# The best of the four structures the Bayesian model supports, read off the same table:

# %%
BAYESIAN = {"VVV": "full", "EEE": "tied", "VVI": "diag", "VII": "spherical"}
four = bic[list(BAYESIAN)]
four_k, four_structure = four.stack().idxmax()
long = bic.attrs["long"].set_index(["K", "covariance_type"])
rows = [(best_k, best_structure), (four_k, four_structure)]
summary = long.loc[rows, ["log_likelihood", "n_parameters", "bic"]]
summary

# %%
gain = bic.loc[best_k, best_structure] - bic.loc[four_k, four_structure]
saved = long.loc[(four_k, four_structure), "n_parameters"] - long.loc[rows[0], "n_parameters"]
print(
    f"{best_structure},{best_k} vs {four_structure},{four_k}: BIC higher by {gain:.2f} "
    f"with {saved} fewer parameters"
)

# %% [markdown]
# VEV,2 and VVV,2 differ only in the shape: VEV makes the two components share one shape
# matrix `A` (the ratio of their axes) while letting their volumes and orientations differ.
# That saves 3 parameters (`D - 1` shape parameters for the second component) and costs
# little likelihood, so BIC gains about 12 (mclust's sign; a difference above 10 is
# "very strong" evidence on Kass and Raftery's scale). The extra structures buy
# parsimony: models between "everything equal" and "everything free", where the data
# support them.

# %% [markdown]
# ## 4. The posterior of the best Bayesian structure
#
# `BayesianGMM` with the structure found above (VVV is `covariance_type="full"`), a short
# NUTS run (2 chains x 200 draws after 200 tuning steps: enough to compare with EM here,
# short for a publication), then `bayesgmm.compare` puts the EM (maximum-likelihood)
# estimate of the same structure beside the posterior, element by element.

# %%
bayes = bayesgmm.BayesianGMM(
    four_k,
    covariance_type=BAYESIAN[four_structure],
    draws=200,
    tune=200,
    chains=2,
    random_seed=1,
    progressbar=False,
).fit(X)
em_four = bayesgmm.fit_em(X, four_k, four_structure, n_init=5, random_seed=0)
comparison = bayesgmm.compare(em_four, bayes)
print(comparison)

# %% [markdown]
# The fit may warn that the chains' label-invariant R-hat is a little above 1.01. Both
# chains report the same solution (weights 0.67/0.33, the same log posterior): with 200
# draws per chain that is a short run, not a second mode. Run longer for real use.
#
# The forest plot shows the same table: for each weight, mean, standard deviation and
# correlation, the posterior mean and 94% HDI (line) and the EM estimate (marker),
# standardised by the posterior sd so that all parameters share one axis (`x0` ... `x3`
# are sepal length, sepal width, petal length, petal width.)

# %%
ax = plot_comparison(comparison)
ax.set_title(f"{four_structure}, K = {four_k}: EM estimate vs posterior (94% HDI)", pad=24)
plt.show()

# %% [markdown]
# For VVV,2 the EM estimate lies inside the posterior's 94% HDI for every element, within
# one posterior sd of the posterior mean; the posterior correlations sit a little nearer 0
# than the MLE's (the LKJ prior), as `compare`'s text explains. A posterior for VEV,2, the model
# BIC prefers, needs a prior on the shared shape `A` and the per-component volumes and
# orientations: that is not built yet, so for VEV and the nine other EM-only structures the
# EM fit and BIC above are what bayesgmm offers today.
