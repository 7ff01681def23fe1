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
# # mclust's 14 covariance structures on iris: BIC, the EM fit, and the Bayesian twelve
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
# **What the Bayesian model supports.** `BayesianGMM` samples twelve of the structures:
# the four of scikit-learn's names (`full` = `VVV`, `tied` = `EEE`, `diag` = `VVI`,
# `spherical` = `VII`), `EII`, `EEI`, `VEI`, `EVI`, `VEE`, `EVV`, and `EEV` and `VEV`
# (an orientation per component, for 2 to 4 features). The other two, `EVE` and `VVE`,
# share one orthogonal orientation between components of different shapes and are **EM
# only**: they have maximum-likelihood fits, BIC and plots, but no prior and no posterior
# (why: the documentation's mclust page, section "EEV and VEV for D ≤ 4; why EVE and VVE
# are EM only", `docs/mclust.md`). The notebook reads the list from the structure
# registry rather than writing it out. Everything is seeded.

# %%
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.datasets import load_iris

import bayesgmm
from bayesgmm.mixture.structures import BAYESIAN_COVARIANCE_TYPES, get_structure
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
# ## 3. Which structures the Bayesian model supports, and what they buy
#
# The registry lists the structures with a Bayesian model (`BAYESIAN_COVARIANCE_TYPES`,
# by their canonical names); `get_structure` gives each one's mclust name, the BIC
# table's column. The table below keeps each structure's best K, with its BIC (mclust's
# sign, higher is better), its number of free parameters, and whether `BayesianGMM` can
# sample it.

# %%
bayesian = {get_structure(name).mclust_name: name for name in BAYESIAN_COVARIANCE_TYPES}
long = bic.attrs["long"].set_index(["K", "covariance_type"])
best_cells = [(k, structure) for structure, k in bic.idxmax().items()]
best_per_structure = (
    long.loc[best_cells, ["bic", "n_parameters"]]
    .assign(bayesian=lambda t: t.index.get_level_values("covariance_type").isin(list(bayesian)))
    .sort_values("bic", ascending=False)
)
best_per_structure

# %% [markdown]
# The best structure the Bayesian model supports, read off the same table, beside the
# best Bayesian one without an orientation of each component's own:

# %%
bayes_k, bayes_structure = bic[list(bayesian)].stack().idxmax()
without = [name for name in bayesian if not get_structure(bayesian[name]).bayesian.oriented]
plain_k, plain_structure = bic[without].stack().idxmax()
rows = [(bayes_k, bayes_structure), (plain_k, plain_structure)]
summary = long.loc[rows, ["log_likelihood", "n_parameters", "bic"]]
gain = bic.loc[bayes_k, bayes_structure] - bic.loc[plain_k, plain_structure]
print(f"best Bayesian: {bayes_structure},{bayes_k}; best overall: {best_structure},{best_k}")
print(f"{bayes_structure},{bayes_k} vs {plain_structure},{plain_k}: BIC higher by {gain:.2f}")
summary

# %% [markdown]
# mclust's choice, `VEV`,2, now has a posterior: it is the best structure overall and the
# best the Bayesian model supports. It differs from `VVV`,2 (`full`, the best Bayesian
# structure without an orientation of each component's own) only in the shape: the two
# components share one shape matrix `A` (the ratio of their axes) while their volumes and
# orientations differ. That saves 3 parameters (`D - 1` shape parameters for the second
# component) and costs little likelihood, so BIC gains about 12 (a difference above 10
# is "very strong" evidence on Kass and Raftery's scale). The structures without
# correlations (`..I`) lose much more, because petal length and width are strongly
# correlated within every species.
#
# In `VEV` each orientation `D_k` is a rotation of its own, not the sds and LKJ
# correlations the other structures are built from. The Bayesian model writes it as a
# unit quaternion for D = 3 and a pair of them for D = 4 (iris has D = 4), a
# parametrisation that NUTS samples well and that exists only up to D = 4; the shared
# shape is sorted and given by its D - 1 gaps
# ([mclust page](../../mclust/#eev-and-vev-for-d-4-why-eve-and-vve-are-em-only),
# `docs/mclust.md`). `EVE` and `VVE`, one orientation shared by components of different
# shapes, stay EM only, and `BayesianGMM` says so:

# %%
try:
    bayesgmm.BayesianGMM(best_k, covariance_type="VVE").fit(X)
except ValueError as refusal:
    print(refusal)

# %% [markdown]
# ## 4. The posterior of the best Bayesian structure
#
# `BayesianGMM` with the structure found above (`VEV`, K = 2), a short
# NUTS run (2 chains x 200 draws after 200 tuning steps: enough to compare with EM here,
# short for a publication), then `bayesgmm.compare` puts the EM (maximum-likelihood)
# estimate of the same structure beside the posterior, element by element.

# %%
bayes = bayesgmm.BayesianGMM(
    bayes_k,
    covariance_type=bayesian[bayes_structure],
    draws=200,
    tune=200,
    chains=2,
    random_seed=1,
    progressbar=False,
).fit(X)
em_bayes = bayesgmm.fit_em(X, bayes_k, bayes_structure, n_init=5, random_seed=0)
comparison = bayesgmm.compare(em_bayes, bayes)
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
ax.set_title(f"{bayes_structure}, K = {bayes_k}: EM estimate vs posterior (94% HDI)", pad=24)
plt.show()

# %% [markdown]
# For VEV,2 the EM estimate lies inside the posterior's 94% HDI for every one of the 30
# elements (weights, means, the sds and correlations of each component's covariance),
# within 2 posterior sds of the posterior mean; the posterior sds sit a little above the
# MLE's, as `compare`'s text explains (the MLE of a variance is biased low).
