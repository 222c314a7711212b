"""Fusion training smoke run on tiny synthetic arrays, calibration and threshold rules."""

from __future__ import annotations

import numpy as np
import pytest

from bcl_core.nets.fusion import HEAD_NAMES
from bcl_core.train.feature_maps import FEATURE_MAP_NAMES
from bcl_core.train.fusion import (
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


def test_augmentation_moves_the_maps_with_the_crop() -> None:
    import torch

    from bcl_core.train.fusion import _augment

    rng = np.random.default_rng(3)
    mask = torch.from_numpy((rng.random((6, 1, 8, 8, 8)) < 0.2).astype(np.float32))
    generator = torch.Generator().manual_seed(0)
    image, maps = _augment(mask, generator, 3, 4, along=torch.cat([mask, 1 - mask], dim=1))
    assert maps is not None and maps.shape == (6, 2, 8, 8, 8)
    torch.testing.assert_close(maps[:, :1], image)
    torch.testing.assert_close(maps[:, 1:], 1 - image)
    assert not torch.equal(image, mask)  # something moved
    # Intensity changes leave the maps alone; the draws are those of a call without maps.
    generator = torch.Generator().manual_seed(1)
    noisy, maps = _augment(mask, generator, 3, 4, 0.1, 0.05, along=mask)
    again, none = _augment(mask, torch.Generator().manual_seed(1), 3, 4, 0.1, 0.05)
    torch.testing.assert_close(noisy, again)
    assert none is None and set(np.unique(maps.numpy())) <= {0.0, 1.0}


def _dot_set(n: int, seed: int) -> CropSet:
    """A faint 2-voxel dot somewhere in half the CT crops (type IV); maps mark it."""
    rng = np.random.default_rng(seed)
    crops = _toy_set(n, seed)
    crops.labels[:, 3] = rng.random(n) < 0.5
    crops.labels[:, 4] = crops.labels[:, :4].max(axis=1)
    crops.maps = np.zeros((n, len(FEATURE_MAP_NAMES), SIZE, SIZE, SIZE), np.uint8)
    for i in np.flatnonzero(crops.labels[:, 3]):
        k, j, x = rng.integers(3, SIZE - 5, 3)
        crops.ct[i, k:k + 2, j:j + 2, x:x + 2] += 1.0
        crops.maps[i, 1, k:k + 2, j:j + 2, x:x + 2] = 1
    return crops


@pytest.mark.parametrize(("names", "channel"), [
    (("wall_defect", "posterior_breach"), 1),  # the shipped recipe's maps
    (("posterior_breach",), 0),  # the detector's only map is the cache's second channel
])
def test_detector_learns_where_the_maps_point(names: tuple[str, ...], channel: int) -> None:
    from sklearn.metrics import roc_auc_score

    from bcl_core.nets.fusion import DETECTOR_CELL

    train, validation = _dot_set(96, 0), _dot_set(48, 1)  # the dot is in the breach channel
    config = FusionTrainConfig(epochs=12, batch_size=16, channels=(8, 8, 16),
                               shared_features=8, dropout=0.0, learning_rate=1e-2,
                               feature_maps=names)
    model = train_fusion(train, validation, config).model.eval()
    import torch

    with torch.no_grad():
        maps = model.feature_maps(model.features(
            {"ct": torch.from_numpy(validation.ct)[:, None],
             "mr": torch.from_numpy(validation.mr)[:, None]}))[:, channel].numpy()
    cells = validation.maps[:, 1].reshape(len(validation), SIZE // DETECTOR_CELL, DETECTOR_CELL,
                                          SIZE // DETECTOR_CELL, DETECTOR_CELL,
                                          SIZE // DETECTOR_CELL, DETECTOR_CELL).max(axis=(2, 4, 6))
    # The cell, not just the case: 0.94 here; trained without the maps (map_weight=0) the
    # same cells score 0.84 after 12 epochs and 0.36 after 20.
    assert roc_auc_score(cells.ravel(), maps.ravel()) > 0.9
    # Case level: the type IV head reads the detector's highest cell.
    logits = predict_logits(model, validation)
    assert roc_auc_score(validation.labels[:, 3], logits[:, 3]) > 0.9


def test_crop_set_keeps_maps_through_save_subset_and_concat(tmp_path) -> None:
    crops = _dot_set(6, 2)
    again = CropSet.load(crops.save(tmp_path / "c.npz"))
    np.testing.assert_array_equal(again.maps, crops.maps)
    np.testing.assert_array_equal(again.subset([4, 1]).maps, crops.maps[[4, 1]])
    joined = CropSet.concat([crops, _toy_set(3, 4)])  # one part has no maps: neither has the whole
    assert len(joined) == 9 and len(joined.maps) == 0
    assert len(CropSet.concat([crops, crops]).maps) == 12
    fewer = _dot_set(2, 5)
    fewer.maps = fewer.maps[:, :2]  # maps of an older cache: not joined with newer ones
    assert len(CropSet.concat([crops, fewer]).maps) == 0


def test_thick_slices_act_along_the_slice_axis_only() -> None:
    """A profile linear along the slice axis survives thick slices in the interior (slice
    averages of a line, interpolated, are the line); one constant along it is untouched; an
    edge along it is smeared."""
    import torch

    from bcl_core.train.fusion import _thick_slices

    k = torch.arange(24, dtype=torch.float32)
    ramp = k.view(1, 1, 24, 1, 1).expand(3, 1, 24, 5, 5).clone()
    inplane = torch.rand(3, 1, 1, 5, 5, generator=torch.Generator().manual_seed(0)).expand(
        3, 1, 24, 5, 5).clone()
    edge = (k >= 12).float().view(1, 1, 24, 1, 1).expand(3, 1, 24, 5, 5).clone()
    for volume in (ramp, inplane, edge):
        out = _thick_slices(volume, torch.Generator().manual_seed(1), 1.0, 2, 1.25)
        if volume is edge:
            assert ((out > 0.01) & (out < 0.99)).any()  # some voxels now between 0 and 1
        else:
            torch.testing.assert_close(out[:, :, 8:16], volume[:, :, 8:16], atol=1e-4, rtol=0)
    untouched = _thick_slices(edge, torch.Generator().manual_seed(1), 0.0, 2, 1.25)
    torch.testing.assert_close(untouched, edge)


def test_map_channel_index_picks_the_caches_channels() -> None:
    from bcl_core.errors import ModelError
    from bcl_core.train.fusion import SHIPPED_FEATURE_MAPS, map_channel_index

    assert FEATURE_MAP_NAMES == ("wall_defect", "posterior_breach", "vein_channels")
    assert map_channel_index(SHIPPED_FEATURE_MAPS) == [0, 1]
    assert map_channel_index(("vein_channels", "wall_defect")) == [2, 0]
    assert map_channel_index(()) == []
    for bad in (("veins",), ("wall_defect", "wall_defect")):
        with pytest.raises(ModelError, match="distinct names among"):
            map_channel_index(bad)
