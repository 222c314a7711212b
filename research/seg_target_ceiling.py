"""Ceiling of the segmentation round trip: what a perfect network could score on the series grid.

Usage (the figures in docs/segmentation.md came from exactly this)::

    bcl synth --out data/seg_eval_ext --cases 100 --site external --seed 7 --compact
    python research/seg_target_ceiling.py --data data/seg_eval_ext --max-cases 10

For each case and modality the true mask is resampled onto the model's patch grid (as training
builds its target), then drawn back on the series grid exactly as inference draws a probability
map. Two targets: the partial-volume fraction (soft; what training uses) and that fraction
thresholded at 0.5 (binary; the recipe before). A network that reproduced its target perfectly
would score these Dice values, so they bound what training on each target can reach.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from bcl_core.predict.segment import _to_series_grid, dice_score
from bcl_core.predict.sidecar import load_sidecar
from bcl_core.train.cases import case_dirs, load_seg_case
from bcl_core.train.seg_dataset import SamplingConfig, build_region


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--modality", nargs="+", default=["ct", "mr"], choices=("ct", "mr"))
    parser.add_argument("--max-cases", type=int, default=10)
    args = parser.parse_args(argv)
    folders = case_dirs(args.data)[: args.max_cases]
    summary: dict[str, object] = {"data": str(args.data), "n_cases": len(folders)}
    for modality in args.modality:
        sidecar = load_sidecar(args.models / f"seg_{modality}.json")
        spec = sidecar.input
        threshold = sidecar.threshold("mask")
        scores: dict[str, list[float]] = {"soft": [], "binary": []}
        for folder in folders:
            case = load_seg_case(folder, modality)
            truth = case.mask.array > 0
            # One region holds both targets: the soft fraction and its thresholded mask.
            region = build_region(case, spec, SamplingConfig(margin_voxels=0))
            targets = {"soft": region.target.astype(np.float32) / 255.0,
                       "binary": region.mask.astype(np.float32)}
            for kind, target in targets.items():
                drawn = _to_series_grid(case.image, region.grid.with_array(target), threshold)
                scores[kind].append(dice_score(drawn, truth))
        summary[modality] = {f"dice_{kind}_target_mean": float(np.mean(values))
                             for kind, values in scores.items()}
        summary[modality]["dice_binary_target_min"] = float(np.min(scores["binary"]))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
