"""The one line that says an edited model runs on its PyMC graph.

Every runner (NUTS, ADVI, MAP) asks :func:`edited_model_note` before it dispatches: an
unedited model may run on the compiled kernel; an edited one (see
:mod:`bayesgmm.bayes.model.fingerprint`) runs on the user's PyMC graph, says so once, and
its InferenceData records the edits in ``attrs["model_edits"]``.
"""

from __future__ import annotations

import warnings

from bayesgmm.bayes.model.graph import GMMModel
from bayesgmm.exceptions import EditedModelWarning

__all__ = ["edited_model_note"]


def edited_model_note(gmm: GMMModel, runner: str) -> str:
    """The model's edits joined in one string (``""`` when unedited), warned once.

    Parameters
    ----------
    gmm : GMMModel
    runner : str
        The fit about to run, named in the warning ("NUTS", "ADVI", "MAP").

    Returns
    -------
    str
        ``"; "``-joined edits, the value of ``idata.attrs["model_edits"]``.

    Raises
    ------
    ValueError
        A data container holds other values than at build (``pm.set_data``).
    """
    changes = gmm.edits
    new_data = [edit for edit in changes if edit.startswith("data container")]
    if new_data:
        # The GMMModel's data, internal units, observed_data and log-likelihood are those
        # of the data it was built on: a fit of other data would mix the two.
        raise ValueError(
            f"{'; '.join(new_data)}: a GMMModel's units, observed data and log-likelihood "
            "are those of the data it was built on. Build a model of the new data with "
            "build_model(X_new, ...) (and repeat your edits on it) instead of pm.set_data."
        )
    edits = "; ".join(changes)
    if edits:
        warnings.warn(
            f"the model was edited ({edits}): {runner} runs on its PyMC graph, not on "
            "bayesgmm's compiled kernel, which evaluates only the model build_model writes.",
            EditedModelWarning,
            stacklevel=3,
        )
    return edits
