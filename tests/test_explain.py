"""Heat maps mapped from the crop grid back onto the series, checked against SimpleITK."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from bcl_core.predict.gradcam import map_to_series
from bcl_core.predict.preprocess import paste_into
from bcl_core.volume import Volume, to_sitk

SAGITTAL = np.array([[0, 0, -1], [1, 0, 0], [0, -1, 0]], float)


def test_map_lands_on_the_same_patient_positions_as_simpleitk() -> None:
    series = Volume(np.zeros((20, 40, 30), np.int16), spacing=(0.8, 0.8, 4.0),
                    origin=(30.0, -20.0, 60.0), direction=SAGITTAL, modality="MR")
    centre = series.center_mm
    size = np.array([12, 12, 12])
    spacing = np.array([2.0, 2.0, 2.0])
    grid = Volume(np.zeros(tuple(size[::-1]), np.uint8), spacing=tuple(spacing),
                  origin=tuple(centre - (size - 1) / 2 * spacing))
    rng = np.random.default_rng(0)
    cam = rng.random(grid.array.shape).astype(np.float32)
    mapped = map_to_series(cam, grid, series)
    full = paste_into(mapped, series)
    # Reference: SimpleITK resamples the same map onto the whole series grid.
    reference = sitk.GetArrayFromImage(sitk.Resample(
        to_sitk(grid.with_array(cam)), to_sitk(series.with_array(np.zeros_like(series.array,
                                                                                  np.float32))),
        sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32))
    # Compare where the series voxel falls inside the crop grid (ITK and scipy treat the
    # outermost half voxel differently).
    k, j, i = np.indices(series.array.shape)
    crop_index = grid.mm_to_index(series.index_to_mm(np.stack([i, j, k], -1).reshape(-1, 3)))
    inside = np.all((crop_index >= 0) & (crop_index <= size - 1), axis=1).reshape(full.shape)
    assert inside.sum() > 100
    np.testing.assert_allclose(full[inside], reference[inside], atol=1e-4)
    # Nothing beyond half a crop voxel outside the crop's extent.
    outside = np.any((crop_index < -0.5) | (crop_index > size - 0.5), axis=1).reshape(full.shape)
    assert np.all(full[outside] == 0)
    assert mapped.array.size < series.array.size
