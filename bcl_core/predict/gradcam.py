"""Grad-CAM maps mapped back onto the original CT and MRI voxels.

The fusion model's ONNX graph returns one map per head and modality on the classifier's crop
grid (see :class:`bcl_core.nets.fusion.FusionWithCAM`). Each map becomes a
:class:`~bcl_core.volume.Volume` on that crop grid and is resampled onto the original series'
voxels, but only onto the block of the series that the crop covers (the rest is zero by
definition, and a full 512x512x300 resampling per map would cost seconds):
:func:`bcl_core.predict.preprocess.paste_into` gives the full-size array when one is needed.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from bcl_core.errors import PipelineError
from bcl_core.predict.preprocess import resample_onto_region
from bcl_core.volume import Volume


def map_to_series(cam: NDArray[np.floating], crop_grid: Volume, series: Volume) -> Volume:
    """Resample a map given on ``crop_grid`` onto the block of ``series``' voxels it covers.

    Parameters
    ----------
    cam:
        Map values in [0, 1] on the crop grid, shape ``crop_grid.array.shape``.
    crop_grid:
        The classifier crop's grid in patient mm (from the ROI step).
    series:
        The original CT or MR series.

    Returns
    -------
    Volume
        The map on a sub-grid of ``series`` (same spacing and direction).

    Raises
    ------
    PipelineError
        If the crop does not overlap the series (the crop came from another series).
    """
    source = crop_grid.with_array(np.asarray(cam, dtype=np.float32))
    mapped = resample_onto_region(source, series, order=1, fill_value=0.0)
    if mapped is None:
        raise PipelineError("The heat map's crop lies outside this series; it was computed on "
                            "another series.")
    return mapped
