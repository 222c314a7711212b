"""``bcl evaluate``: evaluation report of predictions (and reader reads) against labels."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from bcl_core.commands import command_help

logger = logging.getLogger(__name__)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` subcommand."""
    parser = subparsers.add_parser(
        "evaluate",
        help=command_help("evaluate"),
        description="Compare predictions.csv (bcl predict-batch) with labels.csv (bcl synth or the reference "
        "standard) and, optionally, a reader study's reads.csv; write report.html, tables/*.csv and "
        "figures/*.png into --out. Formats: docs/evaluation.md.",
    )
    parser.add_argument("--pred", required=True, type=Path, help="predictions.csv")
    parser.add_argument("--labels", required=True, type=Path, help="labels.csv")
    parser.add_argument("--reads", type=Path, default=None, help="reads.csv (long format), optional")
    parser.add_argument("--out", required=True, type=Path, help="output folder (created if needed)")
    # Defaults live in bcl_core.stats; resolved in run() so `bcl --help` need not import scipy.
    parser.add_argument("--bootstrap", type=_positive_int, default=None,
                        help="bootstrap resamples for F1 and Fleiss' kappa intervals "
                             "(default: bcl_core.stats.DEFAULT_RESAMPLES)")
    parser.add_argument("--seed", type=int, default=None,
                        help="bootstrap seed (default: bcl_core.stats.DEFAULT_SEED)")
    parser.add_argument("--mrmc-covariance", default="delong", metavar="{delong,jackknife}",
                        help="AUROC covariance of the Obuchowski-Rockette model-vs-readers analyses "
                             "(default: delong; jackknife as OR-DBM MRMC and RJafroc)")
    parser.add_argument("--no-png", action="store_true", help="skip the matplotlib PNG figures")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the evaluation; exit 0 on success (errors surface as BCLError, exit 2)."""
    start = time.perf_counter()
    from bcl_core.errors import EvaluationInputError
    from bcl_core.evaluation.analysis import evaluate
    from bcl_core.evaluation.loading import assemble
    from bcl_core.evaluation.report import write_report
    from bcl_core.evaluation.scorers import EvaluationSettings
    from bcl_core.stats import DEFAULT_RESAMPLES, DEFAULT_SEED
    from bcl_core.stats.mrmc import COVARIANCE_METHODS

    if args.mrmc_covariance not in COVARIANCE_METHODS:
        raise EvaluationInputError(f"--mrmc-covariance must be one of {', '.join(COVARIANCE_METHODS)}, "
                                   f"got {args.mrmc_covariance!r}.")
    resamples = DEFAULT_RESAMPLES if args.bootstrap is None else args.bootstrap
    seed = DEFAULT_SEED if args.seed is None else args.seed
    data = assemble(args.pred, args.labels, args.reads)
    result = evaluate(data, EvaluationSettings(n_resamples=resamples, seed=seed,
                                                    mrmc_covariance=args.mrmc_covariance))
    report = write_report(result, args.out, pngs=not args.no_png)
    sys.stdout.write(
        f"{report} ({len(data.case_ids)} cases, {len(data.reader_ids)} readers, "
        f"{time.perf_counter() - start:.1f} s)\n"
    )
    for note in result.notes:
        logger.warning("%s", note)
    return 0
