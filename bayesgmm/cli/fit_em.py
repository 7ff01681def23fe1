"""``bayesgmm fit-em data.csv -k K``: EM or MAP-EM only, printed (no file written)."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from bayesgmm.cli._common import (
    COVARIANCE_TYPES,
    UsageError,
    _emit_warnings,
    _fit_summary,
    add_observation_arguments,
    read_observed_csv,
)
from bayesgmm.cli._format import (
    _format_summary,
    format_parameters,
)


def _cmd_fit_em(args: argparse.Namespace) -> int:
    # Cheap option checks first, before reading any data.
    if args.n_components < 1:
        raise UsageError(f"-k/--n-components must be >= 1; got {args.n_components}.")
    if args.n_init < 1:
        raise UsageError(f"--n-init must be >= 1; got {args.n_init}.")
    if args.max_iter < 1:
        raise UsageError(f"--max-iter must be >= 1; got {args.max_iter}.")
    if args.reg_covar < 0:
        raise UsageError(f"--reg-covar must be >= 0; got {args.reg_covar}.")

    frame, weights, labels = read_observed_csv(args)
    n_samples, n_features = frame.shape
    if args.n_components > n_samples:
        raise UsageError(
            f"-k/--n-components={args.n_components} exceeds the number of rows ({n_samples}) "
            f"in {args.data!r}; each component needs data. Use a smaller K."
        )

    from bayesgmm.estimators.bayesian import GaussianMixtureEM

    model = GaussianMixtureEM(
        args.n_components,
        covariance_type=args.covariance_type,
        n_init=args.n_init,
        max_iter=args.max_iter,
        tol=args.tol,
        reg_covar=args.reg_covar,
        prior=None if args.prior == "none" else "default",
        random_seed=args.seed,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(frame, sample_weight=weights, labels=labels)
        proba = model.predict_proba(frame)
    _emit_warnings(caught, sys.stderr)

    fit = model.result_
    names = [str(c) for c in frame.columns]
    mode = "MAP-EM (Fraley & Raftery 2007 prior)" if args.prior == "default" else "EM (ML)"
    print(
        f"{mode} on {args.data}: N={n_samples}, D={n_features} ({', '.join(names)}), "
        f"K={args.n_components}, covariance_type={args.covariance_type!r}, "
        f"n_init={args.n_init}, seed={args.seed}",
    )
    print()
    print(format_parameters(fit.weights, fit.means, fit.covariances, fit.covariance_type, names))
    print()
    print(_format_summary(_fit_summary(fit), map_em=args.prior == "default"))
    if args.labels_out is not None:
        written = _write_labels(args.labels_out, proba.argmax(axis=1), proba)
        print(f"\nWrote labels and membership probabilities to {written}")
    return 0


def add_parser(sub: Any) -> None:
    """Add the ``fit-em`` sub-command to ``sub``."""
    fit = sub.add_parser(
        "fit-em",
        help="fit a Gaussian mixture to a CSV file by EM or MAP-EM",
        description=(
            "Fit a K-component Gaussian mixture to the numeric columns of a CSV file "
            "(header row required) and print the parameters, log-likelihood, BIC, AIC, ICL "
            "and convergence."
        ),
    )
    fit.add_argument("data", metavar="data.csv", help="CSV file with a header row")
    fit.add_argument(
        "-k",
        "--n-components",
        type=int,
        required=True,
        metavar="K",
        help="number of components",
    )
    fit.add_argument(
        "--covariance-type",
        choices=COVARIANCE_TYPES,
        default="full",
        help="covariance structure (default: full)",
    )
    fit.add_argument("--n-init", type=int, default=5, help="EM restarts (default: 5)")
    fit.add_argument(
        "--prior",
        choices=("none", "default"),
        default="none",
        help="none: maximum likelihood; default: MAP-EM with the Fraley & Raftery (2007) prior",
    )
    fit.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    fit.add_argument(
        "--columns",
        default=None,
        metavar="A,B",
        help="comma-separated columns to use (default: all)",
    )
    fit.add_argument("--max-iter", type=int, default=1000, help="EM iterations (default: 1000)")
    fit.add_argument(
        "--tol",
        type=float,
        default=None,
        help="stop when the log-likelihood changes by less than TOL per sample, scikit-learn's "
        "rule (default: a relative change below 1e-8, as mclust)",
    )
    fit.add_argument(
        "--reg-covar",
        type=float,
        default=1e-6,
        help="floor added to covariance diagonals (default: 1e-6)",
    )
    fit.add_argument(
        "--labels-out",
        metavar="labels.csv",
        default=None,
        help="write the predicted label, uncertainty and membership probabilities per row",
    )
    add_observation_arguments(fit)
    fit.set_defaults(func=_cmd_fit_em)


def _write_labels(path_text: str, labels: Any, proba: Any) -> Path:
    """Write ``--labels-out`` (:func:`bayesgmm.io.write_labels`), its folder checked first."""
    from bayesgmm.io import write_labels

    path = Path(path_text)
    if path.parent != Path() and not path.parent.is_dir():
        raise UsageError(f"--labels-out: directory {str(path.parent)!r} does not exist.")
    return write_labels(path, labels, proba)
