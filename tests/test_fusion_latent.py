"""Auxiliary latent-feature targets: standardisation and training."""

from __future__ import annotations

import numpy as np
import pytest

from bcl_core.nets.fusion import HEAD_NAMES
from bcl_core.train.fusion import (
    CropSet,
    FusionTrainConfig,
    predict_latent,
    train_fusion,
)
from bcl_core.train.fusion_data import (
    LATENT_NAMES,
    latent_targets,
)

FEATURES = {
    "fracture_type": "crush", "height_loss": 0.44, "oedema_extent": 0.78, "cleft_mm": 14.0,
    "endplate_disruption_mm": 0.0, "endplate_side": "none", "wall_defect_mm": 10.0,
    "wall_defect_site": "left", "posterior_breach_mm": 0.0, "retropulsion_mm": 0.0,
    "basivertebral_foramen_mm": 3.5, "vein_channels": 3, "segmental_vein_mm": 5.2,
    "bone_density_hu": 60.0,
}


def test_latent_targets_match_a_hand_calculation() -> None:
    # By hand from the oracle's standardisation (docs/phantom.md):
    expected = {
        "severity": (0.44 - 0.32) / 0.12,            # 1.0
        "crush": 1.0,
        "oedema": (0.78 - 0.6) / 0.18,               # 1.0
        "low_density": (85.0 - 60.0) / 25.0,         # 1.0
        "veins": (3 - 1.4) / 1.1 + (5.2 - 4.0) / 1.2,  # 2.4545...
        "wall_defect": 1.0 + (10.0 - 6.5) / 3.5,     # 2.0
        "endplate": 0.0,
        "cleft": 1.0 + (14.0 - 10.0) / 4.0,          # 2.0
        "posterior_breach": 0.0,
        "foramen": 0.0,                              # log(3.5) - log(3.5)
    }
    values = latent_targets(FEATURES)
    assert values.shape == (len(LATENT_NAMES),)
    for name, value in zip(LATENT_NAMES, values, strict=True):
        assert value == pytest.approx(expected[name], abs=1e-5), name


def _latent_set(n: int, seed: int, size: int = 16) -> CropSet:
    """One latent feature is the brightness of a blob in the CT crop; the other is noise.

    Type I is the sign of the first (so validation AUROC picks a trained epoch), the rest coin
    flips: the auxiliary head must recover the brightness itself, not just its sign.
    """
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, len(HEAD_NAMES))) < 0.5).astype(np.uint8)
    latent = rng.normal(0, 1, (n, 2)).astype(np.float32)
    labels[:, 0] = latent[:, 0] > 0
    ct = rng.normal(0, 0.3, (n, size, size, size)).astype(np.float32)
    mr = rng.normal(0, 0.3, (n, size, size, size)).astype(np.float32)
    ct[:, 6:10, 6:10, 6:10] += latent[:, 0, None, None, None]
    return CropSet([f"c{i}" for i in range(n)], ct, mr, labels, latent=latent)


def test_auxiliary_head_learns_the_latent_feature_and_round_trips(tmp_path) -> None:
    train, validation = _latent_set(96, 0), _latent_set(48, 1)
    config = FusionTrainConfig(epochs=15, batch_size=16, channels=(4, 8, 8), shared_features=8,
                               dropout=0.0, learning_rate=1e-2, input_pool=1)
    result = train_fusion(train, validation, config)
    estimate = predict_latent(result, validation)
    assert np.corrcoef(estimate[:, 0], validation.latent[:, 0])[0, 1] > 0.8
    assert abs(np.corrcoef(estimate[:, 1], validation.latent[:, 1])[0, 1]) < 0.5  # pure noise
    again = CropSet.load(train.save(tmp_path / "crops.npz"))
    np.testing.assert_allclose(again.latent, train.latent)
    no_aux = train_fusion(train, validation, FusionTrainConfig(
        epochs=1, batch_size=16, channels=(4, 8, 8), shared_features=8, aux_weight=0.0))
    assert no_aux.aux_head is None
