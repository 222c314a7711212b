"""Click-guided segmentation of the target vertebra, on CT or MRI (ONNX Runtime; no torch).

The surgeon marks the fractured vertebra; the model for the series' modality segments it in a
patch around the click; the probability map is resampled back onto the series' own grid. A click
that does not land on a vertebra is refused with :class:`SegmentationError` instead of
returning whatever blob the network produced: the connected component at the click must exist
and have a plausible volume (bounds from the sidecar, set by training).
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from bcl_core.errors import ModelError, SegmentationError
from bcl_core.predict.preprocess import extract_patch, model_input, paste_into, resample_onto_region
from bcl_core.predict.runtime import OnnxModel, load_model
from bcl_core.volume import Volume

logger = logging.getLogger(__name__)

#: Default model per DICOM modality.
MODEL_FOR_MODALITY = {"CT": "seg_ct", "MR": "seg_mr"}
_CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)


def dice_score(a: ArrayLike, b: ArrayLike) -> float:
    """Dice coefficient of two binary masks (1.0 when both are empty).

    Examples
    --------
    >>> dice_score([1, 1, 0, 0], [1, 0, 0, 0])
    0.6666666666666666
    """
    first, second = np.asarray(a) > 0, np.asarray(b) > 0
    total = int(first.sum()) + int(second.sum())
    return 1.0 if total == 0 else 2.0 * float(np.logical_and(first, second).sum()) / total


def model_for(volume: Volume) -> OnnxModel:
    """The shipped segmentation model for the series' modality.

    Raises
    ------
    ModelError
        If the modality has no segmentation model (only CT and MR have one).
    """
    name = MODEL_FOR_MODALITY.get(volume.modality.upper())
    if name is None:
        raise ModelError(f"No segmentation model for modality {volume.modality!r}; only CT and "
                         "MR series can be segmented.")
    return load_model(name)


def _component_at_click(foreground: NDArray[np.bool_], grid: Volume, point_mm: ArrayLike,
                        search_mm: float) -> NDArray[np.bool_] | None:
    """The foreground component at (or within ``search_mm`` of) the click, largest if several."""
    labels, count = ndimage.label(foreground, structure=_CONNECTIVITY)
    if count == 0:
        return None
    click_ijk = grid.mm_to_index(point_mm)
    kk, jj, ii = np.nonzero(labels)
    offsets = (np.stack([ii, jj, kk], axis=1) - click_ijk) * np.asarray(grid.spacing)
    near = np.einsum("ij,ij->i", offsets, offsets) <= search_mm ** 2
    candidates = np.unique(labels[kk[near], jj[near], ii[near]])
    if candidates.size == 0:
        return None
    sizes = ndimage.sum_labels(foreground, labels, candidates)
    return np.asarray(labels == candidates[int(np.argmax(sizes))])


def segment_vertebra(volume: Volume, point_mm: ArrayLike, model: OnnxModel | None = None
                     ) -> Volume:
    """Segment the vertebra under a click.

    Parameters
    ----------
    volume:
        The CT or MRI series (any orientation).
    point_mm:
        LPS mm of a point inside the target vertebral body, in this series' own frame.
    model:
        A segmentation model; defaults to the shipped one for ``volume.modality``.

    Returns
    -------
    Volume
        ``uint8`` mask (1 = target vertebra) on the series' grid, modality ``"SEG"``; metadata
        holds ``volume_ml``, ``model``, ``model_version`` and ``provider``.

    Raises
    ------
    SegmentationError
        If the point is off the image or not on a vertebra (nothing, or something of
        implausible size, is found there).
    ModelError
        If the model cannot be loaded or is not a segmentation model.

    Examples
    --------
    >>> mask = segment_vertebra(ct, [12.0, -30.5, 410.0])  # doctest: +SKIP
    """
    point = np.asarray(point_mm, dtype=float).reshape(-1)
    if point.shape != (3,) or not np.all(np.isfinite(point)):
        raise SegmentationError(f"The marked point must be three numbers (LPS mm), got "
                                f"{point_mm!r}.")
    if not volume.contains_mm(point):
        raise SegmentationError(f"The marked point ({', '.join(f'{v:.1f}' for v in point)}) mm "
                                "is outside the image; mark a point inside the target vertebra.")
    model = model or model_for(volume)
    sidecar = model.sidecar
    spec, settings = sidecar.input, sidecar.require_segmentation()
    if volume.modality.upper() in MODEL_FOR_MODALITY and volume.modality.upper() != spec.modality:
        raise ModelError(f"{sidecar.name} segments {spec.modality} series; this series is "
                         f"{volume.modality}. Use the {spec.modality} model's counterpart.")
    threshold = sidecar.threshold("mask")
    patch = extract_patch(volume, point, spec)
    batch = model_input(patch, point, spec, settings.guidance_sigma_mm)
    probability = _probability(model, batch, settings.mirror_average)
    component = _component_at_click(probability >= threshold, patch, point,
                                    settings.click_search_mm)
    if component is None:
        raise SegmentationError("No vertebra found at the marked point; mark the centre of the "
                                "fractured vertebral body.")
    patch_ml = float(component.sum()) * float(np.prod(patch.spacing)) / 1000.0
    if not settings.min_volume_ml <= patch_ml <= settings.max_volume_ml:
        raise SegmentationError(
            f"The structure found at the marked point ({patch_ml:.1f} ml) is not the size of a "
            f"vertebra ({settings.min_volume_ml:.0f}-{settings.max_volume_ml:.0f} ml); mark the "
            "centre of the fractured vertebral body.")
    kept = ndimage.binary_dilation(component, structure=_CONNECTIVITY, iterations=2)
    mask = _to_series_grid(volume, patch.with_array(np.where(kept, probability, 0.0)), threshold)
    volume_ml = float(mask.sum()) * float(np.prod(volume.spacing)) / 1000.0
    if volume_ml == 0:
        raise SegmentationError("The vertebra found is too small to show on this series' grid; "
                                "check the series and mark the vertebral body again.")
    logger.info("segmented %.1f ml with %s (%s)", volume_ml, sidecar.name, model.provider)
    return replace(volume, array=mask, modality="SEG", metadata={
        "volume_ml": volume_ml, "model": sidecar.name, "model_version": sidecar.version,
        "provider": model.provider_description, "point_mm": point.tolist()})


def _probability(model: OnnxModel, batch: NDArray[np.float32], mirror_average: bool
                 ) -> NDArray[np.float32]:
    """Foreground probability on the patch grid, ``(k, j, i)``.

    With ``mirror_average`` the patch and its left-right mirror image (LPS x, array axis -1: the
    patch grid has identity direction) run as one batch of two, and the mirrored result is
    mirrored back before the two probabilities are averaged.
    """
    name = model.sidecar.input_names[0]
    if mirror_average:
        batch = np.concatenate([batch, batch[..., ::-1]])
    logits = model.run({name: batch})[model.sidecar.output_names[0]][:, 0].astype(np.float64)
    probability = 1.0 / (1.0 + np.exp(-logits))
    if mirror_average:
        probability = 0.5 * (probability[0] + probability[1][..., ::-1])
    else:
        probability = probability[0]
    return probability.astype(np.float32)


def _to_series_grid(volume: Volume, probability: Volume, threshold: float) -> NDArray[np.uint8]:
    """Threshold a patch probability map resampled onto the series grid (where the patch lies)."""
    values = resample_onto_region(probability, volume)
    if values is None:
        return np.zeros(volume.array.shape, dtype=np.uint8)
    inside = values.array >= threshold
    labels, count = ndimage.label(inside, structure=_CONNECTIVITY)
    if count > 1:  # interpolation can leave specks beside the vertebra: keep the vertebra
        sizes = ndimage.sum_labels(inside, labels, np.arange(1, count + 1))
        inside = labels == (1 + int(np.argmax(sizes)))
    return paste_into(values.with_array(inside.astype(np.uint8)), volume, dtype=np.uint8)
