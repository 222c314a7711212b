"""Fusion training smoke run on tiny synthetic arrays, calibration and threshold rules."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from bcl_core.nets.fusion import HEAD_NAMES  # noqa: E402
from bcl_core.train.fusion import (  # noqa: E402
    CropSet,
    FusionTrainConfig,
    calibrated,
    choose_thresholds,
    export_fusion_onnx,
    fit_platt,
    predict_logits,
    train_fusion,
)

SIZE = 16


def _toy_set(n: int, seed: int) -> CropSet:
    """A bright blob in the CT crop means type I; in the MR crop, type III."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((n, len(HEAD_NAMES)), np.uint8)
    labels[:, 0] = rng.random(n) < 0.5
    labels[:, 2] = rng.random(n) < 0.5
    labels[:, 1] = rng.random(n) < 0.3
    labels[:, 3] = rng.random(n) < 0.3
    labels[:, 4] = labels[:, :4].max(axis=1)
    ct = rng.normal(0, 0.3, (n, SIZE, SIZE, SIZE)).astype(np.float32)
    mr = rng.normal(0, 0.3, (n, SIZE, SIZE, SIZE)).astype(np.float32)
    ct[labels[:, 0] == 1, 6:10, 6:10, 6:10] += 2.0
    mr[labels[:, 2] == 1, 6:10, 6:10, 6:10] += 2.0
    return CropSet([f"c{i}" for i in range(n)], ct, mr, labels)


def test_training_learns_a_planted_signal(tmp_path) -> None:
    train, validation = _toy_set(64, 0), _toy_set(32, 1)
    # (8, 8, 16): the narrower (4, 8, 8) net stalled on the CT blob for one seed in five.
    config = FusionTrainConfig(epochs=20, batch_size=16, channels=(8, 8, 16),
                               shared_features=8, dropout=0.0, learning_rate=1e-2)
    result = train_fusion(train, validation, config)
    assert len(result.history) == 20
    logits = predict_logits(result.model, validation)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(validation.labels[:, 0], logits[:, 0]) > 0.8
    assert roc_auc_score(validation.labels[:, 2], logits[:, 2]) > 0.8
    # Crop cache round trip.
    path = train.save(tmp_path / "crops.npz")
    again = CropSet.load(path)
    assert again.case_ids == train.case_ids
    np.testing.assert_allclose(again.ct, train.ct, atol=1e-2)  # stored as float16
    # Export runs and the calibrated probabilities come out of the ONNX graph.
    scale, bias = fit_platt(logits, validation.labels)
    onnx_path = export_fusion_onnx(result.model, scale, bias, (SIZE,) * 3, tmp_path / "m.onnx")
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    probabilities = session.run(["probabilities"], {"ct": validation.ct[:4, None],
                                                    "mr": validation.mr[:4, None]})[0]
    np.testing.assert_allclose(probabilities, calibrated(logits[:4], scale, bias), atol=1e-4)


def test_platt_recovers_known_parameters() -> None:
    # Labels drawn from sigmoid(2 * x - 1): maximum likelihood must land near (2, -1).
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 1))
    p = 1 / (1 + np.exp(-(2 * x[:, 0] - 1)))
    labels = (rng.random(20000) < p).astype(np.uint8)[:, None]
    scale, bias = fit_platt(x, labels)
    assert scale[0] == pytest.approx(2.0, abs=0.1)
    assert bias[0] == pytest.approx(-1.0, abs=0.1)


def test_type4_threshold_keeps_sensitivity() -> None:
    rng = np.random.default_rng(3)
    labels = (rng.random((400, len(HEAD_NAMES))) < 0.2).astype(np.uint8)
    scores = labels * 0.3 + rng.random(labels.shape) * 0.7
    thresholds = choose_thresholds(scores, labels)
    calls = scores[:, 3] >= thresholds["type4"]
    sensitivity = calls[labels[:, 3] == 1].mean()
    assert sensitivity >= 0.95
    # Youden's point for type I: hand check that J is maximal among all candidate cut-offs.
    y, s = labels[:, 0], scores[:, 0]
    def j(t: float) -> float:
        c = s >= t
        return c[y == 1].mean() - c[y == 0].mean()
    assert j(thresholds["type1"]) == pytest.approx(max(j(t) for t in np.unique(s)), abs=1e-12)
