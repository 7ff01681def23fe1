"""``bayesgmm fit-em data.csv -k K``: EM or MAP-EM only, printed (no file written)."""

from __future__ import annotations

import argparse
import sys
import warnings

from bayesgmm.cli._common import (
    UsageError,
    _emit_warnings,
    _fit_summary,
    add_csv_arguments,
    add_observation_arguments,
    read_observed_csv,
)
from bayesgmm.cli._format import (
    _format_summary,
    format_parameters,
)
from bayesgmm.cli._outputs import (
    add_force_argument,
    check_output_file,
    input_files,
    write_output,
)
from bayesgmm.mixture.structures import COVARIANCE_NAMES


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

    labels_out = None
    if args.labels_out is not None:
        labels_out = check_output_file(
            args.labels_out, "--labels-out", input_files(args.data), force=args.force
        )
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
        missing=args.missing,
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
    if labels_out is not None:
        from bayesgmm.io import write_labels

        write_output(labels_out, lambda path: write_labels(path, proba.argmax(axis=1), proba))
        print(f"\nWrote labels and membership probabilities to {labels_out}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``fit-em`` sub-command to ``sub``."""
    fit = sub.add_parser(
        "fit-em",
        help="fit a Gaussian mixture to a CSV file by EM or MAP-EM",
        description=(
            "Fit a K-component Gaussian mixture to the numeric columns of a CSV file "
            "and print the parameters, log-likelihood, BIC, AIC, ICL and convergence. The "
            "file needs a header row unless --no-header; its delimiter and decimal mark are "
            "sniffed (or given by --delimiter / --decimal) and ragged rows are refused."
        ),
    )
    fit.add_argument("data", metavar="data.csv", help="CSV file (a header row unless --no-header)")
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
        choices=COVARIANCE_NAMES,
        default="full",
        metavar="TYPE",
        help="covariance structure: full, tied, diag, spherical or one of mclust's 14 "
        "(EII, VII, EEI, VEI, EVI, VVI, EEE, VEE, EVE, VVE, EEV, VEV, EVV, VVV; E or V "
        "for 1-D data) (default: full)",
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
        help="write the predicted label, uncertainty and membership probabilities per row "
        "(never to the data file; an existing file needs --force)",
    )
    add_force_argument(fit, "--labels-out")
    add_csv_arguments(fit)
    add_observation_arguments(fit)
    fit.set_defaults(func=_cmd_fit_em)
