"""An unbiased minibatch estimate of the model's log density, on the compiled kernel.

Stochastic variational inference needs, at every step, an unbiased estimate of
``log p(theta) + sum_n log p(x_n | theta)`` and of its gradient. With a minibatch ``B`` of
``b`` points drawn uniformly (with replacement) from ``N``::

    log p(theta) + (N / b) * sum_{n in B} log p(x_n | theta)

The kernel evaluates prior plus likelihood together; evaluated on zero points it gives the
prior alone, so the likelihood of the batch is the difference of the two calls. Unlike
``pm.Minibatch`` this compiles no graph and copies only ``b x D`` values per step.

With missing values (NaN) the kernel's buffer groups the rows by missingness pattern, so
each step packs a new buffer for its batch (the patterns of those rows): an O(b log b)
sort per step, small beside the batch's density at any b worth a minibatch.
"""

from __future__ import annotations

import numpy as np

from bayesgmm.bayes.kernel import bindings as kernel

__all__ = ["MinibatchDensity"]


class MinibatchDensity:
    """``theta -> (estimate of the log density, its gradient)`` from random minibatches.

    Parameters
    ----------
    X : ndarray of shape (N, D)
        Data in the model's internal units.
    spec : kernel.KernelSpec
    batch_size : int
        Points per estimate (``1 <= batch_size <= N``).
    rng : numpy Generator
        Draws the minibatches.
    sample_weight, labels : ndarray of shape (N,), optional
        Observation weights and partial labels (``-1`` unknown): each batch carries those
        of its rows, so the estimate stays unbiased for the weighted, labelled density.
    """

    def __init__(
        self,
        X: np.ndarray,
        spec: kernel.KernelSpec,
        batch_size: int,
        rng: np.random.Generator,
        sample_weight: np.ndarray | None = None,
        labels: np.ndarray | None = None,
    ) -> None:
        n_samples = X.shape[0]
        if not 1 <= int(batch_size) <= n_samples:
            raise ValueError(f"minibatch_size must be in [1, {n_samples}]; got {batch_size}.")
        self._features_major = np.ascontiguousarray(X.T)  # rows gathered per feature
        self._batch = int(batch_size)
        self._scale = n_samples / self._batch
        self._rng = rng
        self._prior = kernel.kernel_buffer(X[:0], spec)
        # float64, as the buffer stores them, so that np.take fills the views directly
        self._weights = None if sample_weight is None else np.asarray(sample_weight, np.float64)
        self._labels = None if labels is None else np.asarray(labels, np.float64)
        self._spec, self._missing = spec, bool(np.isnan(X).any())
        if self._missing:  # one buffer per batch (see the module docstring)
            self._rows = np.asarray(X, dtype=np.float64)
            return
        first = slice(0, self._batch)
        self._buffer = kernel.kernel_buffer(
            X[first],
            spec,
            None if sample_weight is None else sample_weight[first],
            None if labels is None else labels[first],
        )
        # Views of the batch's X (feature-major), weights and labels: refilled per step.
        self._data, self._batch_weights, self._batch_labels = kernel.data_views(self._buffer)

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        rows = self._rng.integers(0, self._features_major.shape[1], self._batch)
        buffer = self._missing_buffer(rows) if self._missing else self._refill(rows)
        prior, prior_grad = kernel.logp_and_grad(theta, self._prior)
        total, grad = kernel.logp_and_grad(theta, buffer)
        return (
            prior + self._scale * (total - prior),
            prior_grad + self._scale * (grad - prior_grad),
        )

    def _refill(self, rows: np.ndarray) -> np.ndarray:
        """The batch's rows into the views of the one buffer."""
        np.take(self._features_major, rows, axis=1, out=self._data)
        if self._weights is not None:
            np.take(self._weights, rows, out=self._batch_weights)
        if self._labels is not None:
            np.take(self._labels, rows, out=self._batch_labels)
        return self._buffer

    def _missing_buffer(self, rows: np.ndarray) -> np.ndarray:
        """A buffer of the batch's rows, grouped by their missingness patterns."""
        weights = None if self._weights is None else self._weights[rows]
        labels = None if self._labels is None else self._labels[rows]
        return kernel.kernel_buffer(self._rows[rows], self._spec, weights, labels)
