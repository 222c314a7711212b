"""The whole case pipeline: series + clicks -> masks, boxes, probabilities, calls, heat maps.

``predict_case`` is the one call the app, the ``bcl predict`` command and batch evaluation share:

1. segment the target vertebra on CT and on MRI from the surgeon's click (``segment.py``);
2. box each mask in its reading plane plus the sidecar's margin, crop and resample to the
   classifier grid (``roi.py``), normalise as the sidecar says (``preprocess.py``);
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
from bcl_core.explain import map_to_series
from bcl_core.inference import OnnxModel, load_model
from bcl_core.leakage import HEAD_NAMES, LEAKAGE_TYPES, TYPE_LABELS  # noqa: F401 (re-exported)
from bcl_core.preprocess import normalise_intensity
from bcl_core.roi import ROI_CENTRES, RoiCrop, crop_roi, roi_box
from bcl_core.segment import MODEL_FOR_MODALITY, segment_vertebra
from bcl_core.sidecar import InputSpec, RoiSpec, Sidecar
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
        """The shipped models (cached per process by :func:`bcl_core.inference.load_model`)."""
        return cls(load_model(fusion), load_model(MODEL_FOR_MODALITY["CT"]),
                   load_model(MODEL_FOR_MODALITY["MR"]))

    @property
    def provider(self) -> str:
        """Plain-words execution provider of the classifier."""
        return self.fusion.provider_description


def roi_settings(sidecar: Sidecar, input_name: str) -> RoiSpec:
    """The ROI settings (reading plane, margin) of one classifier input from its sidecar."""
    roi = sidecar.raw.get("roi_per_input", {}).get(input_name)
    if roi is None:
        raise ModelError(f"{sidecar.path.name} has no ROI settings for input {input_name!r}; "
                         "re-export the model.")
    centre = str(roi.get("centre", "box"))
    if centre not in ROI_CENTRES:
        raise ModelError(f"{sidecar.path.name}: ROI centre {centre!r} for input {input_name!r} "
                         f"is not one of {', '.join(ROI_CENTRES)}; re-export the model.")
    return RoiSpec(margin_mm=tuple(float(m) for m in roi["margin_mm"]),  # type: ignore[arg-type]
                   plane=str(roi["plane"]), centre=centre)


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


def predict_case(
    ct: Volume,
    mr: Volume,
    ct_point_mm: ArrayLike,
    mr_point_mm: ArrayLike,
    *,
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
    models:
        Loaded models; defaults to the shipped ones.
    with_maps:
        Map the Grad-CAM maps back onto the series (skip for batch evaluation).
    progress:
        Called with the name of each stage as it starts (``"segmentation"``, ...).

    Returns
    -------
    PredictionResult

    Raises
    ------
    SegmentationError
        If a click is off the image or not on a vertebra.
    PipelineError, ModelError
        If a series has the wrong modality or a model cannot run.
    """
    _check_series(ct, "CT", "CT")
    _check_series(mr, "MR", "MRI")
    models = models or PipelineModels.load()
    sidecar = models.fusion.sidecar
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
    ct_mask = timed("segmentation_ct", lambda: segment_vertebra(ct, ct_point, models.segment_ct))
    mr_mask = timed("segmentation_mr", lambda: segment_vertebra(mr, mr_point, models.segment_mr))
    ct_input, ct_crop = timed("roi", lambda: classifier_input(
        ct, ct_mask, sidecar.inputs["ct"], roi_settings(sidecar, "ct")))
    mr_input, mr_crop = timed("roi", lambda: classifier_input(
        mr, mr_mask, sidecar.inputs["mr"], roi_settings(sidecar, "mr")))
    outputs = timed("classification", lambda: models.fusion.run({"ct": ct_input, "mr": mr_input}))
    heads: list[str] = list(sidecar.raw.get("heads", HEAD_NAMES))
    probs = outputs["probabilities"][0]
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
