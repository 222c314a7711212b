"""The whole case pipeline: series + clicks -> masks, boxes, probabilities, calls, heat maps.

``predict_case`` is the one call the app, the ``bcl predict`` command and batch evaluation share:

1. segment the target vertebra on CT and on MRI from the surgeon's click (``segment.py``),
   unless the caller gives the mask (the outline the surgeon approved in the app, or a mask file
   given to ``bcl predict --ct-mask/--mr-mask``): then that mask is the one the model uses;
2. box each mask in its reading plane plus the sidecar's margin (``roi_per_input``), crop and
   resample to the classifier grid (``roi.py``), normalise as the sidecar says
   (``preprocess.py``);
3. one ONNX Runtime call of the fusion model: calibrated probabilities and Grad-CAM maps;
4. thresholds from the sidecar turn probabilities into calls; maps go back onto the original
   voxels (``explain.py``).

No torch on this path. Per-stage timings are measured with ``time.perf_counter``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bcl_core.errors import ModelError, PipelineError
from bcl_core.io.masks import check_mask
from bcl_core.leakage import HEAD_NAMES, LEAKAGE_TYPES, TYPE_LABELS  # noqa: F401 (re-exported)
from bcl_core.predict.gradcam import map_to_series
from bcl_core.predict.preprocess import normalise_intensity
from bcl_core.predict.roi import RoiCrop, crop_roi, roi_box
from bcl_core.predict.runtime import OnnxModel, load_model
from bcl_core.predict.segment import MODEL_FOR_MODALITY, segment_vertebra
from bcl_core.predict.sidecar import InputSpec, RoiSpec, Sidecar
from bcl_core.volume import Volume

logger = logging.getLogger(__name__)

#: The shipped fusion model's name in ``models/``.
FUSION_MODEL = "fusion"
MODALITY_OF_INPUT = {"ct": "CT", "mr": "MR"}

ProgressCallback = Callable[[str], None]


@dataclass(frozen=True)
class ModalityResult:
    """What the pipeline found on one series."""

    point_mm: tuple[float, float, float]
    mask: Volume
    crop: RoiCrop
    #: Grad-CAM map per head on the block of the series' grid that the crop covers.
    maps: Mapping[str, Volume] = field(default_factory=dict)


@dataclass(frozen=True)
class PredictionResult:
    """Everything one prediction produced, with the facts needed to report it."""

    probabilities: Mapping[str, float]
    thresholds: Mapping[str, float]
    calls: Mapping[str, int]
    ct: ModalityResult
    mr: ModalityResult
    timings_s: Mapping[str, float]
    provider: str
    model_version: str
    model_name: str

    def to_json_dict(self) -> dict[str, Any]:
        """The ``bcl predict --json`` document (DESIGN.md public contract) plus context."""
        return {
            "probabilities": {t: round(float(self.probabilities[t]), 6) for t in LEAKAGE_TYPES},
            "calls": {t: int(self.calls[t]) for t in LEAKAGE_TYPES},
            "thresholds": {t: round(float(self.thresholds[t]), 6) for t in LEAKAGE_TYPES},
            "timings_s": {k: round(float(v), 4) for k, v in self.timings_s.items()},
            "provider": self.provider,
            "model_version": self.model_version,
            "ct_point_mm": list(self.ct.point_mm),
            "mr_point_mm": list(self.mr.point_mm),
            "mask_volume_ml": {"ct": self.ct.mask.metadata.get("volume_ml"),
                               "mr": self.mr.mask.metadata.get("volume_ml")},
        }


@dataclass(frozen=True)
class PipelineModels:
    """The ONNX models a prediction needs (shared, thread-safe sessions)."""

    fusion: OnnxModel
    segment_ct: OnnxModel
    segment_mr: OnnxModel

    @classmethod
    def load(cls, fusion: str = FUSION_MODEL) -> PipelineModels:
        """The shipped models (cached per process by :func:`bcl_core.predict.runtime.load_model`)."""
        return cls(load_model(fusion), load_model(MODEL_FOR_MODALITY["CT"]),
                   load_model(MODEL_FOR_MODALITY["MR"]))

    @property
    def provider(self) -> str:
        """Plain-words execution provider of the classifier."""
        return self.fusion.provider_description


def roi_settings(sidecar: Sidecar, input_name: str) -> RoiSpec:
    """The ROI settings (reading plane, margin, centre) of one classifier input.

    Raises
    ------
    ModelError
        If the sidecar is not a classifier's or has no input ``input_name``.
    """
    spec = sidecar.require_classifier()
    if input_name not in spec.roi_per_input:
        raise ModelError(f"{sidecar.path.name} has no ROI settings for input {input_name!r}; "
                         "re-export the model.")
    return spec.roi_per_input[input_name]


def model_heads(sidecar: Sidecar) -> tuple[str, ...]:
    """The classifier's head names in output order, checked to cover every leakage type.

    Raises
    ------
    ModelError
        If a leakage type has no head or no threshold.
    """
    heads = sidecar.require_classifier().heads
    missing = [name for name in LEAKAGE_TYPES if name not in heads]
    if missing:
        raise ModelError(f"{sidecar.path.name}: 'heads' lacks {', '.join(missing)}; this is not "
                         "a leakage classifier of this version, re-export the model.")
    for name in heads:
        sidecar.threshold(name)
    return heads


def classifier_input(series: Volume, mask: Volume, spec: InputSpec, roi: RoiSpec
                     ) -> tuple[NDArray[np.float32], RoiCrop]:
    """The normalised ``(1, 1, k, j, i)`` classifier input for one series, and its crop.

    The box comes from the mask traced in the reading plane for this input (axial for CT,
    sagittal for MRI) plus the margin; the crop, on the input's fixed grid (identity direction,
    ``spec.spacing_mm`` x ``spec.size_ijk``), is centred on the box or on the vertebral body
    (``roi.centre``).
    """
    box = roi_box(mask, roi)
    crop = crop_roi(series, box, spec.size_ijk, spacing_mm=spec.spacing_mm)
    values = normalise_intensity(crop.volume.array, spec.normalisation)
    return values[None, None], crop


def _check_series(volume: Volume, expected: str, role: str) -> None:
    if volume.modality.upper() != expected:
        raise PipelineError(f"The {role} series is {volume.modality}, not {expected}; choose the "
                            f"{role} series of this case.")


def _given_mask(mask: Volume | None, series: Volume, what: str) -> Volume | None:
    """A caller's mask checked against its series (grid, not empty), or ``None``."""
    if mask is None:
        return None
    return check_mask(mask, series, what)


def predict_case(
    ct: Volume,
    mr: Volume,
    ct_point_mm: ArrayLike,
    mr_point_mm: ArrayLike,
    *,
    ct_mask: Volume | None = None,
    mr_mask: Volume | None = None,
    models: PipelineModels | None = None,
    with_maps: bool = True,
    progress: ProgressCallback | None = None,
) -> PredictionResult:
    """Predict bone cement leakage per type for one case.

    Parameters
    ----------
    ct, mr:
        The preoperative axial CT and sagittal T2 MRI series (each in its own frame).
    ct_point_mm, mr_point_mm:
        LPS mm of the target vertebral body's centre in each series' frame (the clicks).
    ct_mask, mr_mask:
        The target vertebra's mask on that series' grid, when one exists (the outline the
        surgeon approved, or a mask file): the model then uses it and the series is not
        segmented again. ``None``: segment the vertebra at the point.
    models:
        Loaded models; defaults to the shipped ones.
    with_maps:
        Map the Grad-CAM maps back onto the series (skip for batch evaluation).
    progress:
        Called with the name of each stage as it starts (``"segmentation_ct"``, ...).

    Returns
    -------
    PredictionResult

    Raises
    ------
    SegmentationError
        If a click is off the image or not on a vertebra.
    InputError
        If a given mask is not on its series' grid or is empty.
    PipelineError, ModelError
        If a series has the wrong modality or a model cannot run.
    """
    _check_series(ct, "CT", "CT")
    _check_series(mr, "MR", "MRI")
    given_ct = _given_mask(ct_mask, ct, "The CT mask")
    given_mr = _given_mask(mr_mask, mr, "The MRI mask")
    models = models or PipelineModels.load()
    sidecar = models.fusion.sidecar
    heads = model_heads(sidecar)
    timings: dict[str, float] = {}
    notify = progress or (lambda stage: None)

    def timed(stage: str, func: Callable[[], Any]) -> Any:
        notify(stage)
        start = time.perf_counter()
        value = func()
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start
        return value

    total_start = time.perf_counter()
    ct_point = np.asarray(ct_point_mm, dtype=float).reshape(3)
    mr_point = np.asarray(mr_point_mm, dtype=float).reshape(3)
    ct_mask = given_ct or timed("segmentation_ct",
                                lambda: segment_vertebra(ct, ct_point, models.segment_ct))
    mr_mask = given_mr or timed("segmentation_mr",
                                lambda: segment_vertebra(mr, mr_point, models.segment_mr))
    ct_input, ct_crop = timed("roi", lambda: classifier_input(
        ct, ct_mask, sidecar.inputs["ct"], roi_settings(sidecar, "ct")))
    mr_input, mr_crop = timed("roi", lambda: classifier_input(
        mr, mr_mask, sidecar.inputs["mr"], roi_settings(sidecar, "mr")))
    outputs = timed("classification", lambda: models.fusion.run({"ct": ct_input, "mr": mr_input}))
    probs = outputs["probabilities"][0]
    if probs.shape != (len(heads),):
        raise ModelError(f"{sidecar.name} returned {probs.shape} probabilities for the "
                         f"{len(heads)} heads its sidecar lists; re-export the model.")
    probabilities = {name: float(probs[h]) for h, name in enumerate(heads)}
    thresholds = {name: sidecar.threshold(name) for name in heads}
    calls = {name: int(probabilities[name] >= thresholds[name]) for name in heads}

    def back_project(name: str, crop: RoiCrop, series: Volume) -> dict[str, Volume]:
        cams = outputs.get(f"cam_{name}")
        if cams is None:
            return {}
        return {head: map_to_series(cams[0, h], crop.volume, series)
                for h, head in enumerate(heads)}

    ct_maps: dict[str, Volume] = {}
    mr_maps: dict[str, Volume] = {}
    if with_maps:
        ct_maps = timed("gradcam", lambda: back_project("ct", ct_crop, ct))
        mr_maps = timed("gradcam", lambda: back_project("mr", mr_crop, mr))
    timings["total"] = time.perf_counter() - total_start
    logger.info("prediction done in %.2f s on %s", timings["total"], models.provider)
    return PredictionResult(
        probabilities=probabilities,
        thresholds=thresholds,
        calls=calls,
        ct=ModalityResult(tuple(ct_point.tolist()), ct_mask, ct_crop, ct_maps),  # type: ignore[arg-type]
        mr=ModalityResult(tuple(mr_point.tolist()), mr_mask, mr_crop, mr_maps),  # type: ignore[arg-type]
        timings_s=timings,
        provider=models.provider,
        model_version=sidecar.version,
        model_name=sidecar.name,
    )
