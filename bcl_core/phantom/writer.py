"""Writing one synthetic case to disk: DICOM series, masks and ``truth.json``.

Layout (the ``bcl synth`` contract)::

    DIR/<case_id>/ct/IM00001.dcm ...   axial CT, its own frame of reference
    DIR/<case_id>/mr/IM00001.dcm ...   sagittal T2 MRI, another frame of reference
    DIR/<case_id>/stir/, t1/            generation 2 only: sagittal STIR and T1 series on the
                                       T2 series' grid and frame of reference
    DIR/<case_id>/ct_mask.nii.gz       whole target vertebra on the CT grid
    DIR/<case_id>/mr_mask.nii.gz       whole target vertebra on the MR grid
    DIR/<case_id>/truth.json           points, level, labels, oracle, latent features
    DIR/labels.csv                     one row per case (see :func:`write_labels_csv`)
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bcl_core import SYNTHETIC_NOTICE, __version__
from bcl_core.errors import PhantomError
from bcl_core.io.csv_safe import write_dict_rows
from bcl_core.io.dicom_write import SyntheticPatient, make_uid, write_series
from bcl_core.io.nifti import write_nifti
from bcl_core.phantom.ct import render_ct
from bcl_core.phantom.generation import DEFAULT_GENERATION
from bcl_core.phantom.mr import render_mr_series
from bcl_core.phantom.oracle import LEAKAGE_TYPES
from bcl_core.phantom.spec import CaseSpec, sample_case_spec
from bcl_core.phantom.variants import variant_summary

logger = logging.getLogger(__name__)

LABEL_COLUMNS: tuple[str, ...] = (
    "case_id", *LEAKAGE_TYPES, *(f"oracle_{t}" for t in LEAKAGE_TYPES))
#: (centre, width) window presets: bone, then soft tissue.
CT_WINDOWS = ((400.0, 1800.0), (40.0, 400.0))


def _rounded(values: Iterable[float], digits: int = 3) -> list[float]:
    return [round(float(v), digits) for v in values]


#: Extra MR series of generation 2: sequence -> (folder, series description, series number,
#: repetition time, echo time, inversion time or None).
EXTRA_MR_SERIES: dict[str, tuple[str, str, int, str, str, str | None]] = {
    "stir": ("stir", "SYNTHETIC MR SAG STIR", 4, "4000", "60", "160"),
    "t1": ("t1", "SYNTHETIC MR SAG T1 TSE", 5, "550", "10", None),
}


def truth_record(spec: CaseSpec, compact: bool) -> dict[str, Any]:
    """The ``truth.json`` content of a case (JSON-ready).

    ``ct_point_mm`` / ``mr_point_mm`` are the centroid of the target's vertebral body in each
    series' own LPS frame; ``*_body_axes`` give that vertebra's left / posterior / superior unit
    vectors in the same frame, and ``body_half_axes_mm`` its body's half-width, half-depth and
    height, so a reader can tell the body from the posterior elements in the masks.
    """
    target = spec.anatomy.target
    record = {
        "case_id": spec.case_id,
        "site": spec.site.name,
        "seed": spec.seed,
        "case_index": spec.index,
        "compact": compact,
        "level": spec.level,
        "segment_levels": list(spec.anatomy.segment_levels),
        "ct_point_mm": _rounded(spec.target_center_ct),
        "mr_point_mm": _rounded(spec.target_center_mr),
        "ct_body_axes": [_rounded(col, 6) for col in target.rotation.T],
        "mr_body_axes": [_rounded(col, 6) for col in (spec.mr_rotation @ target.rotation).T],
        "body_half_axes_mm": _rounded([target.half_width, target.half_depth, target.height]),
        "labels": dict(spec.truth.labels),
        "oracle": {k: round(v, 6) for k, v in spec.truth.oracle.items()},
        "features": spec.features.to_dict(),
        "generator": f"bcl_core.phantom {__version__}",
        "generator_generation": spec.generation.number,
        "notice": "Synthetic case: no real patient. " + SYNTHETIC_NOTICE,
    }
    if spec.generation.number >= 2:
        record["morphology"] = {
            "cleft_content": ("gas" if spec.fracture.cleft_gas else "fluid")
            if spec.fracture.cleft_center is not None else "none",
            "fracture_line": spec.fracture.fracture_line is not None,
            "target_wedge_ratio": round(target.wedge_ratio, 4),
        }
        record["variants"] = variant_summary(spec.anatomy)
        record["artefacts"] = spec.artefacts
        record["mr_series"] = {"t2": "mr", **{seq: folder for seq, (folder, *_rest)
                                              in EXTRA_MR_SERIES.items()}}
    return record


def label_row(spec: CaseSpec) -> dict[str, Any]:
    """The case's row of ``labels.csv``."""
    row: dict[str, Any] = {"case_id": spec.case_id}
    row.update({t: spec.truth.labels[t] for t in LEAKAGE_TYPES})
    row.update({f"oracle_{t}": round(spec.truth.oracle[t], 6) for t in LEAKAGE_TYPES})
    return row


def write_case(out_dir: str | Path, site: str, seed: int, index: int,
               compact: bool = False, generation: int = DEFAULT_GENERATION) -> dict[str, Any]:
    """Generate case ``index`` of ``(site, seed)`` into ``out_dir/<case_id>/``.

    Parameters
    ----------
    out_dir:
        The run's output folder.
    site:
        ``internal``, ``prospective`` or ``external``.
    seed:
        Run seed (non-negative integer).
    index:
        0-based case number within the run.
    compact:
        Smaller field of view for fast training sets.
    generation:
        Generator generation (:mod:`bcl_core.phantom.generation`); 1 is the shipped models'.

    Returns
    -------
    dict
        The case's ``labels.csv`` row.

    Raises
    ------
    PhantomError
        For bad settings or when the output folder cannot be written.
    """
    spec = sample_case_spec(site, seed, index, generation)
    case_dir = Path(out_dir) / spec.case_id
    ct, ct_mask = render_ct(spec, compact)
    sequences = ("t2", *EXTRA_MR_SERIES) if spec.generation.extra_mr_series else ("t2",)
    mr_images, mr_mask = render_mr_series(spec, compact, sequences)
    mr = mr_images.pop("t2")
    extra = mr_images
    patient = SyntheticPatient(**spec.patient)
    try:
        # A rerun replaces, never mixes, a case's slices.
        for sub in ("ct", "mr", *(folder for folder, *_rest in EXTRA_MR_SERIES.values())):
            if (case_dir / sub).exists():
                shutil.rmtree(case_dir / sub)
        _write_ct(spec, ct, case_dir / "ct", patient, compact)
        _write_mr(spec, mr, case_dir / "mr", patient, compact)
        for seq, volume in extra.items():
            _write_mr(spec, volume, case_dir / EXTRA_MR_SERIES[seq][0], patient, compact, seq)
        write_nifti(ct_mask, case_dir / "ct_mask.nii.gz")
        write_nifti(mr_mask, case_dir / "mr_mask.nii.gz")
        (case_dir / "truth.json").write_text(json.dumps(truth_record(spec, compact), indent=2))
    except OSError as exc:
        raise PhantomError(f"cannot write case {spec.case_id} to {case_dir}: {exc.strerror}; "
                           "check the folder is writable and the disk has space.") from exc
    logger.info("wrote %s (%s, level %s)", spec.case_id, spec.site.name, spec.level)
    return label_row(spec)


def _write_ct(spec: CaseSpec, ct: Any, folder: Path, patient: SyntheticPatient,
              compact: bool) -> None:
    protocol = spec.site.ct
    write_series(
        ct, folder, patient=patient,
        series_description=f"SYNTHETIC CT SPINE AXIAL {protocol.slice_mm:g}mm"
        + (" COMPACT" if compact else ""),
        series_number=2,
        study_uid=make_uid("bcl-synth", spec.case_id, "ct-study"),
        series_uid=make_uid("bcl-synth", spec.case_id, "ct-series", compact),
        frame_of_reference_uid=make_uid("bcl-synth", spec.case_id, "ct-frame", compact),
        window_presets=CT_WINDOWS,
        extra_tags={
            "Manufacturer": protocol.manufacturer,
            "ManufacturerModelName": protocol.model,
            "ConvolutionKernel": "BONE",
            "XRayTubeCurrent": 250,
            "StudyDescription": "SYNTHETIC CT THORACOLUMBAR SPINE",
            "InstitutionName": f"SYNTHETIC {spec.site.name.upper()} SITE",
        },
        uid_seed=f"{spec.case_id}-ct-{compact}",
    )


def _write_mr(spec: CaseSpec, mr: Any, folder: Path, patient: SyntheticPatient,
              compact: bool, sequence: str = "t2") -> None:
    protocol = spec.site.mr
    signal = np.asarray(mr.array)
    high = float(np.percentile(signal, 99.5))
    description, number, tr, te, ti = "SYNTHETIC MR SAG T2 TSE", 3, "3500", "100", None
    series_key, uid_seed = "mr-series", f"{spec.case_id}-mr-{compact}"
    if sequence != "t2":
        _folder, description, number, tr, te, ti = EXTRA_MR_SERIES[sequence]
        series_key, uid_seed = f"{sequence}-series", f"{spec.case_id}-{sequence}-{compact}"
    sequence_tags = {"RepetitionTime": tr, "EchoTime": te}
    if ti is not None:
        sequence_tags["InversionTime"] = ti
    write_series(
        mr, folder, patient=patient,
        series_description=description + (" COMPACT" if compact else ""),
        series_number=number,
        study_uid=make_uid("bcl-synth", spec.case_id, "mr-study"),
        series_uid=make_uid("bcl-synth", spec.case_id, series_key, compact),
        # The sagittal series of one MR session share its frame of reference.
        frame_of_reference_uid=make_uid("bcl-synth", spec.case_id, "mr-frame", compact),
        window_presets=((round(high / 2, 1), round(high, 1)),),
        extra_tags={
            "Manufacturer": protocol.manufacturer,
            "ManufacturerModelName": protocol.model,
            "SliceThickness": f"{protocol.slice_mm:g}",
            "SpacingBetweenSlices": f"{protocol.slice_mm + protocol.slice_gap_mm:g}",
            "MagneticFieldStrength": "3" if "3T" in protocol.model else "1.5",
            "ScanningSequence": "SE" if ti is None else "IR",
            "SequenceVariant": "SK",
            **sequence_tags,
            "EchoTrainLength": 17 if sequence != "t1" else 3,
            "StudyDescription": "SYNTHETIC MR LUMBAR SPINE",
            "InstitutionName": f"SYNTHETIC {spec.site.name.upper()} SITE",
        },
        uid_seed=uid_seed,
    )


def write_labels_csv(rows: Iterable[Mapping[str, Any]], out_dir: str | Path) -> Path:
    """Write ``DIR/labels.csv`` (columns :data:`LABEL_COLUMNS`), rows sorted by case ID."""
    path = Path(out_dir) / "labels.csv"
    ordered = sorted(rows, key=lambda r: str(r["case_id"]))
    with path.open("w", newline="", encoding="utf-8") as handle:
        write_dict_rows(handle, LABEL_COLUMNS, ordered)
    return path
