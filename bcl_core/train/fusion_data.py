"""Classifier crops of ``bcl synth`` cases, made by the real pipeline and cached.

For each case: load both DICOM series -> segment the target vertebra from the truth click with
the shipped ONNX segmentation models (or take the generator's masks, ``mask_source="truth"``,
before segmentation models exist) -> box + margin -> crop on the classifier grid -> normalise.
These are exactly the steps :func:`bcl_core.predict.pipeline.predict_case` runs, through the same
functions, so training and inference cannot disagree. No torch here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bcl_core.errors import BCLError
from bcl_core.io.nifti import read_nifti
from bcl_core.leakage import LEAKAGE_TYPES
from bcl_core.predict.segment import model_for, segment_vertebra
from bcl_core.train.cases import case_dirs, read_series, read_truth
from bcl_core.train.feature_maps import (
    FEATURE_MAP_NAMES,
    feature_masks,
    normalised_crop,
    phantom_feature_masks,
)
from bcl_core.train.fusion_inputs import FUSION_INPUT_SETTINGS, CropSet, settings_key

logger = logging.getLogger(__name__)

MaskSource = Literal["model", "truth"]

#: Names of the auxiliary training targets (:func:`latent_targets`), as the oracle defines them.
LATENT_NAMES: tuple[str, ...] = ("severity", "crush", "oedema", "low_density", "veins",
                                 "wall_defect", "endplate", "cleft", "posterior_breach", "foramen")


def latent_targets(features: Mapping[str, Any]) -> np.ndarray:
    """The generator's latent risk features of one case, standardised, in :data:`LATENT_NAMES` order.

    Training uses them as auxiliary targets when the data has them (synthetic cases: the
    ``features`` of ``truth.json``): 1,000 noisy 0/1 labels alone do not teach a 3D CNN where to
    look, the features do. A hospital's own data has no such record and trains from labels only.
    """
    from bcl_core.phantom.features import RiskFeatures
    from bcl_core.phantom.oracle import standardised_features

    z = standardised_features(RiskFeatures(**features))
    return np.array([z[name] for name in LATENT_NAMES], dtype=np.float32)


def case_labels(truth: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Labels ``(len(HEAD_NAMES),)`` (types I-IV and any) and oracle ``(4,)`` from truth.json."""
    labels = np.array([int(truth["labels"][t]) for t in LEAKAGE_TYPES], dtype=np.uint8)
    oracle = np.array([float(truth["oracle"][t]) for t in LEAKAGE_TYPES], dtype=np.float32)
    return np.append(labels, labels.max()).astype(np.uint8), oracle


def case_crops(case_dir: Path, mask_source: MaskSource = "model",
               settings: Mapping[str, Any] = FUSION_INPUT_SETTINGS
               ) -> dict[str, Any]:
    """The classifier inputs of one case, with its labels.

    Returns
    -------
    dict
        ``case_id``, ``ct`` and ``mr`` (``(k, j, i)`` float32 crops), ``labels``, ``oracle``.

    Raises
    ------
    BCLError
        If a series cannot be read or the vertebra cannot be segmented.
    """
    truth = read_truth(case_dir)
    crops: dict[str, Any] = {"case_id": case_dir.name}
    for name in ("ct", "mr"):
        series = read_series(case_dir / name)
        if mask_source == "truth":
            mask = read_nifti(case_dir / f"{name}_mask.nii.gz", modality="SEG")
        else:
            mask = segment_vertebra(series, truth[f"{name}_point_mm"], model_for(series))
        crops[name] = normalised_crop(series, mask, name, settings)
    crops["labels"], crops["oracle"] = case_labels(truth)
    if "features" in truth:
        crops["latent"] = latent_targets(truth["features"])
    return crops


def phantom_case_crops(site: str, seed: int, index: int, compact: bool = True,
                       settings: Mapping[str, Any] = FUSION_INPUT_SETTINGS) -> dict[str, Any]:
    """Crops of synthetic case ``index`` of ``(site, seed)`` made in memory, with feature maps.

    The same case ``bcl synth --site SITE --seed SEED`` writes as DICOM (its CT is stored as
    int16 HU either way), with the generator's target masks; skipping the DICOM round trip makes
    large training sets affordable on a laptop.
    """
    from bcl_core.phantom.ct import render_ct
    from bcl_core.phantom.mr import render_mr
    from bcl_core.phantom.spec import sample_case_spec
    from bcl_core.phantom.writer import truth_record

    spec = sample_case_spec(site, seed, index)
    crops: dict[str, Any] = {"case_id": spec.case_id}
    for name, render in (("ct", render_ct), ("mr", render_mr)):
        series, mask = render(spec, compact)
        crops[name] = normalised_crop(series, mask, name, settings)
        if name == "ct":
            crops["maps"] = feature_masks(spec, mask, crops["ct"], settings, compact)
    truth = truth_record(spec, compact)
    crops["labels"], crops["oracle"] = case_labels(truth)
    crops["latent"] = latent_targets(truth["features"])
    return crops


def _safe_case_crops(job: tuple[Any, ...]) -> dict[str, Any]:
    """Run one crop job: ``("dir", case_dir, mask_source, settings)`` or
    ``("phantom", site, seed, index, settings)``; errors become an ``error`` entry."""
    kind, *args = job
    try:
        if kind == "dir":
            return case_crops(*args)
        return phantom_case_crops(args[0], args[1], args[2], True, args[3])
    except BCLError as exc:
        name = args[0].name if kind == "dir" else f"{args[0]}-{args[1]}-{args[2]}"
        return {"case_id": name, "error": str(exc)}


def folder_jobs(data_dir: str | Path, mask_source: MaskSource = "model",
                settings: Mapping[str, Any] = FUSION_INPUT_SETTINGS) -> list[tuple[Any, ...]]:
    """Crop jobs for every case of a ``bcl synth``-layout folder (DICOM + truth.json)."""
    return [("dir", d, mask_source, settings) for d in case_dirs(data_dir)]


def job_case_id(job: Sequence[Any]) -> str:
    """The case ID a crop job (:func:`folder_jobs`, :func:`phantom_jobs`) makes."""
    if job[0] == "dir":
        return Path(job[1]).name
    from bcl_core.phantom.sites import get_site
    from bcl_core.phantom.spec import case_id_for

    return case_id_for(get_site(job[1]), int(job[2]), int(job[3]))


def phantom_jobs(site: str, seed: int, n_cases: int,
                 settings: Mapping[str, Any] = FUSION_INPUT_SETTINGS) -> list[tuple[Any, ...]]:
    """Crop jobs for ``n_cases`` synthetic cases made in memory."""
    return [("phantom", site, seed, index, settings) for index in range(n_cases)]


def build_crop_set(jobs: Sequence[tuple[Any, ...]], workers: int = 2,
                   on_case_done: Callable[[str], None] | None = None) -> CropSet:
    """Run crop jobs (:func:`folder_jobs`, :func:`phantom_jobs`) into a :class:`CropSet`.

    Cases whose series cannot be read or whose vertebra cannot be segmented are left out with
    a warning naming them (listed in the returned set's ``failed`` attribute).
    """
    results: list[dict[str, Any]] = []
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for result in pool.map(_safe_case_crops, jobs, chunksize=4):
                results.append(result)
                if on_case_done:
                    on_case_done(result["case_id"])
    else:
        for job in jobs:
            results.append(_safe_case_crops(job))
            if on_case_done:
                on_case_done(results[-1]["case_id"])
    failed = [r for r in results if "error" in r]
    if len(failed) == len(results):
        raise BCLError(f"no case could be prepared ({failed[0]['error'] if failed else 'none given'}).")
    for r in failed:
        logger.warning("case %s left out: %s", r["case_id"], r["error"])
    good = [r for r in results if "error" not in r]
    crop_set = CropSet(
        [r["case_id"] for r in good],
        np.stack([r["ct"] for r in good]).astype(np.float32),
        np.stack([r["mr"] for r in good]).astype(np.float32),
        np.stack([r["labels"] for r in good]).astype(np.uint8),
        np.stack([r["oracle"] for r in good]).astype(np.float32),
        np.stack([r["latent"] for r in good]).astype(np.float32)
        if all("latent" in r for r in good) else np.zeros((0, len(LATENT_NAMES)), np.float32),
        settings_key(jobs[0][-1]),
        np.stack([r["maps"] for r in good]) if all("maps" in r for r in good)
        else np.zeros((0,), np.uint8),
    )
    crop_set.failed = [r["case_id"] for r in failed]  # type: ignore[attr-defined]
    return crop_set


def _phantom_maps(job: tuple[Any, ...]) -> np.ndarray:
    (_, site, seed, index, settings), names = job
    return phantom_feature_masks(site, seed, index, settings, names=names)


def build_feature_maps(jobs: Sequence[tuple[Any, ...]], workers: int = 2,
                       on_case_done: Callable[[int], None] | None = None,
                       names: Sequence[str] = FEATURE_MAP_NAMES) -> np.ndarray:
    """Feature maps ``(N, len(names), k, j, i)`` (:mod:`bcl_core.train.feature_maps`) of
    synthetic crop jobs, in job order.

    For crop caches made before the maps (or some of them) existed; new caches get them with
    the crops.
    """
    if any(job[0] != "phantom" for job in jobs):
        raise BCLError("feature maps exist only for synthetic cases made in memory.")
    maps: list[np.ndarray] = []
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for result in pool.map(_phantom_maps, [(job, tuple(names)) for job in jobs],
                               chunksize=16):
            maps.append(result)
            if on_case_done:
                on_case_done(len(maps))
    return np.stack(maps)
