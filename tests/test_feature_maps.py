"""Feature maps (where the wall defect and the posterior breach sit in the CT crop)."""

from __future__ import annotations

import numpy as np
import pytest

from bcl_core.phantom.spec import sample_case_spec
from bcl_core.train.feature_maps import FEATURE_MAP_NAMES, phantom_feature_masks, without
from bcl_core.train.fusion_data import FUSION_INPUT_SETTINGS, phantom_case_crops

CROP_SPACING_MM = FUSION_INPUT_SETTINGS["inputs"]["ct"]["spacing_mm"][0]
CROP_SIZE = FUSION_INPUT_SETTINGS["inputs"]["ct"]["size_ijk"][0]

# Internal site, seed 1000 (printed from sample_case_spec): case 8 has an anterior wall defect
# and a posterior breach, case 9 a left wall defect, case 28 a breach, case 1 neither.
FIELDS = {"wall_defect": "wall_defect_center", "posterior_breach": "breach_center"}


@pytest.mark.parametrize("index", [8, 9, 28])
def test_maps_sit_where_the_generator_put_the_feature(index: int) -> None:
    """The map's centroid, in mm from the crop centre along (x, y, z), is the feature's centre
    in the vertebra's local frame (u: left, w: posterior, h: cranial), within 5 mm (4 voxels):
    the crop is centred on the segmented body, the frame on the modelled vertebra."""
    spec = sample_case_spec("internal", 1000, index)
    maps = phantom_feature_masks("internal", 1000, index, FUSION_INPUT_SETTINGS)
    assert maps.shape == (len(FEATURE_MAP_NAMES), CROP_SIZE, CROP_SIZE, CROP_SIZE)
    for k, name in enumerate(FEATURE_MAP_NAMES):
        centre = getattr(spec.fracture, FIELDS[name])
        if centre is None:
            assert not maps[k].any(), name
            continue
        assert maps[k].sum() >= 10, name  # a few millimetres of cortex: tens of voxels
        kji = np.argwhere(maps[k]).mean(axis=0)
        offset_xyz = (kji[::-1] - (CROP_SIZE - 1) / 2) * CROP_SPACING_MM
        np.testing.assert_allclose(offset_xyz, centre, atol=5.0, err_msg=name)


def test_a_case_without_the_features_gets_empty_maps_without_rendering(monkeypatch) -> None:
    spec = sample_case_spec("internal", 1000, 1)
    assert spec.features.wall_defect_mm == 0 and spec.features.posterior_breach_mm == 0

    def no_render(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("rendered a case that has no mapped feature")

    monkeypatch.setattr("bcl_core.phantom.ct.render_ct", no_render)
    maps = phantom_feature_masks("internal", 1000, 1, FUSION_INPUT_SETTINGS)
    assert maps.shape == (2, CROP_SIZE, CROP_SIZE, CROP_SIZE) and not maps.any()


def test_without_removes_only_the_named_feature() -> None:
    spec = sample_case_spec("internal", 1000, 8)
    plain = without(spec, "posterior_breach")
    assert plain.fracture.breach_center is None
    assert plain.fracture.wall_defect_center == spec.fracture.wall_defect_center
    assert spec.fracture.breach_center is not None  # the original is untouched


def test_case_crops_carry_the_same_maps() -> None:
    crops = phantom_case_crops("internal", 1000, 9)
    np.testing.assert_array_equal(
        crops["maps"], phantom_feature_masks("internal", 1000, 9, FUSION_INPUT_SETTINGS))

