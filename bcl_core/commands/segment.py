"""``bcl segment SERIES --point X,Y,Z --out mask.nii.gz``: the target vertebra's mask."""

from __future__ import annotations

import argparse
import sys

from bcl_core.commands import command_help
from bcl_core.errors import InputError


def parse_point(text: str) -> tuple[float, float, float]:
    """Parse ``"X,Y,Z"`` (LPS mm) into three finite floats.

    Raises
    ------
    argparse.ArgumentTypeError
        With a message saying what a point looks like.

    Examples
    --------
    >>> parse_point("12.5,-30,410")
    (12.5, -30.0, 410.0)
    """
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or not all(abs(v) < 1e6 for v in values):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a point; give three numbers in LPS mm as X,Y,Z, e.g. 12.5,-30,410")
    return values  # type: ignore[return-value]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``segment`` subcommand."""
    parser = subparsers.add_parser(
        "segment", help=command_help("segment"),
        description="Segment the vertebra at --point (LPS mm in the series' own frame) and write "
                    "its mask as NIfTI on the series' grid. Models trained on synthetic data.")
    parser.add_argument("series", help="DICOM series: folder, file list or zip")
    parser.add_argument("--point", required=True, type=parse_point, metavar="X,Y,Z",
                        help="a point inside the target vertebral body, LPS mm")
    parser.add_argument("--out", required=True, help="output mask (.nii or .nii.gz)")
    parser.add_argument("--model", default=None,
                        help="model sidecar .json (default: the shipped model for the modality)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Segment and write the mask; returns the exit code."""
    from bcl_core.io import load_volume
    from bcl_core.io.nifti import write_nifti
    from bcl_core.predict.runtime import load_model
    from bcl_core.predict.segment import segment_vertebra

    if not str(args.out).endswith((".nii", ".nii.gz")):
        raise InputError(f"--out must end in .nii or .nii.gz, got {args.out}.")
    volume = load_volume(args.series)
    model = load_model(args.model) if args.model else None
    mask = segment_vertebra(volume, args.point, model=model)
    write_nifti(mask, args.out)
    meta = mask.metadata
    sys.stdout.write(f"wrote {args.out}: {meta['volume_ml']:.1f} ml, model {meta['model']} "
                     f"{meta['model_version']}, {meta['provider']}\n")
    return 0
