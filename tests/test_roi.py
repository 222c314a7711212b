"""ROI box from mask contours, margin, crop to the classifier grid and mapping back."""

from __future__ import annotations

import numpy as np
import pytest

from bcl_core.errors import GeometryError, SegmentationError
from bcl_core.predict.roi import Box, crop_roi, mask_body_centre, mask_box, roi_box
from bcl_core.predict.sidecar import RoiSpec
from bcl_core.volume import Volume

SAGITTAL = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def cuboid_mask(direction: np.ndarray | None = None) -> Volume:
    """Mask of voxels i in [10, 19], j in [5, 14], k in [3, 7] on a (1, 2, 3) mm grid."""
    array = np.zeros((12, 25, 30), np.uint8)
    array[3:8, 5:15, 10:20] = 1
    return Volume(array, spacing=(1.0, 2.0, 3.0), origin=(5.0, -7.0, 11.0),
                  direction=np.eye(3) if direction is None else direction)


def test_box_of_an_axial_cuboid_is_its_voxel_extent() -> None:
    box = mask_box(cuboid_mask(), "axial")
    # Worked by hand: lower = origin + (index - 0.5) * spacing, upper = origin + (index + 0.5)*s.
    np.testing.assert_allclose(box.lower_mm, [5 + 9.5, -7 + 9.0, 11 + 7.5])
    np.testing.assert_allclose(box.upper_mm, [5 + 19.5, -7 + 29.0, 11 + 22.5])


def test_box_of_a_sagittal_cuboid_follows_the_direction() -> None:
    box = mask_box(cuboid_mask(SAGITTAL), "sagittal")
    # i runs along +y (1 mm), j along -z (2 mm), k along +x (3 mm).
    np.testing.assert_allclose(box.lower_mm, [5 + 7.5, -7 + 9.5, 11 - 29.0])
    np.testing.assert_allclose(box.upper_mm, [5 + 22.5, -7 + 19.5, 11 - 9.0])


def test_contour_box_equals_the_box_of_all_voxels_for_any_shape() -> None:
    rng = np.random.default_rng(3)
    array = (rng.random((10, 12, 14)) > 0.7).astype(np.uint8)
    mask = Volume(array, spacing=(0.7, 0.7, 1.25))
    kk, jj, ii = np.nonzero(array)
    lower = np.array([ii.min(), jj.min(), kk.min()]) * [0.7, 0.7, 1.25] - [0.35, 0.35, 0.625]
    upper = np.array([ii.max(), jj.max(), kk.max()]) * [0.7, 0.7, 1.25] + [0.35, 0.35, 0.625]
    for plane in ("axial", "sagittal"):
        box = mask_box(mask, plane)
        np.testing.assert_allclose(box.lower_mm, lower)
        np.testing.assert_allclose(box.upper_mm, upper)


def test_margin_from_the_sidecar_setting() -> None:
    box = roi_box(cuboid_mask(), RoiSpec(margin_mm=(10.0, 10.0, 6.0), plane="axial"))
    np.testing.assert_allclose(box.size_mm, [10 + 20, 20 + 20, 15 + 12])
    with pytest.raises(GeometryError, match="negative"):
        box.expanded(-1)


def test_empty_mask_and_unknown_plane_are_refused() -> None:
    empty = Volume(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(SegmentationError, match="empty"):
        mask_box(empty)
    with pytest.raises(GeometryError, match="Unknown plane"):
        mask_box(cuboid_mask(), "oblique")


def linear_volume() -> Volume:
    shape = (40, 50, 60)
    base = Volume(np.zeros(shape, np.float32), spacing=(0.8, 0.8, 1.5), origin=(-20, -25, 100))
    kk, jj, ii = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    x = -20 + 0.8 * ii
    return base.with_array((x + 0 * jj + 0 * kk).astype(np.float32))


def test_crop_is_centred_isotropic_and_samples_the_box() -> None:
    volume = linear_volume()
    box = Box(np.array([-10.0, -15.0, 110.0]), np.array([14.0, 1.0, 126.0]))
    crop = crop_roi(volume, box, (16, 16, 16))
    # Widest side 24 mm over 16 voxels: 1.5 mm, isotropic.
    np.testing.assert_allclose(crop.volume.spacing, [1.5, 1.5, 1.5])
    np.testing.assert_allclose(crop.volume.center_mm, box.centre_mm)
    # The value is x in mm: column i of the crop sits at x = 2 - 7.5 * 1.5 + 1.5 i.
    expected_x = 2.0 - 7.5 * 1.5 + 1.5 * np.arange(16)
    np.testing.assert_allclose(crop.volume.array[8, 8, :], expected_x, atol=1e-3)


def test_crop_maps_back_to_the_original_voxels() -> None:
    volume = linear_volume()
    box = Box(np.array([-10.0, -15.0, 110.0]), np.array([14.0, 9.0, 134.0]))
    crop = crop_roi(volume, box, (12, 12, 12), spacing_mm=(2.0, 2.0, 2.0))
    back = crop.to_original(np.ones((12, 12, 12), np.float32), volume, order=0)
    assert back.same_grid(volume)
    # Crop voxel centres span x, y in [-9, 13] and z in [111, 133] mm. Original centres inside:
    # x = -20 + 0.8 i -> i = 14..41 (28); y = -25 + 0.8 j -> j = 14..41 (28);
    # z = 100 + 1.5 k -> k = 8..22 (15).
    assert float(back.array.sum()) == 28 * 28 * 15
    assert back.array[8, 14, 14] == 1 and back.array[8, 14, 13] == 0
    # Crop voxel (0, 0, 0) is at box.lower + 1 mm: original index (x + 20) / 0.8 etc.
    ijk = crop.to_original_index([0, 0, 0], volume)
    np.testing.assert_allclose(ijk, [(-9 + 20) / 0.8, (-14 + 25) / 0.8, (111 - 100) / 1.5])


def test_crop_outside_the_image_is_refused() -> None:
    box = Box(np.array([500.0, 500.0, 500.0]), np.array([510.0, 510.0, 510.0]))
    with pytest.raises(GeometryError, match="outside the image"):
        crop_roi(linear_volume(), box, (8, 8, 8))


def vertebra_like_mask(direction: np.ndarray | None = None) -> tuple[Volume, np.ndarray]:
    """A thick "body" block plus a thin "posterior element" plate behind it (1 x 1 x 2 mm grid).

    Returns the mask and the body block's centre in LPS mm, worked out from the indices.
    """
    array = np.zeros((30, 80, 60), np.uint8)  # (k, j, i)
    array[5:25, 10:40, 10:50] = 1             # body: k 5-24 (40 mm), j 10-39, i 10-49
    array[12:18, 40:75, 10:50] = 1            # plate: 12 mm thick (k), 35 mm long, 40 mm wide
    volume = Volume(array, spacing=(1.0, 1.0, 2.0), origin=(-30.0, 4.0, 100.0),
                    direction=np.eye(3) if direction is None else direction)
    centre_index = np.array([(10 + 49) / 2, (10 + 39) / 2, (5 + 24) / 2])  # (i, j, k)
    return volume, volume.index_to_mm(centre_index)


@pytest.mark.parametrize("direction", [None, SAGITTAL])
def test_body_centre_ignores_thin_posterior_elements(direction) -> None:
    mask, body_centre = vertebra_like_mask(direction)
    found = mask_body_centre(mask)
    np.testing.assert_allclose(found, body_centre, atol=1.0)
    # The plain centroid is pulled towards the plate by several mm: the body centre is not it.
    kji = np.argwhere(mask.array > 0).mean(axis=0)
    centroid = mask.index_to_mm(kji[::-1])
    assert np.linalg.norm(centroid - body_centre) > 3.0


def test_body_centred_box_keeps_the_size_and_moves_the_centre() -> None:
    mask, body_centre = vertebra_like_mask()
    plain = roi_box(mask, RoiSpec(margin_mm=(5.0, 5.0, 5.0), plane="axial"))
    centred = roi_box(mask, RoiSpec(margin_mm=(5.0, 5.0, 5.0), plane="axial", centre="body"))
    np.testing.assert_allclose(centred.size_mm, plain.size_mm)
    np.testing.assert_allclose(centred.centre_mm, body_centre, atol=1.0)
    with pytest.raises(GeometryError, match="Unknown ROI centre"):
        roi_box(mask, RoiSpec(margin_mm=(5.0, 5.0, 5.0), plane="axial", centre="middle"))
    with pytest.raises(SegmentationError):
        mask_body_centre(mask.with_array(np.zeros_like(mask.array)))


# --- the ROI works on the mask's bounding block (issue 17: ROI <= 0.1 s on a full-size CT) ----
def test_crop_to_mask_keeps_the_geometry_and_the_edge_of_the_grid() -> None:
    from bcl_core.predict.roi import crop_to_mask

    mask = cuboid_mask()
    block = crop_to_mask(mask)
    assert block.array.shape == (5, 10, 10)  # k 3-7, j 5-14, i 10-19
    np.testing.assert_allclose(block.origin, mask.index_to_mm([10, 5, 3]))
    # A mask that touches the grid's edge: the block stops there, the box is still the voxels'.
    array = np.zeros((12, 25, 30), np.uint8)
    array[0:4, 20:25, 0:6] = 1
    edge = Volume(array, spacing=(1.0, 2.0, 3.0), origin=(5.0, -7.0, 11.0))
    assert crop_to_mask(edge, pad_voxels=2).array.shape == (6, 7, 8)
    box = mask_box(edge, "axial")
    # By hand: i 0-5 -> x 5 - 0.5 .. 5 + 5.5; j 20-24 -> y -7 + 39 .. -7 + 49; k 0-3 -> z
    # 11 - 1.5 .. 11 + 10.5.
    np.testing.assert_allclose(box.lower_mm, [4.5, 32.0, 9.5])
    np.testing.assert_allclose(box.upper_mm, [10.5, 42.0, 21.5])
    with pytest.raises(SegmentationError, match="empty"):
        crop_to_mask(edge.with_array(np.zeros_like(array)))


def test_a_crop_reaching_outside_the_series_is_filled_with_its_minimum() -> None:
    volume = linear_volume()  # x in mm from -20 (its minimum) to 27.2
    inside = Box(np.array([-5.0, -5.0, 120.0]), np.array([5.0, 5.0, 130.0]))
    crop = crop_roi(volume, inside, (8, 8, 8))
    assert float(crop.volume.array.min()) > -20.0 + 1.0  # only the image, no fill
    # This box starts 10 mm left of the image (x < -20): those crop voxels get the minimum, -20.
    outside = Box(np.array([-30.0, -5.0, 120.0]), np.array([-10.0, 15.0, 140.0]))
    crop = crop_roi(volume, outside, (10, 10, 10))
    left = crop.volume.array[:, :, 0]  # x = -30 + 1: outside the image
    np.testing.assert_allclose(left, -20.0)
