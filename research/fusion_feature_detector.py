"""Can a small CNN find the wall defect and the posterior breach when told where they are?

Usage (the figures in docs/research/fusion_features.md came from exactly this; about 6 minutes on 2 cores)::

    python research/fusion_feature_detector.py --cache data/fusion_hr/internal.npz

The fusion model, trained from case labels (and case-level latent features), does not learn
these features (``fusion_latent_probe.py``), although they are in its crops
(``fusion_feature_visibility.py``). This trains the other way round: the fusion model's feature
detector alone (``FeatureDetector``: 3 stages of the encoder's building block, 8-16-32 channels,
two stride-2 stages, and a 1x1x1 head) predicts, on 4x4x4-voxel cells (5 mm), where each feature changed the CT crop (the paired-render
maps of :mod:`bcl_core.train.feature_maps`; ``bcl train fusion`` now trains such a detector
inside the fusion model). Maps are made for the first ``--cases`` cases of the cache (the
synthetic cases ``bcl train fusion --synthetic-cases N --seed S`` made); the last ``--test`` are
held out. Prints, per epoch, the held-out AUROC of the cells and of each case's highest cell
against "the case has the feature" (a case whose feature changed no CT cell counts as without).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from bcl_core.train.feature_maps import FEATURE_MAP_NAMES, phantom_feature_masks
from bcl_core.train.fusion_inputs import FUSION_INPUT_SETTINGS

#: The two features this experiment mapped (the venous channels were mapped later).
FEATURE_NAMES = FEATURE_MAP_NAMES[:2]


def footprint(job: tuple[str, int, int, int]) -> np.ndarray:
    """``(2, n, n, n)`` uint8: the CT cells of ``cell`` voxels each feature changes."""
    site, seed, index, cell = job
    maps = phantom_feature_masks(site, seed, index, FUSION_INPUT_SETTINGS, names=FEATURE_NAMES)
    k, n = maps.shape[0], maps.shape[1] // cell
    return maps.reshape(k, n, cell, n, cell, n, cell).max(axis=(2, 4, 6))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("data/fusion_hr/internal.npz"))
    parser.add_argument("--site", default="internal")
    parser.add_argument("--seed", type=int, default=1000, help="the cache's synthetic seed")
    parser.add_argument("--cases", type=int, default=1500)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    import torch
    import torch.nn.functional as F
    from sklearn.metrics import roc_auc_score

    from bcl_core.nets.fusion import FeatureDetector

    started = time.perf_counter()
    cache = np.load(args.cache)
    ct = cache["ct"][:args.cases].astype(np.float32)
    jobs = [(args.site, args.seed, i, 4) for i in range(len(ct))]
    with ProcessPoolExecutor(args.workers) as pool:
        maps = np.stack(list(pool.map(footprint, jobs, chunksize=16))).astype(np.float32)
    map_seconds = time.perf_counter() - started
    torch.manual_seed(0)
    torch.set_num_threads(2)
    generator = torch.Generator().manual_seed(0)
    detector = FeatureDetector(len(FEATURE_NAMES))  # the fusion model's detector
    optimiser = torch.optim.AdamW(detector.parameters(), lr=2e-3)
    images, targets = torch.from_numpy(ct).unsqueeze(1), torch.from_numpy(maps)
    train = np.arange(len(ct) - args.test)
    test = np.arange(len(ct) - args.test, len(ct))
    has = maps[test].reshape(len(test), len(FEATURE_NAMES), -1).max(axis=2)
    history = []
    for epoch in range(1, args.epochs + 1):
        detector.train()
        order = train[torch.randperm(len(train), generator=generator).numpy()]
        for start in range(0, len(order), 16):
            batch = order[start:start + 16]
            x, y = images[batch].clone(), targets[batch].clone()
            flip = torch.rand(len(batch), generator=generator) < 0.5  # left-right: dim 4
            x[flip], y[flip] = torch.flip(x[flip], dims=[4]), torch.flip(y[flip], dims=[4])
            loss = F.binary_cross_entropy_with_logits(detector(x), y,
                                                      pos_weight=torch.tensor(20.0))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        detector.eval()
        with torch.no_grad():
            scores = torch.cat([detector(images[test[a:a + 32]])
                                for a in range(0, len(test), 32)]).numpy()
        row = {"epoch": epoch}
        for k, name in enumerate(FEATURE_NAMES):
            row[f"{name}_cell_auroc"] = round(float(roc_auc_score(
                maps[test][:, k].ravel(), scores[:, k].ravel())), 3)
            row[f"{name}_case_auroc"] = round(float(roc_auc_score(
                has[:, k], scores[:, k].reshape(len(test), -1).max(axis=1))), 3)
        history.append(row)
        print(json.dumps(row), flush=True)
    summary = {"cases": len(ct), "test_cases": len(test),
               "test_positives": {name: int(has[:, k].sum())
                                  for k, name in enumerate(FEATURE_NAMES)},
               "map_seconds": round(map_seconds, 1),
               "train_seconds": round(time.perf_counter() - started - map_seconds, 1),
               "last_epoch": history[-1]}
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
