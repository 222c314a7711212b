"""``bcl inspect PATH [--json]``: list the image series in a folder, file or zip.

Exit 0 when at least one series can be read and decoded (even one unfit for prediction; the
table says why); exit 2 with one ``error: ...`` line when none can. Series descriptions are
shown cleaned (acquisition words only) and files set aside are counted, never named: file
names and free-text descriptions often hold a patient's name, a ward or a date.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

from bcl_core.commands import command_help
from bcl_core.errors import SeriesError
from bcl_core.io.dicom_reader import DicomScan, inspect_input
from bcl_core.io.dicom_series import SeriesInfo

_COLUMNS = ("#", "modality", "plane", "description", "size (i x j x k)", "spacing mm",
            "role", "fit")


def register(subparsers: Any) -> None:
    """Add the ``inspect`` subcommand."""
    parser = subparsers.add_parser(
        "inspect",
        help=command_help("inspect"),
        description="List the image series found (modality, orientation, size, spacing, "
        "problems, whether each can serve for prediction).",
    )
    parser.add_argument("path", help="folder (searched recursively), DICOM file or zip")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def _row(info: SeriesInfo) -> tuple[str, ...]:
    spacing = "x".join(f"{s:.3g}" for s in info.spacing) if info.spacing else "-"
    role = info.role if info.weighting is None else f"{info.role} ({info.weighting})"
    return (str(info.index), info.modality, info.plane or "-", info.description or "-",
            f"{info.columns}x{info.rows}x{info.n_slices}", spacing, role,
            "yes" if info.fit_for_prediction else "no")


def _details(info: SeriesInfo) -> list[str]:
    """Indented lines under a series: why it is unfit, then each problem and its outcome."""
    lines = []
    if not info.fit_for_prediction and not info.refused:
        lines.append(f"    not for prediction: {info.unfit_reason}")
    lines.extend(f"    {problem.outcome}: {problem.message}" for problem in info.problems)
    return lines


def format_table(scan: DicomScan) -> str:
    """The series table as plain text: one aligned row per series, details indented below."""
    rows = [_COLUMNS, *(_row(info) for info in scan.series)]
    widths = [max(len(row[c]) for row in rows) for c in range(len(_COLUMNS))]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))

    lines = [line(_COLUMNS)]
    for info, row in zip(scan.series, rows[1:], strict=True):
        lines.append(line(row).rstrip())
        lines.extend(_details(info))
    footer = f"{scan.n_files} file(s), {len(scan.series)} image series"
    if scan.skipped:
        footer += f"; set aside: {scan.skipped_summary()}"
    return "\n".join([*lines, footer])


def screen_safe(scan: dict[str, Any]) -> dict[str, Any]:
    """The scan's JSON with the files set aside counted by reason instead of named.

    File names often hold a patient's name or a date; they are not shown (descriptions are
    already cleaned by :func:`bcl_core.io.descriptors.clean_description`).

    Examples
    --------
    >>> screen_safe({"skipped": [{"file": "DOE_JANE.txt", "reason": "not DICOM"}]})
    {'skipped': [{'reason': 'not DICOM', 'count': 1}]}
    """
    counts = Counter(entry["reason"] for entry in scan.get("skipped", []))
    return {**scan, "skipped": [{"reason": reason, "count": count}
                                for reason, count in sorted(counts.items())]}


def run(args: argparse.Namespace) -> int:
    """Inspect ``args.path``; returns the exit code."""
    scan = inspect_input(args.path)
    readable = [info for info in scan.series if info.decoded]
    if not readable:
        reasons = "; ".join(f"{info.label}: {info.unfit_reason}" for info in scan.series)
        raise SeriesError(f"No image series in {args.path} can be read ({reasons}).")
    if args.json:
        sys.stdout.write(json.dumps(screen_safe(scan.to_dict()), indent=2) + "\n")
    else:
        sys.stdout.write(format_table(scan) + "\n")
    return 0
