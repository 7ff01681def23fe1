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
# # Handwritten digits with K = 10: EM, the posterior, and 10! labellings
#
# The textbook example of a mixture model on images (Bishop, *PRML*, section 9.3.3, on
# MNIST) fits one component per digit without being told the digits. Here the same idea
# runs on scikit-learn's `digits`, 1,797 handwritten digits of 8 x 8 pixels that ship
# with scikit-learn (no download). We fit a 10-component Gaussian mixture by EM and
# approximate its posterior, draw the component means as images, look at the digits
# whose cluster is most uncertain, score the clusters against the true digits, and see
# how the $10! = 3{,}628{,}800$ equivalent labellings of the components show up in
# posterior draws.
#
# **Choices made to keep this under a minute.** The 64 pixels are reduced to their first
# 10 principal components (PCA), which keep the digits recognisable, and the posterior is
# approximated by ADVI (mean-field variational inference) on bayesgmm's compiled kernel,
# 5,000 steps on all the data, then 500 draws from the approximation. NUTS on this model
# (10 components with full 10 x 10 covariances, 659 parameters) takes minutes, not
# seconds; ADVI's intervals are approximate, and mean-field ADVI is known to make them
# too narrow.

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score

import bayesgmm

plt.rcParams["figure.dpi"] = 90
pd.set_option("display.precision", 3)
# Notices about this machine's installation, not about the model:
warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
warnings.filterwarnings("ignore", message="IProgress not found")

# %% [markdown]
# ## 1. Data, reduced by PCA
#
# Each digit is 64 pixel intensities from 0 (white) to 16 (black). PCA keeps the 10
# directions of largest variance; a component mean found in those 10 coordinates maps
# back to an 8 x 8 image through the inverse transform.

# %%
digits = load_digits()
pixels, truth = digits.data, digits.target
pca = PCA(10, random_state=0).fit(pixels)
Z = pca.transform(pixels)
print(f"{pixels.shape[0]} digits x {pixels.shape[1]} pixels -> {Z.shape[1]} PCA coordinates,"
      f" keeping {pca.explained_variance_ratio_.sum():.0%} of the pixel variance")  # fmt: skip
print("digits per class:", np.bincount(truth))


def as_images(coordinates: np.ndarray) -> np.ndarray:
    """PCA coordinates (n, 10) -> images (n, 8, 8) in pixel intensities, clipped to 0-16."""
    return np.clip(pca.inverse_transform(coordinates), 0, 16).reshape(-1, 8, 8)


# %% [markdown]
# ## 2. EM and the posterior, K = 10
#
# EM with full covariances, best of 3 runs; then the posterior by ADVI, started from a
# MAP-EM fit. Neither is told the digits.

# %%
em = bayesgmm.GaussianMixtureEM(10, covariance_type="full", n_init=3, random_seed=0).fit(Z)
settings = {"method": "advi", "advi_steps": 5000, "draws": 500, "progressbar": False}
advi = bayesgmm.BayesianGMM(10, random_seed=0, **settings).fit(Z)
post_means = advi.idata_.posterior["means"].mean(("chain", "draw")).values  # (10, 10)

# Name each component by the true digit most of its points are, to read the figures.
em_labels, advi_labels = em.predict(Z), advi.predict(Z)


def majority_digit(labels: np.ndarray) -> np.ndarray:
    return np.array([np.bincount(truth[labels == k], minlength=10).argmax() for k in range(10)])


em_digit, advi_digit = majority_digit(em_labels), majority_digit(advi_labels)
# Put the posterior's components in EM's order (Hungarian matching of the means).
_, advi_order = linear_sum_assignment(((em.means_[:, None] - post_means[None]) ** 2).sum(-1))
em_order = np.argsort(em_digit, kind="stable")

fig, axes = plt.subplots(2, 10, figsize=(11, 2.9), layout="constrained")
for col, k in enumerate(em_order):
    j = advi_order[k]
    pair = [(em.means_[k], em_digit[k]), (post_means[j], advi_digit[j])]
    for row, (mean, digit) in enumerate(pair):
        image = as_images(mean[None])[0]
        axes[row, col].imshow(image, cmap="gray_r", vmin=0, vmax=16)
        axes[row, col].set_xticks([])
        axes[row, col].set_yticks([])
        axes[row, col].set_xlabel(f"mostly {digit}", fontsize=8)
axes[0, 0].set_ylabel("EM")
axes[1, 0].set_ylabel("posterior\n(ADVI)")
fig.suptitle("component means as 8 x 8 images (ink 0-16, darker = more ink)")
plt.show()

# %% [markdown]
# Each column is one EM component (top), its mean mapped back to pixels, above the
# posterior component matched to it (bottom, the posterior mean of the mean), each with
# the true digit most of its points are. Most components are clearly one digit, and most
# matched pairs agree. Where they do not, similar digits are grouped differently: EM
# gives two components to the 1s and none to the 9s, while the posterior's components
# are a 9, an 8 and a 3 where EM has a 1, a 3 and an 8. The mixture finds ten *clusters*,
# and nothing forces them to be the ten *digits*. The scores against the true digits, by
# the adjusted Rand index (ARI: 1 is a perfect match, 0 what random labels give), with
# k-means on the same coordinates for reference:

# %%
kmeans_labels = KMeans(10, n_init=10, random_state=0).fit_predict(Z)
scores = pd.Series(
    {
        "k-means": adjusted_rand_score(truth, kmeans_labels),
        "EM, full covariances": adjusted_rand_score(truth, em_labels),
        "posterior (ADVI), most probable component": adjusted_rand_score(truth, advi_labels),
    },
    name="ARI against the true digits",
)
scores.to_frame()

# %% [markdown]
# ## 3. The most ambiguous digits
#
# `bayesgmm.membership` gives, for every digit and component, the posterior mean of the
# membership probability and its 94% HDI over the draws. The 20 digits whose largest
# membership probability is smallest, with (above each image) the true digit, the two
# most probable components (named by their majority digit) and the probability of the
# first with its HDI:

# %%
members = bayesgmm.membership(advi)
p_mean = members.probabilities["mean"].transpose("obs", "component").values
p_low = members.probabilities["hdi_low"].transpose("obs", "component").values
p_high = members.probabilities["hdi_high"].transpose("obs", "component").values
most_ambiguous = np.argsort(members.max_probability)[:20]
print("digits with largest membership probability < 0.8:", int(members.ambiguous.sum()))

fig, axes = plt.subplots(2, 10, figsize=(12, 3.9), layout="constrained")
for ax, n in zip(axes.ravel(), most_ambiguous, strict=True):
    first, second = np.argsort(-p_mean[n])[:2]
    ax.imshow(pixels[n].reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"true {truth[n]}\n{advi_digit[first]}: {p_mean[n, first]:.2f}"
                 f" [{p_low[n, first]:.2f}, {p_high[n, first]:.2f}]\n"
                 f"{advi_digit[second]}: {p_mean[n, second]:.2f}", fontsize=7.5)  # fmt: skip
fig.suptitle("the 20 most ambiguous digits (pixels, ink 0-16): component 'digit': P [94% HDI]")
plt.show()

# %% [markdown]
# These are digits a person could also hesitate over (an 8 with an open loop, a 9 that
# looks like a 3 or a 5): written in a style between two clusters, so that the mixture
# splits its probability between them, often near 50/50; 48 digits have no component
# above 0.8.
# The intervals say how much of that split is itself uncertain: a wide interval means the
# posterior is not sure *how* ambiguous the digit is. (ADVI's intervals are approximate and
# narrower than a full posterior's would be.)
#
# ## 4. 10! labellings, in raw draws and after relabeling
#
# The likelihood and the prior treat the ten components alike, so every relabelling of a
# posterior draw is an equally good draw: each mode comes in $10! = 3{,}628{,}800$ copies.
# A sampler or a variational fit picks up one copy, depending on where it starts.
#
# To see it, fit the same posterior a second time from another seed: its MAP-EM start
# numbers the components differently. The two fits play the role of two chains (NUTS
# chains started apart do the same, but take minutes here). In the raw draws, component
# $k$ of one fit is a different cluster from component $k$ of the other:

# %%
second = bayesgmm.BayesianGMM(10, random_seed=2, **settings).fit(Z)
# The two fits' draws as the two chains of one posterior (the groups with a chain dim
# other than the posterior, such as the pointwise log-likelihood, are left out).
raw = advi.idata_.copy()
for group in raw.groups():
    if group != "posterior" and "chain" in raw[group].dims:
        del raw[group]
raw.posterior = xr.concat([advi.idata_.posterior, second.idata_.posterior], dim="chain")
raw.posterior = raw.posterior.assign_coords(chain=[0, 1])
relabeled = bayesgmm.relabel_idata(raw, method="stephens")
report = bayesgmm.label_switching_report(raw, relabeled)
print(report)
print("labelling of each chain:", report.chain_modes)

# %%
fig, axes = plt.subplots(4, 10, figsize=(11, 5.2), layout="constrained")
for row, (data, chain, name) in enumerate(
    [(raw, 0, "raw, fit 1"), (raw, 1, "raw, fit 2"),
     (relabeled, 0, "relabeled, fit 1"), (relabeled, 1, "relabeled, fit 2")]
):  # fmt: skip
    means = data.posterior["means"].isel(chain=chain).mean("draw").values
    for k, image in enumerate(as_images(means)):
        axes[row, k].imshow(image, cmap="gray_r", vmin=0, vmax=16)
        axes[row, k].set_xticks([])
        axes[row, k].set_yticks([])
        if row == 3:
            axes[row, k].set_xlabel(f"component {k}", fontsize=8)
    axes[row, 0].set_ylabel(name, fontsize=8)
fig.suptitle("posterior-mean images of components 0-9 (ink 0-16), per fit")
plt.show()

# %% [markdown]
# Top two rows, the raw draws: the same ten clusters, in a different order (the second
# fit's labelling is printed above). Any per-component summary over both fits (a
# posterior mean, an R-hat) would average, say, a "3" with a "9": that is what the
# report's R-hat of 1.83 before relabeling measures. Bottom two rows: `relabel_idata`
# (Stephens' algorithm on the membership probabilities of every draw) found one
# permutation per draw that puts all draws in one labelling, and column $k$ is then the
# same cluster in both fits.
#
# The report is also right not to call everything fine. After relabeling the largest
# per-component R-hat is still 1.18, and the label-invariant R-hat, computed on
# quantities that do not depend on the labels, is 1.02: the two fits describe the same
# clusters, but not exactly the same approximation. They are two separate optimisations
# that stopped at slightly different points, and ADVI's narrow draws make a small shift
# count. Between NUTS chains, the same numbers would call for longer chains; a large
# label-invariant R-hat would mean different clusters, which no relabeling can fix.
#
# ## Conclusions
#
# - Ten Gaussian components on 10 PCA coordinates find most of the ten digits without
#   being told them: ARI 0.73 for EM and 0.76 for the posterior's most probable
#   component, against 0.65 for k-means on the same coordinates. Where they miss, digits
#   written alike (1, 8; 3, 9) share or split components.
# - The posterior adds, for every digit, an interval on its membership probability; the
#   most ambiguous digits are the ones a reader would hesitate over too.
# - The $10!$ labellings are real: two fits of the same posterior number the components
#   differently, and relabeling all draws jointly puts them back into one labelling.
