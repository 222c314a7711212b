"""Segmentation accuracy on generated cases: Dice per case and click robustness.

Usage (figures quoted in docs/segmentation.md came from exactly this)::

    bcl synth --out data/ext_eval --cases 100 --site external --seed 7 --compact
    python benchmarks/eval_segment.py --data data/ext_eval --out runs/eval_segment

For every case and modality: Dice of the mask from a click at the body centre (truth.json), and
the mean Dice over ``--clicks`` clicks drawn uniformly within ``--radius-mm`` of that centre
(click robustness). ``--mirror off`` turns the sidecar's mirror averaging off (side-by-side
comparison of the test-time augmentation). A click the step refuses counts as Dice 0 and is listed. Writes
``per_case.csv`` and ``summary.json`` to ``--out`` and prints the summary.
"""

from __future__ import annotations

import argparse
import copy
import csv
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bcl_core.errors import SegmentationError
from bcl_core.predict.runtime import OnnxModel, load_model
from bcl_core.predict.segment import dice_score, segment_vertebra
from bcl_core.train.cases import case_dirs, load_seg_case


def ball_offsets(count: int, radius_mm: float, rng: np.random.Generator) -> np.ndarray:
    """``count`` points uniform in a ball of ``radius_mm`` (mm offsets, shape (count, 3))."""
    directions = rng.normal(size=(count, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return directions * radius_mm * rng.random((count, 1)) ** (1 / 3)


def safe_dice(volume, truth, point, model) -> tuple[float, str]:
    try:
        return dice_score(segment_vertebra(volume, point, model).array, truth), ""
    except SegmentationError as exc:
        return 0.0, str(exc)


def without_mirror(model: OnnxModel) -> OnnxModel:
    """The same session with mirror averaging switched off in its (copied) sidecar."""
    sidecar = model.sidecar
    settings = dataclasses.replace(sidecar.require_segmentation(), mirror_average=False)
    plain = copy.copy(model)
    plain.sidecar = dataclasses.replace(sidecar, segmentation=settings)
    return plain


def record(metrics_path: Path, key: str, entry: dict[str, object]) -> None:
    """Store ``entry`` under ``evaluation.<key>`` of a model's metrics file."""
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    metrics.setdefault("evaluation", {})[key] = entry
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")


def summarise(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    return {"mean": float(array.mean()), "sd": float(array.std(ddof=1)) if array.size > 1 else 0.0,
            "min": float(array.min()), "n_below_0.85": int((array < 0.85).sum())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--modality", nargs="+", default=["ct", "mr"], choices=("ct", "mr"))
    parser.add_argument("--clicks", type=int, default=4)
    parser.add_argument("--radius-mm", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-cases", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("runs/eval_segment"))
    parser.add_argument("--val-cases-of", type=Path, default=None, metavar="METRICS_JSON",
                        help="only the validation cases a training run held out (its "
                             "metrics file's val_cases), e.g. internal-site figures")
    parser.add_argument("--record", action="store_true",
                        help="store the summary in the models' metrics files (model card)")
    parser.add_argument("--mirror", choices=("sidecar", "off"), default="sidecar",
                        help="mirror averaging as the sidecar says, or off")
    args = parser.parse_args(argv)
    if args.clicks < 1:
        parser.error("--clicks must be at least 1 (click robustness needs moved clicks).")

    folders = case_dirs(args.data)
    if args.val_cases_of is not None:
        held_out = set(json.loads(args.val_cases_of.read_text(encoding="utf-8"))["val_cases"])
        folders = [f for f in folders if f.name in held_out]
    folders = folders[: args.max_cases]
    args.out.mkdir(parents=True, exist_ok=True)
    rows, summary = [], {"data": str(args.data), "n_cases": len(folders),
                         "clicks": args.clicks, "radius_mm": args.radius_mm}
    for modality in args.modality:
        model = load_model(args.models / f"seg_{modality}.json")
        if args.mirror == "off":
            model = without_mirror(model)
        rng = np.random.default_rng(args.seed)
        centre_dice, jitter_dice, seconds, refused = [], [], [], []
        for folder in tqdm(folders, desc=f"eval {modality}", mininterval=5):
            case = load_seg_case(folder, modality)
            truth = case.mask.array > 0
            started = time.perf_counter()
            dice, error = safe_dice(case.image, truth, case.point_mm, model)
            seconds.append(time.perf_counter() - started)
            moved = [safe_dice(case.image, truth, case.point_mm + offset, model)
                     for offset in ball_offsets(args.clicks, args.radius_mm, rng)]
            refused += [f"{case.case_id}: {e}" for e in [error, *(m[1] for m in moved)] if e]
            centre_dice.append(dice)
            jitter_dice.append(float(np.mean([m[0] for m in moved])))
            rows.append({"case_id": case.case_id, "modality": modality, "dice_centre": dice,
                         "dice_within_radius_mean": jitter_dice[-1],
                         "dice_within_radius_min": min(m[0] for m in moved),
                         "seconds": seconds[-1]})
        summary[modality] = {
            "model_version": model.version, "provider": model.provider_description,
            "mirror_average": model.sidecar.require_segmentation().mirror_average,
            "dice_centre": summarise(centre_dice), "dice_within_radius": summarise(jitter_dice),
            "mean_dice_drop": float(np.mean(centre_dice) - np.mean(jitter_dice)),
            "seconds_per_case_median": float(np.median(seconds)), "refused": refused}
    with open(args.out / "per_case.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    if args.record:
        for modality in args.modality:
            record(args.models / f"seg_{modality}.metrics.json", args.data.name,
                   {**summary[modality], "n_cases": len(folders), "clicks": args.clicks,
                    "radius_mm": args.radius_mm,
                    "command": "python benchmarks/eval_segment.py " + " ".join(
                        argv if argv is not None else sys.argv[1:])})
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
