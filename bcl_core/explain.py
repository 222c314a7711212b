"""Grad-CAM maps mapped back onto the original CT and MRI voxels.

The fusion model's ONNX graph returns one map per head and modality on the classifier's crop
grid (see :class:`bcl_core.nets.fusion.FusionWithCAM`). Here each map becomes a
:class:`~bcl_core.volume.Volume` on that crop grid and is resampled onto the original series'
voxels, but only onto the block of the series that the crop covers: the rest of the series is
zero by definition, and a full 512x512x300 resampling per map would cost seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bcl_core.volume import Volume, resample


@dataclass(frozen=True)
class SeriesMap:
    """A heat map on a block of an original series' voxel grid.

    ``block`` is a Volume with the series' spacing and direction whose voxel ``(0, 0, 0)`` is
    the series' voxel ``offset_kji``; values in [0, 1].
    """

    block: Volume
    offset_kji: tuple[int, int, int]

    def full(self, series: Volume) -> NDArray[np.float32]:
        """The map as an array of the series' full shape (zeros outside the block)."""
        out = np.zeros(series.array.shape, dtype=np.float32)
        k, j, i = self.offset_kji
        dk, dj, di = self.block.array.shape
        out[k:k + dk, j:j + dj, i:i + di] = self.block.array
        return out


def series_block(series: Volume, region: Volume, pad_voxels: int = 1) -> tuple[Volume, tuple[int, int, int]]:
    """The block of ``series``' grid (empty array) covering ``region``'s extent, and its offset.

    Returns
    -------
    (Volume, (k, j, i))
        An empty uint8 volume on the block, and the index of its first voxel in ``series``.
    """
    corners = series.mm_to_index(region.corners_mm())
    size = np.asarray(series.size_ijk)
    lower = np.clip(np.floor(corners.min(axis=0)).astype(int) - pad_voxels, 0, size - 1)
    upper = np.clip(np.ceil(corners.max(axis=0)).astype(int) + pad_voxels, 0, size - 1)
    extent = upper - lower + 1
    origin = series.index_to_mm(lower.astype(float))
    block = Volume(np.zeros(tuple(extent[::-1]), np.uint8), spacing=series.spacing,
                   origin=tuple(origin), direction=series.direction)
    return block, (int(lower[2]), int(lower[1]), int(lower[0]))


def map_to_series(cam: NDArray[np.floating], crop_grid: Volume, series: Volume) -> SeriesMap:
    """Resample a map given on ``crop_grid`` (array ``(D, H, W)``) onto ``series``' voxels.

    Parameters
    ----------
    cam:
        Map values on the crop grid, shape ``crop_grid.array.shape``.
    crop_grid:
        The classifier crop's grid in patient mm (from the ROI step).
    series:
        The original CT or MR series.
    """
    source = crop_grid.with_array(np.asarray(cam, dtype=np.float32))
    block, offset = series_block(series, crop_grid)
    mapped = resample(source, block.size_ijk, block.spacing, block.origin, block.direction,
                      order=1, fill_value=0.0, dtype=np.float32)
    return SeriesMap(mapped, offset)
