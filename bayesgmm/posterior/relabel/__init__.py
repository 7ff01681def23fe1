"""Label-switching (relabeling) algorithms for posterior draws of mixture models.

Every function works on plain numpy arrays whose first axis indexes posterior draws.

Permutation convention
----------------------
A permutation array ``perms`` has shape ``(S, K)`` (``S`` draws, ``K`` components) and an
integer dtype. ``perms[s, k] = j`` means *new label* ``k`` *takes old component* ``j`` *of
draw* ``s``::

    relabeled[s, k] = original[s, perms[s, k]]

The identity permutation is ``np.arange(K)``. Use :func:`apply_permutations` to relabel
component-indexed parameters and :func:`relabel_allocations` to relabel allocation vectors
(whose *values*, not axes, are labels).

References
----------
.. [1] Stephens, M. (2000). Dealing with label switching in mixture models. JRSS-B 62(4).
.. [2] Papastamoulis, P. and Iliopoulos, G. (2010). An artificial allocations based solution
   to the label switching problem in Bayesian analysis of mixtures of distributions. JCGS 19(2).
.. [3] Marin, J.-M., Mengersen, K. and Robert, C. P. (2005). Bayesian modelling and inference
   on mixtures of distributions. Handbook of Statistics 25.
.. [4] Papastamoulis, P. (2016). label.switching: An R package for dealing with the label
   switching problem in MCMC outputs. JSS 69(1).
"""

from __future__ import annotations

from bayesgmm.posterior.relabel.equivalence import ecr, ecr_iterative
from bayesgmm.posterior.relabel.permutations import (
    RelabelResult,
    allocations_from_probabilities,
    apply_permutations,
    compose_permutations,
    invert_permutations,
    order_by_feature,
    relabel_allocations,
)
from bayesgmm.posterior.relabel.pivotal import pivot
from bayesgmm.posterior.relabel.stephens_kl import stephens, stephens_blocks

__all__ = [
    "RelabelResult",
    "allocations_from_probabilities",
    "apply_permutations",
    "compose_permutations",
    "ecr",
    "ecr_iterative",
    "invert_permutations",
    "order_by_feature",
    "pivot",
    "relabel_allocations",
    "stephens",
    "stephens_blocks",
]
