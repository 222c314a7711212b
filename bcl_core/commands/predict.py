"""``bcl predict`` (one case) and ``bcl predict-batch`` (a ``bcl synth`` folder).

Light at import (``bcl --help`` must stay fast): the pipeline, the DICOM reader and pandas load
when a command runs.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from pathlib import Path
from typing import Any

from bcl_core import SYNTHETIC_NOTICE
from bcl_core.commands import command_help
from bcl_core.commands.segment import parse_point
from bcl_core.errors import BCLError, InputError
from bcl_core.leakage import LEAKAGE_TYPES, TYPE_LABELS

logger = logging.getLogger(__name__)

#: predictions.csv columns (DESIGN.md public contract).
PREDICTION_COLUMNS: tuple[str, ...] = (
    "case_id", *(f"prob_{t}" for t in LEAKAGE_TYPES), *(f"call_{t}" for t in LEAKAGE_TYPES))
ERROR_COLUMNS = ("case_id", "error")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``predict`` and ``predict-batch``."""
    one = subparsers.add_parser(
        "predict", help=command_help("predict"),
        description="Segment the marked vertebra on CT and MRI and estimate the probability of "
                    "each leakage type. " + SYNTHETIC_NOTICE)
    one.add_argument("case", type=Path, help="folder or zip holding the axial CT and sagittal MRI")
    one.add_argument("--ct-point", required=True, type=parse_point, metavar="X,Y,Z",
                     help="target vertebral body centre on the CT, LPS mm")
    one.add_argument("--mr-point", required=True, type=parse_point, metavar="X,Y,Z",
                     help="target vertebral body centre on the MRI, LPS mm (its own frame)")
    one.add_argument("--ct-mask", type=Path, default=None, metavar="MASK.nii.gz",
                     help="the target vertebra's mask on the CT's grid (e.g. an edited "
                          "`bcl segment` output): used instead of segmenting the CT")
    one.add_argument("--mr-mask", type=Path, default=None, metavar="MASK.nii.gz",
                     help="the same for the MRI")
    one.add_argument("--json", action="store_true", help="print JSON instead of a table")
    one.set_defaults(func=run_predict)

    batch = subparsers.add_parser(
        "predict-batch", help=command_help("predict-batch"),
        description="Run the prediction pipeline on each case folder (points from its "
                    "truth.json) and write predictions.csv; cases already in the output are "
                    "skipped, failures go to <out>.errors.csv.")
    batch.add_argument("data", type=Path, help="`bcl synth` output folder")
    batch.add_argument("--out", required=True, type=Path, help="predictions.csv to write")
    batch.add_argument("--limit", type=int, default=None, help="only the first N cases")
    batch.set_defaults(func=run_predict_batch)


def run_predict(args: argparse.Namespace) -> int:
    """``bcl predict``."""
    from bcl_core.io.masks import read_mask
    from bcl_core.predict.case import load_case
    from bcl_core.predict.pipeline import predict_case

    if not args.case.exists():
        raise InputError(f"{args.case} does not exist; give the case folder or zip.")
    case = load_case(args.case)
    ct, mr = case.ct, case.mr
    ct_mask = read_mask(args.ct_mask, ct) if args.ct_mask is not None else None
    mr_mask = read_mask(args.mr_mask, mr) if args.mr_mask is not None else None
    result = predict_case(ct, mr, args.ct_point, args.mr_point, ct_mask=ct_mask,
                          mr_mask=mr_mask, with_maps=False)
    document = result.to_json_dict()
    if args.json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        return 0
    lines = [f"BCL Predict model {result.model_version} on {result.provider}", ""]
    for name in LEAKAGE_TYPES:
        call = "HIGH" if result.calls[name] else "low"
        lines.append(f"  {TYPE_LABELS[name]:<55} {result.probabilities[name]:6.1%}  "
                     f"(threshold {result.thresholds[name]:.1%}) {call}")
    lines += ["", f"  total {result.timings_s['total']:.2f} s", "",
              "Model estimate, not a diagnosis. " + SYNTHETIC_NOTICE]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _done_case_ids(path: Path) -> set[str]:
    from bcl_core.io.csv_safe import unescape_cell

    if not path.is_file():
        return set()
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != PREDICTION_COLUMNS:
            raise InputError(f"{path} exists but is not a predictions file of this tool; "
                             "choose another --out or delete it.")
        return {str(unescape_cell(row["case_id"])) for row in reader}


def prediction_row(case_id: str, probabilities: dict[str, float], calls: dict[str, int]
                   ) -> dict[str, Any]:
    """One predictions.csv row."""
    row: dict[str, Any] = {"case_id": case_id}
    row.update({f"prob_{t}": f"{probabilities[t]:.6f}" for t in LEAKAGE_TYPES})
    row.update({f"call_{t}": int(calls[t]) for t in LEAKAGE_TYPES})
    return row


def run_predict_batch(args: argparse.Namespace) -> int:
    """``bcl predict-batch``."""
    from tqdm import tqdm

    from bcl_core.io.case_folder import case_dirs, read_case_series, read_truth
    from bcl_core.io.csv_safe import append_dict_row
    from bcl_core.predict.pipeline import PipelineModels, predict_case

    cases = case_dirs(args.data)[: args.limit]
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    errors = out.with_suffix(".errors.csv")
    done = _done_case_ids(out)
    todo = [c for c in cases if c.name not in done]
    models = PipelineModels.load()
    failed = 0
    for case_dir in tqdm(todo, desc="predict", unit="case", file=sys.stderr,
                         disable=not todo):
        try:
            truth = read_truth(case_dir)
            result = predict_case(read_case_series(case_dir, "ct"),
                                  read_case_series(case_dir, "mr"), truth.ct_point_mm,
                                  truth.mr_point_mm, models=models, with_maps=False)
        except BCLError as exc:
            failed += 1
            logger.warning("%s: %s", case_dir.name, exc)
            append_dict_row(errors, ERROR_COLUMNS, {"case_id": case_dir.name, "error": str(exc)})
            continue
        append_dict_row(out, PREDICTION_COLUMNS,
                        prediction_row(case_dir.name, dict(result.probabilities), dict(result.calls)))
    sys.stderr.write(f"{len(todo) - failed} predicted, {len(done)} already done, {failed} failed"
                     + (f" (see {errors})" if failed else "") + f"; wrote {out}\n")
    predicted_in_total = len(done) + len(todo) - failed
    return 0 if predicted_in_total > 0 else 2
