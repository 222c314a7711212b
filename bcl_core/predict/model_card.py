"""``models/model_card.json``: what the shipped models are, what they were trained on, how
well they did, and what they must not be used for.

Assembled from the sidecars (versions, sha256, thresholds, input settings) and the metrics files
training writes beside them (``<name>.metrics.json``), so the card repeats no number by hand.
Rebuilt by every ``bcl train`` run and by ``bcl train card``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bcl_core import SYNTHETIC_NOTICE, __version__
from bcl_core.errors import ModelError
from bcl_core.leakage import LEAKAGE_TYPES, TYPE_LABELS
from bcl_core.predict.sidecar import load_sidecar

logger = logging.getLogger(__name__)

MODEL_CARD_FILE = "model_card.json"
INTENDED_USE = (
    "Research and demonstration of a pipeline that estimates, before percutaneous kyphoplasty, "
    "the probability of each bone cement leakage type (I-IV, Xi et al. 2024) from the "
    "preoperative axial CT and sagittal T2 MRI of the fractured vertebra, with Grad-CAM maps. "
    "A hospital retrains the same pipeline on its own DICOM with `bcl train`."
)
NOT_INTENDED = (
    "Clinical decisions of any kind. The shipped models have seen synthetic cases only; their "
    "figures say how well the pipeline learns the generator's rules, nothing about patients."
)
LIMITATIONS = (
    "Synthetic training and test data (bcl_core.phantom); single target vertebra per case; "
    "thresholds chosen on synthetic validation data; calibration fitted on synthetic data. "
    "The fusion models were also trained to estimate the generator's latent risk features "
    "(auxiliary targets: fracture severity, oedema, bone density, veins, wall defect, endplate "
    "gap, cleft, posterior-wall breach, foramen), and their CT feature detector to map where "
    "the wall defect and the posterior-wall breach are (from paired renders of each case with "
    "and without the feature). No real case records either: retrained on a hospital's own "
    "cases they learn from the leakage labels alone and will need more cases."
)


def _metrics(models_dir: Path, name: str) -> dict[str, Any] | None:
    path = models_dir / f"{name}.metrics.json"
    if not path.is_file():
        return None
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path.name} is not readable JSON ({exc}); retrain or restore it.") \
            from exc


def _auroc_table(split: Mapping[str, Any]) -> dict[str, Any]:
    """Per-type AUROC (CI), oracle AUROC, sensitivity, specificity, prevalence of one split."""
    table: dict[str, Any] = {"n": split.get("n")}
    for name in LEAKAGE_TYPES:
        row = split.get(name, {})
        table[name] = {key: row[key] for key in ("auroc", "auroc_ci", "oracle_auroc",
                                                 "sensitivity", "specificity", "prevalence",
                                                 "ece") if key in row}
    return table


def fusion_summary(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The model card's view of ``fusion.metrics.json``: data, thresholds, tables, ablation."""
    models = metrics.get("models", {})
    summary: dict[str, Any] = {"data": metrics.get("data"), "tables": {}, "ablation": {}}
    fusion = models.get("fusion", {})
    summary["thresholds"] = fusion.get("thresholds")
    summary["calibration"] = fusion.get("calibration")
    splits = {"validation": fusion.get("validation", {}), **fusion.get("tests", {})}
    summary["tables"] = {name: _auroc_table(split) for name, split in splits.items()}
    for variant, entry in models.items():
        summary["ablation"][variant] = {
            name: round(sum(split[t]["auroc"] for t in LEAKAGE_TYPES) / len(LEAKAGE_TYPES), 4)
            for name, split in {"validation": entry.get("validation", {}),
                                **entry.get("tests", {})}.items()
            if all("auroc" in split.get(t, {}) for t in LEAKAGE_TYPES)}
    return summary


def build_model_card(models_dir: str | Path) -> dict[str, Any]:
    """Assemble the card from every sidecar and metrics file in ``models_dir``."""
    folder = Path(models_dir)
    card: dict[str, Any] = {
        "name": "BCL Predict demo models",
        "version": __version__,
        "synthetic_notice": SYNTHETIC_NOTICE,
        "intended_use": INTENDED_USE,
        "not_intended_for": NOT_INTENDED,
        "limitations": LIMITATIONS,
        "leakage_types": {t: TYPE_LABELS[t] for t in LEAKAGE_TYPES},
        "models": {},
    }
    for path in sorted(folder.glob("*.json")):
        if path.name == MODEL_CARD_FILE or path.name.endswith(".metrics.json"):
            continue
        sidecar = load_sidecar(path)
        entry: dict[str, Any] = {
            "task": sidecar.task, "version": sidecar.version, "onnx_file": sidecar.onnx_file,
            "sha256": sidecar.sha256, "inputs": {
                name: {"modality": spec.modality, "spacing_mm": list(spec.spacing_mm),
                       "size_ijk": list(spec.size_ijk)}
                for name, spec in sidecar.inputs.items()},
            "thresholds": dict(sidecar.thresholds),
        }
        metrics = _metrics(folder, sidecar.name)
        if metrics is not None:
            entry["metrics"] = (fusion_summary(metrics) if sidecar.task == "classification"
                                else {k: v for k, v in metrics.items()
                                      if not isinstance(v, list | dict) or k in ("evaluation",)})
        card["models"][sidecar.name] = entry
    return card


def write_model_card(models_dir: str | Path) -> Path:
    """Build and write ``models_dir/model_card.json``; returns its path."""
    folder = Path(models_dir)
    path = folder / MODEL_CARD_FILE
    path.write_text(json.dumps(build_model_card(folder), indent=2, default=float) + "\n",
                    encoding="utf-8")
    logger.info("wrote %s", path)
    return path
