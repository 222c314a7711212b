"""Volume geometry checked against SimpleITK as the independent reference."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

from bcl_core.errors import GeometryError
from bcl_core.volume import (
    Volume,
    from_sitk,
    plane_of_normal,
    resample,
    resample_like,
    resample_to_spacing,
    to_sitk,
)

# Direction matrices (columns = LPS unit vectors of the i, j, k axes) as DICOM writes them.
AXIAL = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
# Sagittal: rows run towards the feet (-z), columns anterior->posterior (+y), slices L-R (+x).
SAGITTAL = np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], float)
# Coronal: columns +x, rows -z, slices +y.
CORONAL = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], float)
OBLIQUE = Rotation.from_euler("xyz", [20, -35, 50], degrees=True).as_matrix()

ORIENTATIONS = {
    "axial": AXIAL,
    "sagittal": SAGITTAL,
    "coronal": CORONAL,
    "oblique": OBLIQUE,
}


def _sitk_image(direction: np.ndarray, shape_kji=(5, 7, 9), spacing=(0.7, 0.8, 2.5),
                origin=(-120.0, 35.5, 410.25)) -> sitk.Image:
    rng = np.random.default_rng(0)
    image = sitk.GetImageFromArray(rng.normal(size=shape_kji).astype(np.float32))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(tuple(direction.reshape(-1)))
    return image


@pytest.mark.parametrize("name", sorted(ORIENTATIONS))
def test_index_to_mm_matches_simpleitk(name: str) -> None:
    image = _sitk_image(ORIENTATIONS[name])
    volume = from_sitk(image)
    rng = np.random.default_rng(1)
    for ijk in rng.uniform(-2, 10, size=(20, 3)):
        expected = image.TransformContinuousIndexToPhysicalPoint(tuple(float(x) for x in ijk))
        np.testing.assert_allclose(volume.index_to_mm(ijk), expected, atol=1e-9)
        np.testing.assert_allclose(volume.mm_to_index(expected), ijk, atol=1e-9)
    for ijk in [(0, 0, 0), (8, 6, 4), (3, 1, 2)]:
        expected = image.TransformIndexToPhysicalPoint(ijk)
        np.testing.assert_allclose(volume.index_to_mm(ijk), expected, atol=1e-9)


@pytest.mark.parametrize("name", sorted(ORIENTATIONS))
def test_vectorised_transform_and_plane(name: str) -> None:
    volume = from_sitk(_sitk_image(ORIENTATIONS[name]))
    points = np.array([[0, 0, 0], [1, 2, 3], [8, 6, 4]], float)
    np.testing.assert_allclose(volume.mm_to_index(volume.index_to_mm(points)), points, atol=1e-9)
    assert volume.plane == name


def test_affine_matches_simpleitk_and_roundtrip() -> None:
    image = _sitk_image(OBLIQUE)
    volume = from_sitk(image)
    back = to_sitk(volume)
    assert back.GetSpacing() == pytest.approx(image.GetSpacing())
    assert back.GetOrigin() == pytest.approx(image.GetOrigin())
    assert back.GetDirection() == pytest.approx(image.GetDirection())
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))
    # The affine applied to (i, j, k, 1) equals SimpleITK's physical point.
    expected = image.TransformIndexToPhysicalPoint((2, 3, 4))
    np.testing.assert_allclose((volume.affine @ [2, 3, 4, 1])[:3], expected, atol=1e-9)


def test_resample_matches_simpleitk_linear() -> None:
    image = _sitk_image(SAGITTAL, shape_kji=(12, 20, 16), spacing=(0.9, 1.1, 3.0))
    volume = from_sitk(image)
    # A target grid in another orientation that overlaps the source.
    target_direction = AXIAL
    target_origin = volume.center_mm - 6.0
    size = (10, 9, 8)
    spacing = (1.3, 1.2, 1.5)
    ours = resample(volume, size, spacing, target_origin, target_direction, order=1,
                    fill_value=0.0)
    reference = sitk.Image(size, sitk.sitkFloat32)
    reference.SetSpacing(spacing)
    reference.SetOrigin(tuple(target_origin))
    reference.SetDirection(tuple(target_direction.reshape(-1)))
    theirs = sitk.GetArrayFromImage(
        sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    )
    # ITK treats samples on the very edge slightly differently; compare the interior.
    inside = theirs != 0
    assert inside.mean() > 0.5
    np.testing.assert_allclose(ours.array[inside], theirs[inside], atol=1e-4)


def test_resample_like_nearest_keeps_labels() -> None:
    mask = np.zeros((6, 8, 10), np.uint8)
    mask[2:4, 3:6, 4:8] = 1
    volume = Volume(mask, spacing=(1, 1, 2), origin=(5, -3, 10), modality="SEG")
    same = resample_like(volume, volume, order=0)
    np.testing.assert_array_equal(same.array, mask)
    assert same.array.dtype == np.uint8


def test_resample_to_spacing_keeps_extent_and_values() -> None:
    ramp = np.broadcast_to(np.arange(10, dtype=np.float32)[None, None, :], (4, 5, 10)).copy()
    volume = Volume(ramp, spacing=(2.0, 1.0, 1.0))
    fine = resample_to_spacing(volume, (1.0, 1.0, 1.0))
    assert fine.size_ijk == (19, 5, 4)
    # Linear interpolation of a linear ramp reproduces it (hand calculation: value = x_mm / 2).
    np.testing.assert_allclose(fine.array[0, 0, :], np.arange(19) / 2.0, atol=1e-5)


def test_contains_and_nearest_voxel() -> None:
    volume = Volume(np.zeros((3, 4, 5)), spacing=(2, 2, 2), origin=(10, 10, 10))
    assert volume.contains_mm((10, 10, 10))
    assert volume.contains_mm((18, 16, 14))
    assert not volume.contains_mm((30, 10, 10))
    assert volume.nearest_voxel((12.2, 13.9, 10)) == (0, 2, 1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"array": np.zeros((3, 3))}, "3D array"),
        ({"array": np.zeros((3, 3, 3)), "spacing": (1, 0, 1)}, "positive"),
        ({"array": np.zeros((3, 3, 3)), "spacing": (1, np.nan, 1)}, "finite"),
        ({"array": np.zeros((3, 3, 3)), "direction": np.ones((3, 3))}, "orthonormal"),
        ({"array": np.zeros((0, 3, 3))}, "empty"),
    ],
)
def test_bad_geometry_is_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(GeometryError, match=match):
        Volume(**kwargs)


@pytest.mark.parametrize(
    ("normal", "plane"),
    [([0, 0, -1], "axial"), ([0.99, 0.1, 0], "sagittal"), ([0, 1, 0.05], "coronal"),
     ([0.7, 0.7, 0], "oblique")],
)
def test_plane_of_normal(normal: list[float], plane: str) -> None:
    assert plane_of_normal(normal) == plane


def test_right_handed_keeps_voxel_positions() -> None:
    rng = np.random.default_rng(3)
    left = np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], float)
    assert np.linalg.det(left) < 0
    volume = Volume(rng.normal(size=(4, 5, 6)), spacing=(1, 2, 3), origin=(1, 2, 3),
                    direction=left)
    flipped = volume.right_handed()
    assert np.linalg.det(flipped.direction) > 0
    for k, j, i in [(0, 0, 0), (3, 4, 5), (1, 2, 3)]:
        position = volume.index_to_mm((i, j, k))
        kk, jj, ii = flipped.nearest_voxel(position)
        assert flipped.array[kk, jj, ii] == volume.array[k, j, i]
    assert flipped.right_handed() is flipped
