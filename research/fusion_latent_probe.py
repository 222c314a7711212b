"""Linear probe: how well the shipped fusion encoders encode each latent risk feature.

Usage (the figures in docs/research/fusion_features.md came from exactly this)::

    python research/fusion_latent_probe.py --cache data/fusion_hr

The cached crops of ``bcl train fusion --cache DIR`` go through the shipped model's encoders;
a ridge regression from the pooled encoder features (both modalities, and each alone) to the
generator's standardised latent features is fitted on the development cases (``internal.npz``)
and scored on the external-site cases (``external.npz``, never trained on): Pearson r per
feature. A feature the encoders do not carry cannot drive its leakage type, whatever the head.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bcl_core.nets.fusion import FusionNet
from bcl_core.train.fusion import load_checkpoint
from bcl_core.train.fusion_data import LATENT_NAMES
from bcl_core.train.fusion_inputs import CropSet


def encoder_features(model: FusionNet, crops: CropSet, batch_size: int = 32
                     ) -> dict[str, np.ndarray]:
    """The pooled encoder features per modality (:meth:`FusionNet.pooled`), ``(N, 2C)`` each."""
    parts: dict[str, list[np.ndarray]] = {m: [] for m in model.modalities}
    model.eval()
    with torch.no_grad():
        for start in range(0, len(crops), batch_size):
            images = {m: torch.from_numpy(getattr(crops, m)[start:start + batch_size]
                                          .astype(np.float32))[:, None]
                      for m in model.modalities}
            for m, pooled in model.pooled(model.features(images)).items():
                parts[m].append(pooled.numpy())
    return {m: np.concatenate(p) for m, p in parts.items()}


def ridge_r(fit_x: np.ndarray, fit_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
            alpha: float) -> list[float]:
    """Pearson r per target column of a ridge regression on standardised inputs."""
    probe = make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(fit_x, fit_y)
    predicted = probe.predict(test_x)
    return [float(np.corrcoef(predicted[:, k], test_y[:, k])[0, 1])
            for k in range(test_y.shape[1])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("data/fusion_hr"))
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--alpha", type=float, default=10.0, help="ridge penalty")
    args = parser.parse_args(argv)
    model, _ = load_checkpoint(args.models)
    train, test = CropSet.load(args.cache / "internal.npz"), CropSet.load(args.cache / "external.npz")
    fit, held_out = encoder_features(model, train), encoder_features(model, test)
    fit["both"] = np.hstack([fit["ct"], fit["mr"]])
    held_out["both"] = np.hstack([held_out["ct"], held_out["mr"]])
    result: dict[str, object] = {"n_fit": len(train), "n_test": len(test), "alpha": args.alpha}
    for name in ("both", "ct", "mr"):
        scores = ridge_r(fit[name], train.latent, held_out[name], test.latent, args.alpha)
        result[f"pearson_r_external_{name}"] = {
            feature: round(r, 3) for feature, r in zip(LATENT_NAMES, scores, strict=True)}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
