"""``bcl synth``: write synthetic CT + MRI cases with known leakage labels.

``bcl synth --out DIR --cases N --site {internal,prospective,external} --seed S [--compact]
[--generation {1,2}]`` writes ``DIR/<case_id>/{ct,mr}/*.dcm``, ``truth.json``, ``ct_mask.nii.gz``, ``mr_mask.nii.gz``
and ``DIR/labels.csv`` (see :mod:`bcl_core.phantom.writer`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from bcl_core.commands import command_help
from bcl_core.phantom.generation import DEFAULT_GENERATION, GENERATIONS
from bcl_core.phantom.sites import SITES


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """argparse type: a whole number no smaller than ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def register(subparsers: Any) -> None:
    """Add the ``synth`` subcommand."""
    parser = subparsers.add_parser(
        "synth",
        help=command_help("synth"),
        description="Write synthetic thoracolumbar CT + sagittal T2 MRI cases of one site with "
        "an acute compression fracture, masks, truth.json and labels.csv (generation 2 adds "
        "sagittal STIR and T1 series in stir/ and t1/). Synthetic data only: no real patient.",
    )
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--cases", required=True, type=_int_at_least(1), help="number of cases")
    parser.add_argument("--site", required=True, choices=sorted(SITES),
                        help="acquisition site profile")
    parser.add_argument("--seed", required=True, type=_int_at_least(0),
                        help="random seed; the same seed writes the same pixel data")
    parser.add_argument("--compact", action="store_true",
                        help="smaller field of view and fewer slices (fast training sets)")
    parser.add_argument("--workers", type=_int_at_least(1), default=None,
                        help="worker processes (default: one per CPU)")
    parser.add_argument("--generation", type=int, choices=sorted(GENERATIONS),
                        default=DEFAULT_GENERATION,
                        help="generator generation: 1 (default, what the shipped models were "
                        "trained on) or 2 (realistic noise, anatomy, artefacts, STIR and T1 "
                        "series; docs/phantom.md)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate the cases with a progress bar on stderr; returns the exit code."""
    from tqdm import tqdm

    from bcl_core.phantom.batch import synthesize

    with tqdm(total=args.cases, desc=f"synth {args.site}", unit="case", file=sys.stderr,
              dynamic_ncols=True) as bar:
        rows = synthesize(args.out, args.cases, args.site, args.seed, compact=args.compact,
                          workers=args.workers, on_case_done=lambda _row: bar.update(1),
                          generation=args.generation)
    any_leak = sum(1 for r in rows if any(r[f"type{t}"] for t in range(1, 5)))
    sys.stdout.write(f"wrote {len(rows)} {args.site} cases to {args.out} "
                     f"({any_leak} with some leakage); labels in {args.out}/labels.csv\n")
    return 0
