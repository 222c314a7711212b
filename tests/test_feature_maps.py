"""Feature maps (where the wall defect, the posterior breach and the venous channels sit in the
CT crop)."""

from __future__ import annotations

import numpy as np
import pytest

from bcl_core.phantom.spec import sample_case_spec
from bcl_core.train.feature_maps import FEATURE_MAP_NAMES, phantom_feature_masks, without
from bcl_core.train.fusion_data import FUSION_INPUT_SETTINGS, phantom_case_crops

CROP_SPACING_MM = FUSION_INPUT_SETTINGS["inputs"]["ct"]["spacing_mm"][0]
CROP_SIZE = FUSION_INPUT_SETTINGS["inputs"]["ct"]["size_ijk"][0]

# Internal site, seed 1000 (printed from sample_case_spec): case 8 has an anterior wall defect
# and a posterior breach, case 9 a left wall defect, case 28 a breach, case 1 neither; venous
# channels: case 1 has 3, case 6 has 4, case 2 none (and no other mapped feature).
FIELDS = {"wall_defect": "wall_defect_center", "posterior_breach": "breach_center"}


def _offsets_mm(voxels: np.ndarray) -> np.ndarray:
    """``(k, j, i)`` crop voxels -> mm from the crop centre along (x, y, z)."""
    return (voxels[:, ::-1] - (CROP_SIZE - 1) / 2) * CROP_SPACING_MM


@pytest.mark.parametrize("index", [8, 9, 28])
def test_maps_sit_where_the_generator_put_the_feature(index: int) -> None:
    """The map's centroid, in mm from the crop centre along (x, y, z), is the feature's centre
    in the vertebra's local frame (u: left, w: posterior, h: cranial), within 5 mm (4 voxels):
    the crop is centred on the segmented body, the frame on the modelled vertebra."""
    spec = sample_case_spec("internal", 1000, index)
    maps = phantom_feature_masks("internal", 1000, index, FUSION_INPUT_SETTINGS)
    assert maps.shape == (len(FEATURE_MAP_NAMES), CROP_SIZE, CROP_SIZE, CROP_SIZE)
    for k, name in enumerate(FEATURE_MAP_NAMES):
        if name not in FIELDS:
            continue
        centre = getattr(spec.fracture, FIELDS[name])
        if centre is None:
            assert not maps[k].any(), name
            continue
        assert maps[k].sum() >= 10, name  # a few millimetres of cortex: tens of voxels
        offset_xyz = _offsets_mm(np.argwhere(maps[k])).mean(axis=0)
        np.testing.assert_allclose(offset_xyz, centre, atol=5.0, err_msg=name)


def _distance_to_segment(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    along = np.clip((points - start) @ (end - start) / np.sum((end - start) ** 2), 0.0, 1.0)
    return np.linalg.norm(points - (start + along[:, None] * (end - start)), axis=1)


@pytest.mark.parametrize("index", [1, 6])
def test_vein_channel_map_follows_the_generators_channels(index: int) -> None:
    """Every voxel of the venous-channel map lies within 5 mm of one of the generator's channel
    segments (local frame, as above), and every channel has map voxels within 3 mm of it (case
    1: 16-21 per channel; case 6: 2-20, the thinner contrast of channels near the posterior
    wall)."""
    spec = sample_case_spec("internal", 1000, index)
    channel = FEATURE_MAP_NAMES.index("vein_channels")
    voxels = np.argwhere(phantom_feature_masks("internal", 1000, index, FUSION_INPUT_SETTINGS,
                                               names=("vein_channels",))[0])
    assert len(voxels) >= 5 * len(spec.fracture.channels)
    points = _offsets_mm(voxels)
    segments = [(np.array(a), np.array(b)) for a, b, _ in spec.fracture.channels]
    nearest = np.min([_distance_to_segment(points, a, b) for a, b in segments], axis=0)
    assert nearest.max() <= 5.0
    for start, end in segments:
        assert (_distance_to_segment(points, start, end) <= 3.0).sum() >= 2
    assert channel == len(FEATURE_MAP_NAMES) - 1  # appended: older caches get it added


def test_a_case_without_the_features_gets_empty_maps_without_rendering(monkeypatch) -> None:
    spec = sample_case_spec("internal", 1000, 2)
    assert spec.features.wall_defect_mm == 0 and spec.features.posterior_breach_mm == 0
    assert spec.features.vein_channels == 0

    def no_render(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("rendered a case that has no mapped feature")

    monkeypatch.setattr("bcl_core.phantom.ct.render_ct", no_render)
    maps = phantom_feature_masks("internal", 1000, 2, FUSION_INPUT_SETTINGS)
    assert maps.shape == (3, CROP_SIZE, CROP_SIZE, CROP_SIZE) and not maps.any()


def test_without_removes_only_the_named_feature() -> None:
    spec = sample_case_spec("internal", 1000, 8)
    plain = without(spec, "posterior_breach")
    assert plain.fracture.breach_center is None
    assert plain.fracture.wall_defect_center == spec.fracture.wall_defect_center
    assert spec.fracture.breach_center is not None  # the original is untouched
    no_channels = without(spec, "vein_channels")
    assert no_channels.fracture.channels == () and len(spec.fracture.channels) == 2
    assert no_channels.fracture.breach_center == spec.fracture.breach_center


def test_case_crops_carry_the_same_maps() -> None:
    crops = phantom_case_crops("internal", 1000, 9)
    np.testing.assert_array_equal(
        crops["maps"], phantom_feature_masks("internal", 1000, 9, FUSION_INPUT_SETTINGS))

