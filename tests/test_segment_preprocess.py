"""Patch grids, intensity normalisation and click guidance (bcl_core.predict.preprocess)."""

from __future__ import annotations

import numpy as np
import pytest

from bcl_core.errors import SegmentationError
from bcl_core.predict.preprocess import (
    crop_to_cover,
    extract_patch,
    guidance_channel,
    model_input,
    normalise_intensity,
    paste_into,
    patch_template,
    resample_onto_region,
)
from bcl_core.predict.sidecar import InputSpec, Normalisation
from bcl_core.volume import Volume

SPEC = InputSpec(name="image", modality="CT", spacing_mm=(2.0, 2.0, 2.0), size_ijk=(8, 10, 12),
                 offset_mm=(0.0, 4.0, 0.0), normalisation=Normalisation("window", 0, 100))
SAGITTAL = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def ramp_volume(direction: np.ndarray | None = None) -> Volume:
    """A sagittal or axial volume whose value is x + 2y + 3z (LPS mm): linear, so linear
    interpolation reproduces it exactly."""
    d = np.eye(3) if direction is None else direction
    shape = (20, 30, 40)  # k, j, i
    base = Volume(np.zeros(shape, np.float32), spacing=(1.0, 1.5, 2.0), origin=(-10, -20, 30),
                  direction=d)
    kk, jj, ii = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    mm = base.index_to_mm(np.stack([ii, jj, kk], -1).reshape(-1, 3))
    values = (mm @ np.array([1.0, 2.0, 3.0])).reshape(shape).astype(np.float32)
    return base.with_array(values)


def test_window_and_percentile_normalisation() -> None:
    window = normalise_intensity([-50.0, 25.0, 300.0], Normalisation("window", 0, 100))
    np.testing.assert_allclose(window, [0.0, 0.25, 1.0])
    values = np.arange(101, dtype=float)  # percentiles of 0..100 are the values themselves
    scaled = normalise_intensity(values, Normalisation("percentile", 10, 90))
    assert scaled[10] == pytest.approx(0.0) and scaled[90] == pytest.approx(1.0)
    assert scaled[50] == pytest.approx(0.5) and scaled[0] == pytest.approx(-0.125)


def test_patch_template_is_centred_on_click_plus_offset() -> None:
    grid = patch_template([1.0, 2.0, 3.0], SPEC)
    assert grid.size_ijk == (8, 10, 12)
    np.testing.assert_allclose(grid.center_mm, [1.0, 6.0, 3.0])
    np.testing.assert_allclose(grid.direction, np.eye(3))


@pytest.mark.parametrize("direction", [None, SAGITTAL])
def test_extract_patch_samples_the_right_positions(direction) -> None:
    volume = ramp_volume(direction)
    point = volume.center_mm
    patch = extract_patch(volume, point, SPEC)
    kk, jj, ii = np.meshgrid(*(np.arange(n) for n in patch.array.shape), indexing="ij")
    mm = patch.index_to_mm(np.stack([ii, jj, kk], -1).reshape(-1, 3))
    expected = (mm @ np.array([1.0, 2.0, 3.0])).reshape(patch.array.shape)
    inside = np.array([volume.contains_mm(p, margin_voxels=-1) for p in mm]).reshape(
        patch.array.shape)
    assert inside.sum() > 0.5 * inside.size
    np.testing.assert_allclose(patch.array[inside], expected[inside], atol=1e-3)


def test_patch_entirely_off_the_image_is_refused() -> None:
    with pytest.raises(SegmentationError, match="outside the image"):
        extract_patch(ramp_volume(), [1000.0, 0.0, 0.0], SPEC)
    assert crop_to_cover(ramp_volume(), patch_template([1000.0, 0, 0], SPEC)) is None


def test_guidance_is_a_gaussian_in_mm() -> None:
    grid = patch_template([0.0, -4.0, 0.0], SPEC)  # centre at the origin
    point = grid.index_to_mm([3, 4, 5])
    guidance = guidance_channel(grid, point, sigma_mm=3.0)
    assert guidance[5, 4, 3] == pytest.approx(1.0)
    # One voxel (2 mm) away along i: exp(-2^2 / (2 * 3^2)).
    assert guidance[5, 4, 4] == pytest.approx(np.exp(-4 / 18), rel=1e-5)
    assert guidance[6, 5, 4] == pytest.approx(np.exp(-12 / 18), rel=1e-5)


def test_model_input_stacks_image_and_guidance() -> None:
    volume = ramp_volume()
    patch = extract_patch(volume, volume.center_mm, SPEC)
    batch = model_input(patch, volume.center_mm, SPEC, 3.0)
    assert batch.shape == (1, 2, 12, 10, 8) and batch.dtype == np.float32
    assert 0 <= batch[0, 0].min() and batch[0, 0].max() <= 1
    # Even sizes: the click lies half a voxel (1 mm) from the nearest voxel along each axis.
    assert batch[0, 1].max() == pytest.approx(np.exp(-3 / 18), rel=1e-5)


def test_resample_onto_region_and_paste_back_cover_the_source_extent() -> None:
    reference = ramp_volume(SAGITTAL)
    source = patch_template(reference.center_mm, SPEC)
    ones = source.with_array(np.ones(source.array.shape, np.float32))
    region = resample_onto_region(ones, reference, order=0)
    assert region is not None
    full = paste_into(region, reference)
    assert full.shape == reference.array.shape
    # Voxels inside the patch's extent (16 x 20 x 24 mm) : about its volume / voxel volume.
    expected = 16 * 20 * 24 / (1.0 * 1.5 * 2.0)
    assert abs(full.sum() - expected) / expected < 0.25
