"""The research scripts ``research/fusion_feature_visibility.py`` (pooling arithmetic, and that
leaving a feature out changes the render only where the feature is) and
``research/fusion_feature_detector.py`` (slow: research, not product)."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
from conftest import load_research

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def visibility() -> ModuleType:
    return load_research("fusion_feature_visibility")


def test_pooled_peak_is_the_block_mean(visibility: ModuleType) -> None:
    difference = np.zeros((8, 8, 8))
    difference[5, 2, 6] = -8.0
    assert visibility.pooled_peak(difference, 1) == 8.0
    assert visibility.pooled_peak(difference, 2) == pytest.approx(1.0)  # 8 / 2^3
    assert visibility.pooled_peak(difference, 4) == pytest.approx(0.125)  # 8 / 4^3


def test_leaving_the_wall_defect_out_changes_only_its_surroundings(visibility: ModuleType
                                                                   ) -> None:
    from bcl_core.phantom.ct import render_ct

    spec = next(visibility.cases_with("wall_defect", "internal", 8181, 1))
    plain = visibility.without(spec, "wall_defect")
    assert plain.fracture.wall_defect_center is None and spec.fracture.wall_defect_center
    with_defect, _ = render_ct(spec, True)
    without_defect, _ = render_ct(plain, True)
    changed = np.argwhere(with_defect.array != without_defect.array)
    assert len(changed) > 0
    # Every changed voxel lies within the defect's radius (plus blur) of its centre.
    centre = spec.anatomy.target.to_anatomy(np.array([spec.fracture.wall_defect_center]))[0]
    points = with_defect.index_to_mm(changed[:, ::-1])
    reach = spec.features.wall_defect_mm / 2 + 3 * max(with_defect.spacing)
    assert np.linalg.norm(points - centre, axis=1).max() <= reach


def test_detector_footprints_mark_only_the_cases_features() -> None:
    detector = load_research("fusion_feature_detector")
    from bcl_core.phantom.sites import get_site
    from bcl_core.phantom.spec import sample_case_labels

    site = get_site("internal")
    features = [sample_case_labels(site, 8181, i).features for i in range(40)]
    plain = next(i for i, f in enumerate(features)
                 if f.wall_defect_mm == 0 and f.posterior_breach_mm == 0)
    walled = next(i for i, f in enumerate(features)
                  if f.wall_defect_mm >= 6 and f.posterior_breach_mm == 0)
    assert not detector.footprint(("internal", 8181, plain, 4)).any()
    cells = detector.footprint(("internal", 8181, walled, 4))
    assert cells.shape == (2, 12, 12, 12)
    assert cells[0].any() and not cells[1].any()  # the wall defect's channel only
