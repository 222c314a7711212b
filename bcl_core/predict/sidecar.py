"""Typed, read-only view of a model's JSON sidecar: the one place each model constant lives.

Training writes the sidecar next to the ONNX file (:func:`write_sidecar`); inference, the
segmentation step and the ROI step read it (:func:`load_sidecar`). No constant that a sidecar
holds (input spacing, patch size, intensity normalisation, margins, thresholds, ...) is written a
second time anywhere in the code. Every field inference reads is typed here, and a sidecar that
lacks one is refused when it is loaded (:class:`ModelError` naming the file and the key):

* every model: ``name``, ``task``, ``version``, ``onnx_file``, ``sha256``, ``input_names``,
  ``output_names``, ``thresholds``, ``inputs`` (one entry per input name);
* ``task: "segmentation"``: ``segmentation`` (:class:`SegmentationSpec`);
* ``task: "classification"``: ``heads`` (output order of the per-type heads) and
  ``roi_per_input`` (:class:`RoiSpec` per input name: margin, reading plane, centre).

Layout (``schema_version`` 1)::

    {
      "schema_version": 1,
      "name": "seg_ct", "task": "segmentation", "version": "...",
      "onnx_file": "seg_ct.onnx", "sha256": "<hex digest of the ONNX file>",
      "input_names": ["input"], "output_names": ["logits"],
      "thresholds": {"mask": 0.5},
      "inputs": {"input": {"modality": "CT", "spacing_mm": [1.5, 1.5, 1.5],
                            "size_ijk": [64, 64, 64], "offset_mm": [0, 15, 0],
                            "normalisation": {"kind": "window", "low": -200, "high": 1400}}},
      "segmentation": {"guidance_sigma_mm": 3.0, "min_volume_ml": 8, "max_volume_ml": 160,
                       "click_search_mm": 4.0},
      "training": {...}            # free-form provenance, not read by inference
    }

A classification sidecar has, instead of ``segmentation``::

      "heads": ["type1", "type2", "type3", "type4", "any"],
      "roi_per_input": {"ct": {"margin_mm": [10, 10, 6], "plane": "axial", "centre": "body"},
                        "mr": {"margin_mm": [10, 10, 6], "plane": "sagittal", "centre": "body"}}
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from bcl_core.errors import ModelError

logger = logging.getLogger(__name__)

SIDECAR_SCHEMA_VERSION = 1
NormalisationKind = Literal["window", "percentile"]
_NORMALISATION_KINDS = ("window", "percentile")
#: Where the classifier grid may be centred (``roi_per_input.<input>.centre``).
ROI_CENTRES: tuple[str, ...] = ("box", "body")
#: Reading planes a mask's contours may be traced in (``roi_per_input.<input>.plane``).
ROI_PLANES: tuple[str, ...] = ("axial", "sagittal", "coronal")


@dataclass(frozen=True)
class Normalisation:
    """Intensity normalisation of one model input.

    ``kind="window"``: clip to ``[low, high]`` (e.g. HU) and scale to ``[0, 1]``.
    ``kind="percentile"``: ``low``/``high`` are percentiles of the patch itself mapped to 0 and 1
    (for MRI, whose units differ between scanners), values outside kept but clipped to
    ``[-0.5, 1.5]``.
    """

    kind: NormalisationKind
    low: float
    high: float


@dataclass(frozen=True)
class InputSpec:
    """Grid and intensity handling of one model input."""

    name: str
    modality: str
    spacing_mm: tuple[float, float, float]
    size_ijk: tuple[int, int, int]
    offset_mm: tuple[float, float, float]
    normalisation: Normalisation


@dataclass(frozen=True)
class SegmentationSpec:
    """Settings of the click-guided segmentation step."""

    guidance_sigma_mm: float
    min_volume_ml: float
    max_volume_ml: float
    click_search_mm: float
    #: Average the probabilities of the patch and of its left-right mirror image (test-time
    #: augmentation; the network was trained on mirrored patches). Absent in older sidecars: off.
    mirror_average: bool = False


@dataclass(frozen=True)
class RoiSpec:
    """Box settings: margin (mm along LPS x, y, z) added to the mask box, and its plane.

    ``centre`` says where the classifier's fixed grid is centred: on the box (``"box"``) or on
    the vertebral body (``"body"``: the centre of the mask's thickest part), so a grid smaller
    than the whole vertebra keeps the body, its walls and the canal. A sidecar must state it;
    the default serves code that builds a box by hand.
    """

    margin_mm: tuple[float, float, float]
    plane: str
    centre: str = "box"


@dataclass(frozen=True)
class ClassifierSpec:
    """Settings of the leakage classifier: its heads and the box of each input."""

    #: Head names in the order of the model's outputs (``type1`` ... ``type4``, ``any``).
    heads: tuple[str, ...]
    #: ROI settings per classifier input name.
    roi_per_input: Mapping[str, RoiSpec]


@dataclass(frozen=True)
class Sidecar:
    """A model's sidecar, validated. Build it with :func:`load_sidecar` or :meth:`from_dict`."""

    path: Path
    name: str
    task: str
    version: str
    onnx_file: str
    sha256: str
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    thresholds: Mapping[str, float]
    inputs: Mapping[str, InputSpec]
    segmentation: SegmentationSpec | None = None
    classifier: ClassifierSpec | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def onnx_path(self) -> Path:
        """Absolute path of the ONNX file (resolved next to the sidecar)."""
        return (self.path.parent / self.onnx_file).resolve()

    @property
    def input(self) -> InputSpec:
        """The spec of the first (for single-input models, the only) input."""
        return self.inputs[self.input_names[0]]

    def threshold(self, name: str) -> float:
        """Decision threshold ``name``; :class:`ModelError` if the sidecar lacks it."""
        try:
            return self.thresholds[name]
        except KeyError:
            raise ModelError(f"{self.path.name} has no threshold {name!r}; retrain or fix the "
                             f"sidecar (it has {sorted(self.thresholds)}).") from None

    def require_segmentation(self) -> SegmentationSpec:
        """The segmentation settings; :class:`ModelError` if this is not a segmentation model."""
        if self.segmentation is None:
            raise ModelError(f"{self.path.name} is a {self.task!r} model, not a segmentation one.")
        return self.segmentation

    def require_classifier(self) -> ClassifierSpec:
        """The classifier settings; :class:`ModelError` if this is not a classification model."""
        if self.classifier is None:
            raise ModelError(f"{self.path.name} is a {self.task!r} model, not a classifier.")
        return self.classifier

    def roi(self, input_name: str) -> RoiSpec:
        """The ROI settings of classifier input ``input_name``."""
        return self.require_classifier().roi_per_input[input_name]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | Path) -> Sidecar:
        """Validate a parsed sidecar; :class:`ModelError` names the first problem."""
        where = Path(path)
        reader = _Reader(data, where.name)
        if reader.get("schema_version", int) != SIDECAR_SCHEMA_VERSION:
            raise ModelError(f"{where.name}: schema_version {data.get('schema_version')!r} is not "
                             f"{SIDECAR_SCHEMA_VERSION}; re-export the model with this version.")
        input_names = tuple(reader.get("input_names", list))
        inputs_raw = reader.get("inputs", dict)
        inputs = {name: _input_spec(name, inputs_raw.get(name), where.name)
                  for name in input_names}
        thresholds = {str(k): float(v) for k, v in reader.get("thresholds", dict).items()}
        task = reader.get("task", str)
        segmentation = (_segmentation_spec(reader.get("segmentation", dict), where.name)
                        if task == "segmentation" else None)
        classifier = (_classifier_spec(reader, input_names, where.name)
                      if task == "classification" else None)
        return cls(
            path=where,
            name=reader.get("name", str),
            task=task,
            version=reader.get("version", str),
            onnx_file=reader.get("onnx_file", str),
            sha256=reader.get("sha256", str).lower(),
            input_names=input_names,
            output_names=tuple(reader.get("output_names", list)),
            thresholds=MappingProxyType(thresholds),
            inputs=MappingProxyType(inputs),
            segmentation=segmentation,
            classifier=classifier,
            raw=MappingProxyType(dict(data)),
        )


class _Reader:
    """Field access with one clear error per missing or mistyped key."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise ModelError(f"{where}: expected a JSON object, got {type(data).__name__}.")
        self.data = data
        self.where = where

    def get(self, key: str, kind: type) -> Any:
        if key not in self.data:
            raise ModelError(f"{self.where}: missing key {key!r}; the sidecar is incomplete, "
                             "re-export the model.")
        value = self.data[key]
        if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ModelError(f"{self.where}: {key!r} should be {kind.__name__}, got {value!r}.")
        return value

    def optional(self, key: str, kind: type, default: Any) -> Any:
        """Like :meth:`get`, but ``default`` where the key is absent (older sidecars)."""
        return self.get(key, kind) if key in self.data else default

    def positive(self, key: str) -> float:
        value = self.get(key, float)
        if value <= 0:
            raise ModelError(f"{self.where}: {key!r} must be positive, got {value}.")
        return float(value)

    def vector3(self, key: str, kind: type) -> tuple[Any, Any, Any]:
        values = self.get(key, list)
        if len(values) != 3:
            raise ModelError(f"{self.where}: {key!r} needs three values, got {values!r}.")
        try:
            return tuple(kind(v) for v in values)  # type: ignore[return-value]
        except (TypeError, ValueError):
            raise ModelError(f"{self.where}: {key!r} must hold numbers, got {values!r}.") from None


def _segmentation_spec(raw: Mapping[str, Any], where: str) -> SegmentationSpec:
    seg = _Reader(raw, f"{where} segmentation")
    return SegmentationSpec(
        guidance_sigma_mm=seg.positive("guidance_sigma_mm"),
        min_volume_ml=seg.positive("min_volume_ml"),
        max_volume_ml=seg.positive("max_volume_ml"),
        click_search_mm=seg.positive("click_search_mm"),
        mirror_average=seg.optional("mirror_average", bool, False),
    )


def _roi_spec(raw: Any, where: str) -> RoiSpec:
    reader = _Reader(raw, where)
    margin = reader.vector3("margin_mm", float)
    if min(margin) < 0:
        raise ModelError(f"{where}: 'margin_mm' cannot be negative, got {list(margin)}.")
    plane = reader.get("plane", str)
    if plane not in ROI_PLANES:
        raise ModelError(f"{where}: 'plane' {plane!r} is not one of {', '.join(ROI_PLANES)}; "
                         "re-export the model.")
    centre = reader.get("centre", str)
    if centre not in ROI_CENTRES:
        raise ModelError(f"{where}: 'centre' {centre!r} is not one of {', '.join(ROI_CENTRES)}; "
                         "re-export the model.")
    return RoiSpec(margin_mm=margin, plane=plane, centre=centre)


def _classifier_spec(reader: _Reader, input_names: tuple[str, ...], where: str
                     ) -> ClassifierSpec:
    heads = tuple(reader.get("heads", list))
    if not heads or not all(isinstance(h, str) for h in heads) or len(set(heads)) != len(heads):
        raise ModelError(f"{where}: 'heads' must list distinct head names, got {list(heads)}.")
    rois = _Reader(reader.get("roi_per_input", dict), f"{where} roi_per_input")
    roi_per_input = {name: _roi_spec(rois.get(name, dict), f"{where} roi_per_input {name!r}")
                     for name in input_names}
    return ClassifierSpec(heads=heads, roi_per_input=MappingProxyType(roi_per_input))


def _input_spec(name: str, raw: Any, where: str) -> InputSpec:
    reader = _Reader(raw, f"{where} input {name!r}")
    norm = _Reader(reader.get("normalisation", dict), f"{where} input {name!r} normalisation")
    kind = norm.get("kind", str)
    if kind not in _NORMALISATION_KINDS:
        raise ModelError(f"{where}: normalisation kind {kind!r} is not one of "
                         f"{_NORMALISATION_KINDS}.")
    low, high = norm.get("low", float), norm.get("high", float)
    if not high > low:
        raise ModelError(f"{where}: normalisation needs high > low, got {low}, {high}.")
    spacing = reader.vector3("spacing_mm", float)
    size = reader.vector3("size_ijk", int)
    if min(spacing) <= 0 or min(size) < 1:
        raise ModelError(f"{where}: input {name!r} has a non-positive spacing or size.")
    return InputSpec(
        name=name,
        modality=reader.get("modality", str),
        spacing_mm=spacing,
        size_ijk=size,
        offset_mm=reader.vector3("offset_mm", float) if "offset_mm" in raw else (0.0, 0.0, 0.0),
        normalisation=Normalisation(kind=kind, low=low, high=high),  # type: ignore[arg-type]
    )


def load_sidecar(path: str | Path) -> Sidecar:
    """Read and validate a model sidecar.

    Parameters
    ----------
    path:
        The ``.json`` sidecar, or the ``.onnx`` file whose sidecar sits beside it.

    Returns
    -------
    Sidecar
        The validated, read-only settings.

    Raises
    ------
    ModelError
        If the file is missing, not JSON, or lacks a required setting.
    """
    source = Path(path)
    if source.suffix == ".onnx":
        source = source.with_suffix(".json")
    if not source.is_file():
        raise ModelError(f"Model sidecar not found: {source}. Train the model (`bcl train ...`) "
                         "or restore the models/ folder.")
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"Model sidecar {source.name} is not readable JSON ({exc}).") from exc
    return Sidecar.from_dict(data, source)


def write_sidecar(data: Mapping[str, Any], path: str | Path) -> Sidecar:
    """Validate ``data`` and write it as the sidecar at ``path`` (used by training only).

    Returns the parsed :class:`Sidecar`, so a writer finds out at once if it wrote something
    inference could not read.
    """
    target = Path(path)
    sidecar = Sidecar.from_dict({"schema_version": SIDECAR_SCHEMA_VERSION, **data}, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {"schema_version": SIDECAR_SCHEMA_VERSION, **data}
    target.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    logger.info("wrote model sidecar %s", target)
    return sidecar
