"""Does the fusion model's CT feature detector find the wall defect, the breach and the veins?

Usage (the figures in docs/research/fusion_features.md came from exactly this; about a minute per split)::

    python research/fusion_detector_auroc.py --models models --cache data/fusion_hr \\
        --split external:external:3000 --split prospective:prospective:2000

For each cached test case (``<cache>/<name>.npz``, made by ``bcl train fusion
--synthetic-test NAME:SITE:SEED:N``), the detector's highest cell per feature (a value the
fusion head reads) is scored against whether the generator gave the case that feature. Prints
one JSON document: per split and feature (those the model maps), the case-level AUROC (DeLong
95% CI) and the number of cases with the feature; for the venous channels also the Spearman
correlation of the map's soft count (when the model reads counts) with the number of channels.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def parse_split(text: str) -> tuple[str, str, int]:
    """``NAME:SITE:SEED`` of a cached synthetic test set."""
    name, site, seed = text.split(":")
    return name, site, int(seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--cache", type=Path, default=Path("data/fusion_hr"))
    parser.add_argument("--split", action="append", type=parse_split,
                        default=None, metavar="NAME:SITE:SEED")
    args = parser.parse_args(argv)

    import torch
    from scipy.stats import spearmanr

    from bcl_core.phantom.sites import get_site
    from bcl_core.phantom.spec import sample_case_labels
    from bcl_core.stats import auroc_ci
    from bcl_core.train.feature_maps import FEATURES
    from bcl_core.train.fusion import CropSet, load_checkpoint

    model, sidecar = load_checkpoint(args.models)
    names = list(sidecar["training"]["config"]["feature_maps"])
    if model.detector is None:
        sys.stderr.write("this fusion model has no feature detector\n")
        return 2
    torch.set_num_threads(2)
    summary: dict[str, dict[str, dict[str, float | int | list[float]]]] = {}
    for name, site, seed in args.split or [("external", "external", 3000)]:
        crops = CropSet.load(args.cache / f"{name}.npz")
        profile = get_site(site)
        features = [sample_case_labels(profile, seed, int(c.rsplit("-", 1)[1]) - 1).features
                    for c in crops.case_ids]
        scores = []
        with torch.no_grad():
            for start in range(0, len(crops), 32):
                part = crops.subset(np.arange(start, min(start + 32, len(crops))))
                images = {"ct": torch.from_numpy(part.ct)[:, None],
                          "mr": torch.from_numpy(part.mr)[:, None]}
                maps = model.feature_maps(model.features(images))
                scores.append(model.detector_summaries(maps).numpy())
        summaries = np.concatenate(scores)  # maxima, then soft counts when the model has them
        for k, feature in enumerate(names):
            has = np.array([FEATURES[feature][0](f) for f in features], dtype=int)
            auc, lo, hi = auroc_ci(has, summaries[:, k])
            row: dict[str, float | int | list[float]] = {
                "auroc": round(auc, 3), "auroc_ci": [round(lo, 3), round(hi, 3)],
                "cases_with": int(has.sum()), "cases": len(has)}
            if feature == "vein_channels" and model.detector_counts:
                count = summaries[:, len(names) + k]
                row["count_spearman"] = round(float(spearmanr(
                    count, [f.vein_channels for f in features])[0]), 3)
            summary.setdefault(name, {})[feature] = row
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
