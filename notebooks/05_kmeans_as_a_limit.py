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
# # k-means as a limit of EM
#
# k-means and the Gaussian mixture are often taught side by side; Bishop's *Pattern
# Recognition and Machine Learning* (section 9.3.2) makes the link exact. Take a mixture
# whose components share one spherical covariance $\sigma^2 I$, held **fixed**, with fixed
# equal weights, and run EM on the means alone:
#
# $$
# \gamma_{nk} = \frac{\exp\!\bigl(-\lVert x_n - \mu_k\rVert^2 / 2\sigma^2\bigr)}
#                    {\sum_j \exp\!\bigl(-\lVert x_n - \mu_j\rVert^2 / 2\sigma^2\bigr)},
# \qquad
# \mu_k \leftarrow \frac{\sum_n \gamma_{nk}\, x_n}{\sum_n \gamma_{nk}} .
# $$
#
# As $\sigma^2 \to 0$ the responsibilities $\gamma_{nk}$ become 0 or 1 (the nearest mean
# takes everything), and the two lines are exactly one iteration of Lloyd's k-means:
# assign each point to its nearest centre, move each centre to the mean of its points.
# This notebook shows the responsibilities hardening as $\sigma^2$ shrinks, checks that the
# fixed point equals scikit-learn's `KMeans` from the same start, and then asks what
# k-means' single answer leaves out, by comparing it with the posterior of a spherical
# Bayesian mixture. It runs in well under a minute.

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

import bayesgmm

plt.rcParams["figure.dpi"] = 90
pd.set_option("display.precision", 4)
# Notices about this machine's installation, not about the model:
warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
warnings.filterwarnings("ignore", message="IProgress not found")

# %% [markdown]
# ## 1. Data: three overlapping round clusters
#
# 300 simulated points from three spherical Gaussians with unit standard deviation; the
# coordinates are unitless. Two clusters overlap, so some points are genuinely ambiguous.

# %%
simulated = bayesgmm.make_gmm_data(
    300,
    weights=[0.4, 0.35, 0.25],
    means=[[0.0, 0.0], [3.0, 0.5], [1.0, 4.0]],
    covariances=[1.0, 1.0, 1.0],
    random_seed=2,
)
X = simulated.X
rng = np.random.default_rng(0)
start = X[rng.choice(len(X), size=3, replace=False)]  # one start, shared by every method
print("start (3 random rows):\n", start.round(3))

# %% [markdown]
# ## 2. The responsibilities harden as $\sigma^2$ shrinks
#
# `bayesgmm.fit_em_fixed_variance` runs the EM above from `start` at a fixed $\sigma^2$
# until the means stop moving. Below, from large to small $\sigma^2$: each point is
# coloured by its responsibilities (red, green, blue = components 1, 2, 3, mixed in
# proportion), and the black crosses are the fixed-point means.

# %%
variances = [4.0, 1.0, 0.25, 1e-3]
fits = {v: bayesgmm.fit_em_fixed_variance(X, start, v) for v in variances}

fig, axes = plt.subplots(1, 4, figsize=(13, 3.6), sharex=True, sharey=True, layout="constrained")
for ax, (variance, fit) in zip(axes, fits.items(), strict=True):
    ax.scatter(X[:, 0], X[:, 1], c=fit.responsibilities, s=12)
    ax.scatter(*fit.means.T, marker="x", s=90, color="black", linewidths=2.5)
    ax.set(title=f"$\\sigma^2$ = {variance:g}", xlabel="$x_1$ (unitless)")
axes[0].set_ylabel("$x_2$ (unitless)")
fig.suptitle("EM at a fixed shared variance: colour = responsibilities (RGB)")
plt.show()

# %% [markdown]
# At $\sigma^2 = 4$ (a component twice as wide as the clusters) one Gaussian explains the
# data as well as three: the three means merge at the data mean and every point is shared
# equally (grey). At $\sigma^2 = 1$, the true variance, the three components separate and
# only the points between clusters have mixed colours. At $\sigma^2 = 10^{-3}$ every point
# is pure red, green or blue: a hard partition. The table measures the hardening (the
# average of each point's largest responsibility) and how far the means are from
# scikit-learn's `KMeans` started from the same three rows:

# %%
kmeans = KMeans(3, init=start, n_init=1, tol=0, max_iter=1000).fit(X)
grid = np.geomspace(8.0, 1e-8, 18)
rows = []
for variance in grid:
    fit = bayesgmm.fit_em_fixed_variance(X, start, variance, max_iter=5000)
    rows.append(
        {
            "sigma^2": variance,
            "EM iterations": fit.n_iter,
            "mean max responsibility": fit.responsibilities.max(axis=1).mean(),
            "max |mu - KMeans centre|": np.abs(fit.means - kmeans.cluster_centers_).max(),
        }
    )
path = pd.DataFrame(rows)
path.iloc[::2]

# %%
fig, ax1 = plt.subplots(figsize=(6.5, 4))
ax1.semilogx(path["sigma^2"], path["mean max responsibility"], "o-", color="C0")
ax1.set(xlabel="shared variance $\\sigma^2$ (squared units of x)",
        ylabel="mean of max$_k\\ \\gamma_{nk}$ (probability)")  # fmt: skip
ax1.invert_xaxis()
ax2 = ax1.twinx()
ax2.loglog(path["sigma^2"], path["max |mu - KMeans centre|"] + 1e-17, "s--", color="C3")
ax2.set_ylabel("max |EM mean − KMeans centre| (units of x)", color="C3")
ax1.set_title("hardening, and the distance to k-means ($\\sigma^2$ decreasing →)")
plt.show()

# %% [markdown]
# Read the figure from left to right ($\sigma^2$ decreasing). The blue curve rises from
# $1/3$ (all points shared equally) to 1 (every point assigned to one component). The red
# curve is the largest distance between the EM means and the `KMeans` centres: a few
# units while the components are merged, hundredths of a unit while a few points are
# still split, and then, once $\sigma^2$ is below about $10^{-3}$ here, the rounding
# floor ($9 \times 10^{-16}$): from there on the EM fixed point *is* the k-means answer.
# (Between $10^{-2}$ and $10^{-3}$ the responsibilities are already hard to four digits
# but EM, started from the same rows, can still settle on a neighbouring partition that
# differs by a point or two: the distance is not monotone there.) The test suite checks this on
# random data (`tests/test_kmeans_limit.py`: equal to `KMeans` to $10^{-8}$).

# %%
tiny = bayesgmm.fit_em_fixed_variance(X, start, 1e-10)
print("EM iterations at sigma^2 = 1e-10:", tiny.n_iter, "  KMeans iterations:", kmeans.n_iter_)
print("max |EM mean - KMeans centre|:", np.abs(tiny.means - kmeans.cluster_centers_).max())
print("same labels:", bool(np.all(tiny.responsibilities.argmax(axis=1) == kmeans.labels_)))

# %% [markdown]
# ## 3. What k-means' single answer leaves out
#
# k-means returns one partition and three centres, with no statement of how sure it is.
# The Bayesian spherical mixture (`covariance_type="spherical"`: one variance per
# component, learned rather than fixed, and learned weights) gives a posterior over the
# centres and over every point's membership (NUTS, 2 chains of 1000 draws):

# %%
bayes = bayesgmm.BayesianGMM(3, covariance_type="spherical", random_seed=1, progressbar=False)
bayes.fit(X)
print(bayes.label_report_)
members = bayesgmm.membership(bayes)
print("ambiguous points (largest membership probability < 0.8):", int(members.ambiguous.sum()))

# %% [markdown]
# Left: 100 posterior draws of the three centres (small dots, one colour per relabeled
# component) around the `KMeans` centres (black crosses). Right: each point's largest
# membership probability under the posterior; k-means gives every point probability 1.

# %%
post = bayes.idata_.posterior["means"].stack(sample=("chain", "draw")).transpose("sample", ...)
shown = post.isel(sample=slice(None, None, 10)).values  # (100, K, D)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.3), layout="constrained")
ax1.scatter(X[:, 0], X[:, 1], s=8, color="0.8", label="data")
for k in range(3):
    ax1.scatter(shown[:, k, 0], shown[:, k, 1], s=6, color=f"C{k}", label=f"draws, component {k}")
ax1.scatter(*kmeans.cluster_centers_.T, marker="x", s=120, color="black", linewidths=2.5,
            label="KMeans centres")  # fmt: skip
ax1.set(xlabel="$x_1$ (unitless)", ylabel="$x_2$ (unitless)", title="centres: posterior vs k-means")
ax1.legend(fontsize=8, loc="upper right")
points = ax2.scatter(X[:, 0], X[:, 1], c=members.max_probability, s=14, cmap="viridis_r",
                     vmin=1 / 3, vmax=1)  # fmt: skip
fig.colorbar(points, ax=ax2, label="largest membership probability")
ax2.set(xlabel="$x_1$ (unitless)", ylabel="$x_2$ (unitless)", title="how sure is each label?")
plt.show()

# %% [markdown]
# The posterior clouds sit on the k-means centres: with 75-120 points per cluster the
# centres are well determined, to within about a tenth of the cluster width. The real
# difference is in the memberships: points in the overlap of the two lower clusters have
# largest probabilities between 0.5 and 0.7 (green), which k-means would report as certain. The
# points where k-means and the posterior disagree are exactly those:

# %%
p_mean = members.probabilities["mean"].transpose("obs", "component").values
hdi_low = members.probabilities["hdi_low"].transpose("obs", "component").values
hdi_high = members.probabilities["hdi_high"].transpose("obs", "component").values
# Match posterior components to k-means clusters by their centres (labels are arbitrary).
centres = post.mean("sample").values
match = np.argmin(((centres[:, None] - kmeans.cluster_centers_[None]) ** 2).sum(-1), axis=0)
obs = np.arange(len(X))
table = pd.DataFrame(
    {
        "x1": X[:, 0],
        "x2": X[:, 1],
        "k-means cluster": kmeans.labels_,
        "P(same cluster as k-means)": p_mean[obs, match[kmeans.labels_]],
        "94% HDI low": hdi_low[obs, match[kmeans.labels_]],
        "94% HDI high": hdi_high[obs, match[kmeans.labels_]],
    }
)
table.sort_values("P(same cluster as k-means)").head(8).round(3)

# %% [markdown]
# For these points the posterior probability of k-means' own cluster is at or below
# one half, and its 94% interval is wide: the data do not say which cluster they belong
# to. k-means is the $\sigma^2 \to 0$ limit of a model whose components have no width, so
# it cannot express that doubt.
#
# ## Conclusions
#
# - EM on a mixture with a fixed shared variance $\sigma^2 I$ has soft responsibilities;
#   as $\sigma^2$ shrinks they harden, and below a data-dependent scale the EM fixed
#   point is exactly k-means' answer from the same start (here to $10^{-15}$).
# - At large $\sigma^2$ the components merge: the width of the components, not only their
#   number, decides how many clusters EM finds.
# - The Bayesian spherical mixture agrees with k-means on the centres and adds what
#   k-means cannot give: how uncertain each point's cluster is.
