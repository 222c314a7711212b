"""Building blocks of the synthetic anatomy, against hand calculations and the Volume class."""

from __future__ import annotations

import numpy as np
import pytest

from bcl_core.phantom.anatomy import fracture_endplates, rotation_xyz
from bcl_core.phantom.features import RiskFeatures
from bcl_core.phantom.grid import affine_coords
from bcl_core.phantom.mr import mr_grid
from bcl_core.phantom.shapes import ellipse_sdf, segment_distance
from bcl_core.phantom.spec import sample_case_spec


def test_ellipse_distance_is_exact_on_the_axes() -> None:
    # Ellipse with half-axes 10 and 5: (12, 0) is 2 mm outside, (0, 3) is 2 mm inside.
    values = ellipse_sdf(np.array([12.0, 0.0, 0.0]), np.array([0.0, 3.0, 5.0]), 10.0, 5.0)
    np.testing.assert_allclose(values, [2.0, -2.0, 0.0], atol=1e-9)


def test_segment_distance() -> None:
    start, end = np.array([0.0, 0.0, 0.0]), np.array([10.0, 0.0, 0.0])
    x, y, z = np.array([5.0, -3.0, 13.0]), np.array([4.0, 0.0, 0.0]), np.array([0.0, 4.0, 0.0])
    # Perpendicular foot inside the segment, then beyond each end (3-4-5 triangles).
    np.testing.assert_allclose(segment_distance(x, y, z, start, end), [4.0, 5.0, 3.0])


def _fracture(kind: str, loss: float) -> RiskFeatures:
    return RiskFeatures(kind, loss, 0.5, 0.0, 0.0, "none", 0.0, "none", 0.0, 0.0, 3.5, 1,  # type: ignore[arg-type]
                        4.0, 85.0)


def test_wedge_lowers_the_anterior_superior_endplate() -> None:
    # Height 20 mm, 30 % loss: the anterior rim (w = -b) loses 0.3 * 20 * 0.8 = 4.8 mm at the
    # top and 1.2 mm at the bottom; the posterior rim (w = +b) keeps its height.
    u, w = np.array([0.0, 0.0]), np.array([-15.0, 15.0])
    top, bottom = fracture_endplates(_fracture("wedge", 0.3), 20.0, u, w, 20.0, 15.0)
    np.testing.assert_allclose(top, [10.0 - 4.8, 10.0])
    np.testing.assert_allclose(bottom, [-10.0 + 1.2, -10.0])


def test_biconcave_and_crush_profiles() -> None:
    u, w = np.array([0.0, 20.0]), np.array([0.0, 0.0])  # centre and lateral rim
    top, bottom = fracture_endplates(_fracture("biconcave", 0.4), 20.0, u, w, 20.0, 15.0)
    # Centre: concavity 1 mm, loss 0.4 * 20 * 1.2 * 0.5 = 4.8 mm from each endplate.
    np.testing.assert_allclose(top, [10.0 - 1.0 - 4.8, 10.0 - 0.4 * 20 * 0.3 * 0.5])
    np.testing.assert_allclose(bottom, -top)
    top, bottom = fracture_endplates(_fracture("crush", 0.5), 20.0, u, w, 20.0, 15.0)
    heights = top - bottom
    # Crush: the whole body loses about half its height, the centre a little more.
    assert heights[0] < heights[1] and heights[1] == pytest.approx(20.0 * (1 - 0.5 * 0.85))


def test_rotation_is_proper_and_tilts_as_documented() -> None:
    r = rotation_xyz(10.0, 0.0, 0.0)
    np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    # Positive theta tilts the superior axis anteriorly (towards -y in LPS).
    assert r[1, 2] == pytest.approx(-np.sin(np.radians(10.0)))


def test_grid_coordinates_match_the_volume_geometry() -> None:
    spec = sample_case_spec("external", 2, 1)
    grid = mr_grid(spec, compact=True)
    volume = grid.volume(np.zeros(grid.shape, dtype=np.uint16), "MR")
    matrix, offset = grid.index_affine()
    ijk = np.array([[3, 5, 2], [0, 0, 0], [95, 111, 10]])
    x, y, z = (np.broadcast_to(c, grid.shape) for c in affine_coords(
        matrix, offset, (0, 0, 0), grid.shape[::-1]))
    anatomy = np.array([[x[k, j, i], y[k, j, i], z[k, j, i]] for i, j, k in ijk])
    # The MR frame is p_mr = R p_anatomy + t; the Volume maps index -> p_mr.
    expected_mr = volume.index_to_mm(ijk.astype(float))
    np.testing.assert_allclose(anatomy @ spec.mr_rotation.T + spec.mr_translation,
                               expected_mr, atol=1e-3)
