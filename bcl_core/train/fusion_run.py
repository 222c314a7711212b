"""``bcl train fusion``: crops -> training -> calibration -> thresholds -> ONNX + sidecar + metrics.

The shipped fusion model and its two single-modality ablations are trained with the same recipe
on the same crops; their metrics on validation and on the test sets go into
``models/fusion.metrics.json`` and from there into the model card (:mod:`bcl_core.predict.model_card`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bcl_core import SYNTHETIC_NOTICE, __version__
from bcl_core.errors import ModelError
from bcl_core.leakage import HEAD_NAMES, LEAKAGE_TYPES
from bcl_core.nets.fusion import FusionNet
from bcl_core.predict.runtime import sha256_file
from bcl_core.predict.sidecar import write_sidecar
from bcl_core.stats import auroc_ci, calibration_summary
from bcl_core.train.feature_maps import FEATURE_MAP_NAMES
from bcl_core.train.fusion import (
    CropSet,
    FusionTrainConfig,
    TrainResult,
    calibrated,
    choose_thresholds,
    config_dict,
    export_fusion_onnx,
    fit_platt,
    load_checkpoint,
    predict_logits,
    train_fusion,
)
from bcl_core.train.fusion_data import (
    FUSION_INPUT_SETTINGS,
    LATENT_NAMES,
    MaskSource,
    build_crop_set,
    build_feature_maps,
    folder_jobs,
    job_case_id,
    phantom_jobs,
    settings_key,
)

logger = logging.getLogger(__name__)

ABLATIONS: Mapping[str, tuple[str, ...]] = {"fusion": ("ct", "mr"), "ct_only": ("ct",),
                                             "mr_only": ("mr",)}


@dataclass(frozen=True)
class DataSource:
    """Where a split's cases come from: a ``bcl synth``-layout folder, or in-memory phantoms."""

    name: str
    folder: Path | None = None
    site: str = "internal"
    seed: int = 0
    n_cases: int = 0
    mask_source: MaskSource = "truth"

    def jobs(self) -> list[tuple[Any, ...]]:
        """Crop jobs for :func:`bcl_core.train.fusion_data.build_crop_set`."""
        if self.folder is not None:
            return folder_jobs(self.folder, self.mask_source)
        return phantom_jobs(self.site, self.seed, self.n_cases)

    def describe(self) -> dict[str, Any]:
        """JSON description for the metrics file and model card."""
        if self.folder is not None:
            return {"folder": self.folder.name, "masks": self.mask_source}
        return {"synthetic_site": self.site, "seed": self.seed, "cases": self.n_cases,
                "masks": "generator"}


@dataclass(frozen=True)
class FusionRunConfig:
    """One ``bcl train fusion`` run."""

    out_dir: Path
    cache_dir: Path
    development: DataSource
    tests: Sequence[DataSource] = ()
    train: FusionTrainConfig = field(default_factory=FusionTrainConfig)
    ablations: bool = True
    validation_fraction: float = 0.1
    workers: int = 2


def load_or_build(source: DataSource, cache_dir: Path, workers: int = 2,
                  progress: Callable[[str], None] | None = None,
                  with_maps: bool = False) -> CropSet:
    """The source's crops, from ``cache_dir/<name>.npz`` where cached and built where not.

    The cache is keyed by case ID and input settings: cases it lacks (a larger ``--synthetic-
    cases``) are cropped and added; a cache made with other settings is rebuilt. Returns the
    source's cases in job order (cases that could not be cropped are left out, with a warning).
    ``with_maps``: a synthetic source's cache made before feature maps existed gets them added.
    """
    say = progress or (lambda text: logger.info(text))
    path = cache_dir / f"{source.name}.npz"
    jobs = source.jobs()
    wanted = [job_case_id(job) for job in jobs]
    cached: CropSet | None = None
    if path.is_file():
        cached = CropSet.load(path)
        if cached.settings != settings_key():
            say(f"{path} was made with other input settings; rebuilding it")
            cached = None
    have = set(cached.case_ids) if cached is not None else set()
    missing = [job for job, case_id in zip(jobs, wanted, strict=True) if case_id not in have]
    if missing:
        done = 0

        def tick(case_id: str) -> None:
            nonlocal done
            done += 1
            if done % 50 == 0 or done == len(missing):
                say(f"{source.name}: {done}/{len(missing)} cases cropped")

        built = build_crop_set(missing, workers=workers, on_case_done=tick)
        cached = CropSet.concat([cached, built]) if cached is not None else built
        cached.save(path)
    else:
        logger.info("using cached crops %s", path)
    assert cached is not None
    position = {case_id: i for i, case_id in enumerate(cached.case_ids)}
    crops = cached.subset([position[c] for c in wanted if c in position])
    have_maps = crops.maps.shape[1] if len(crops.maps) == len(crops) > 0 else 0
    if with_maps and source.folder is None and have_maps < len(FEATURE_MAP_NAMES):
        job_of = dict(zip(wanted, jobs, strict=True))
        names = FEATURE_MAP_NAMES[have_maps:]  # features are appended: compute only new ones

        def count(done: int) -> None:
            if done % 250 == 0 or done == len(crops):
                say(f"{source.name}: feature maps ({', '.join(names)}) {done}/{len(crops)} "
                    "cases")

        new_maps = build_feature_maps([job_of[c] for c in crops.case_ids], workers, count,
                                      names)
        crops.maps = (np.concatenate([crops.maps, new_maps], axis=1) if have_maps
                      else new_maps)
        if len(crops) == len(cached):  # the cache holds only these cases: keep their maps
            crops.save(path)
        else:
            say(f"{path} holds other cases too; their feature maps are not cached")
    return crops


def split_indices(n_cases: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted training and validation indices of a seeded random split of ``n_cases``."""
    order = np.random.default_rng(seed).permutation(n_cases)
    n_val = max(1, int(round(n_cases * fraction)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def split_development(crops: CropSet, fraction: float, seed: int) -> tuple[CropSet, CropSet]:
    """Seeded random split into training and validation (the protocol's 9:1)."""
    train, validation = split_indices(len(crops), fraction, seed)
    return crops.subset(train), crops.subset(validation)


def evaluate_split(probabilities: np.ndarray, crops: CropSet,
                   thresholds: Mapping[str, float]) -> dict[str, Any]:
    """Per-type AUROC (DeLong CI), sensitivity and specificity at the thresholds, oracle AUROC."""
    table: dict[str, Any] = {"n": len(crops)}
    for h, name in enumerate(HEAD_NAMES):
        y = crops.labels[:, h].astype(int)
        p = probabilities[:, h]
        row: dict[str, Any] = {"prevalence": float(y.mean()), "positives": int(y.sum())}
        if min(y.sum(), len(y) - y.sum()) >= 2:  # DeLong needs two of each class
            auc, lo, hi = auroc_ci(y, p)
            calls = p >= thresholds[name]
            row.update({"auroc": auc, "auroc_ci": [lo, hi],
                        "sensitivity": float(calls[y == 1].mean()),
                        "specificity": float((~calls[y == 0]).mean()),
                        "ece": calibration_summary(y, p).ece})
            if name in LEAKAGE_TYPES and len(crops.oracle):
                row["oracle_auroc"] = auroc_ci(y, crops.oracle[:, h])[0]
        table[name] = row
    return table


def _train_one(name: str, modalities: tuple[str, ...], train: CropSet, validation: CropSet,
               config: FusionTrainConfig, progress: Callable[[str], None] | None) -> TrainResult:
    def report(epoch: int, metrics: Mapping[str, float]) -> None:
        if progress:
            progress(f"{name}: epoch {epoch}/{config.epochs} loss {metrics['loss']:.3f} "
                     f"val mean AUROC {metrics['val_mean_auroc']:.3f} "
                     f"({metrics['seconds']:.0f} s)")

    return train_fusion(train, validation, replace(config, modalities=modalities), report)


def run_fusion_training(config: FusionRunConfig,
                        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train, calibrate, choose thresholds, export the fusion model; evaluate the ablations.

    Returns
    -------
    dict
        The metrics document also written to ``<out>/fusion.metrics.json``.
    """
    start = time.perf_counter()
    say = progress or (lambda text: logger.info(text))
    development = load_or_build(config.development, config.cache_dir, config.workers, say,
                                with_maps=bool(config.train.feature_maps))
    train, validation = split_development(development, config.validation_fraction,
                                          config.train.seed)
    variants = ABLATIONS if config.ablations else {"fusion": ABLATIONS["fusion"]}
    metrics: dict[str, Any] = {
        "notice": SYNTHETIC_NOTICE,
        "data": {"development": config.development.describe(), "n_train": len(train),
                 "n_validation": len(validation),
                 "auxiliary_targets": (list(LATENT_NAMES) if len(train.latent)
                                       and config.train.aux_weight > 0 else []),
                 "tests": {s.name: s.describe() for s in config.tests},
                 "prevalence": {
                     "train": train.labels.mean(axis=0).round(4).tolist(),
                     "validation": validation.labels.mean(axis=0).round(4).tolist()},
                 "heads": list(HEAD_NAMES)},
        "training": config_dict(config.train),
        "models": {},
    }
    exported: dict[str, Any] = {}
    trained: dict[str, tuple[TrainResult, np.ndarray, np.ndarray, dict[str, float]]] = {}
    for variant, modalities in variants.items():
        result = _train_one(variant, modalities, train, validation, config.train, say)
        val_logits = predict_logits(result.model, validation)
        scale, bias = fit_platt(val_logits, validation.labels)
        val_probs = calibrated(val_logits, scale, bias)
        thresholds = choose_thresholds(val_probs, validation.labels)
        entry: dict[str, Any] = {
            "modalities": list(modalities), "best_epoch": result.best_epoch,
            "train_seconds": round(result.seconds, 1), "history": result.history,
            "thresholds": thresholds,
            "calibration": {"method": "platt", "scale": scale.tolist(), "bias": bias.tolist()},
            "uncalibrated_validation_ece": {
                name: calibration_summary(validation.labels[:, h],
                                          1 / (1 + np.exp(-val_logits[:, h]))).ece
                for h, name in enumerate(HEAD_NAMES)},
            "validation": evaluate_split(val_probs, validation, thresholds),
        }
        metrics["models"][variant] = entry
        trained[variant] = (result, scale, bias, thresholds)
        say(f"{variant}: validation mean AUROC "
            f"{np.mean([entry['validation'][t].get('auroc', np.nan) for t in LEAKAGE_TYPES]):.3f}")
        if variant == "fusion":
            exported = export_model(result, scale, bias, thresholds, config, entry, validation)
    # Test sets last: their crops may still be building while the models train.
    for source in config.tests:
        crops = load_or_build(source, config.cache_dir, config.workers, say)
        metrics["data"]["prevalence"][source.name] = crops.labels.mean(axis=0).round(4).tolist()
        for variant, (result, scale, bias, thresholds) in trained.items():
            probabilities = calibrated(predict_logits(result.model, crops), scale, bias)
            metrics["models"][variant].setdefault("tests", {})[source.name] = evaluate_split(
                probabilities, crops, thresholds)
    metrics["total_seconds"] = round(time.perf_counter() - start, 1)
    metrics["export"] = exported
    out = config.out_dir / "fusion.metrics.json"
    out.write_text(json.dumps(metrics, indent=2, default=float) + "\n", encoding="utf-8")
    return metrics


def export_model(result: TrainResult, scale: np.ndarray, bias: np.ndarray,
                 thresholds: Mapping[str, float], config: FusionRunConfig,
                 entry: Mapping[str, Any], validation: CropSet) -> dict[str, Any]:
    """Write ``fusion.onnx``, ``fusion.pt`` and the sidecar; check ONNX Runtime parity."""
    out_dir = config.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    size = FUSION_INPUT_SETTINGS["inputs"]["ct"]["size_ijk"][::-1]
    onnx_path = export_fusion_onnx(result.model, scale, bias, size, out_dir / "fusion.onnx")
    torch.save(result.model.state_dict(), out_dir / "fusion.pt")
    max_diff = onnx_parity(onnx_path, result.model, scale, bias,
                           validation.subset(np.arange(min(8, len(validation)))))
    version = f"{__version__}+fusion.s{config.train.seed}.e{result.best_epoch}"
    write_sidecar({
        "name": "fusion", "task": "classification", "version": version,
        "onnx_file": onnx_path.name, "sha256": sha256_file(onnx_path),
        "output_names": ["probabilities", "logits", "cam_ct", "cam_mr"],
        "thresholds": dict(thresholds),
        **FUSION_INPUT_SETTINGS,
        "calibration": entry["calibration"],
        "notice": SYNTHETIC_NOTICE,
        "training": {"data": config.development.describe(), "config": config_dict(config.train),
                     "best_epoch": result.best_epoch, "torch": torch.__version__},
    }, out_dir / "fusion.json")
    return _export_record(onnx_path, version, max_diff)


def _export_record(onnx_path: Path, version: str, max_diff: float) -> dict[str, Any]:
    """What the metrics file records of an export."""
    return {"onnx": onnx_path.name, "version": version, "parity_max_abs_diff": max_diff,
            "onnx_bytes": onnx_path.stat().st_size}


def onnx_parity(onnx_path: Path, model: FusionNet, scale: np.ndarray, bias: np.ndarray,
                sample: CropSet) -> float:
    """Largest probability difference of the ONNX graph from PyTorch on ``sample``.

    Raises
    ------
    ModelError
        Above 1e-4: the export is not shipped.
    """
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    onnx_probs = session.run(["probabilities"], {"ct": sample.ct[:, None],
                                                 "mr": sample.mr[:, None]})[0]
    torch_probs = calibrated(predict_logits(model, sample), scale, bias)
    max_diff = float(np.abs(onnx_probs - torch_probs).max())
    if max_diff > 1e-4:
        raise ModelError(f"ONNX export differs from PyTorch by {max_diff:.2e}; not shipping it.")
    return max_diff


def reexport_fusion(models_dir: Path, sample: CropSet) -> dict[str, Any]:
    """Export ``fusion.onnx`` again from ``fusion.pt`` and the sidecar (same weights, calibration
    and thresholds) with the current export wrapper; the sidecar's checksum and the metrics
    file's export record follow. ``sample``: crops for the parity check."""
    model, data = load_checkpoint(models_dir)
    scale = np.asarray(data["calibration"]["scale"])
    bias = np.asarray(data["calibration"]["bias"])
    size = data["inputs"]["ct"]["size_ijk"][::-1]
    onnx_path = export_fusion_onnx(model, scale, bias, size, models_dir / data["onnx_file"])
    max_diff = onnx_parity(onnx_path, model, scale, bias, sample)
    data.pop("schema_version", None)
    data["sha256"] = sha256_file(onnx_path)
    write_sidecar(data, models_dir / "fusion.json")
    exported = _export_record(onnx_path, data["version"], max_diff)
    metrics_path = models_dir / "fusion.metrics.json"
    if metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        metrics["export"] = exported
        metrics_path.write_text(json.dumps(metrics, indent=2, default=float) + "\n",
                                encoding="utf-8")
    return exported
