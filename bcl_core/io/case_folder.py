"""The one reader of a case folder: its ``ct/`` and ``mr/`` series, ``truth.json`` and masks.

Layout (``bcl synth`` writes it; DESIGN.md, "Public contracts")::

    DIR/<case_id>/ct/*.dcm, DIR/<case_id>/mr/*.dcm, DIR/<case_id>/truth.json,
    DIR/<case_id>/ct_mask.nii.gz, DIR/<case_id>/mr_mask.nii.gz

Training, batch prediction, the demo case, the reader-study import and the montage all read a
case folder through these functions, so the layout and the meaning of ``truth.json`` are written
down once. Series go through the project's DICOM loader (:func:`bcl_core.io.load_volume`) with
all its checks; ``truth.json`` becomes a typed :class:`CaseTruth`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from bcl_core.errors import InputError
from bcl_core.volume import Volume

CaseRole = Literal["ct", "mr"]
#: The series of a case folder, in reading order.
CASE_ROLES: tuple[CaseRole, ...] = ("ct", "mr")
#: The ``truth.json`` file name.
TRUTH_FILE = "truth.json"
#: Mask file of the whole target vertebra per series (on that series' grid).
MASK_FILES: Mapping[CaseRole, str] = MappingProxyType(
    {"ct": "ct_mask.nii.gz", "mr": "mr_mask.nii.gz"})

Point = tuple[float, float, float]


@dataclass(frozen=True)
class CaseTruth:
    """What ``truth.json`` says about a case (synthetic cases, or a hospital's own labels).

    Attributes
    ----------
    case_id:
        The case id (the folder name where the file does not give one).
    ct_point_mm, mr_point_mm:
        The target vertebral body's centre, LPS mm, each in its own series' frame.
    level:
        The target vertebra's level (``"L1"``), empty when not given.
    labels:
        Leakage label per type (``type1`` ... ``type4``: 0 or 1); empty when not given.
    oracle:
        The generator's true probability per type; empty when not given.
    features:
        The latent features the labels were drawn from; empty when not given.
    document:
        The whole parsed file, read-only, for fields not typed here (body axes, site, ...).
    """

    case_id: str
    ct_point_mm: Point
    mr_point_mm: Point
    level: str = ""
    labels: Mapping[str, int] = field(default_factory=dict)
    oracle: Mapping[str, float] = field(default_factory=dict)
    features: Mapping[str, Any] = field(default_factory=dict)
    document: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def point_mm(self, role: CaseRole) -> Point:
        """The target's centre in the ``ct`` or ``mr`` series."""
        return self.ct_point_mm if role == "ct" else self.mr_point_mm


def is_case_folder(folder: str | Path) -> bool:
    """Whether ``folder`` holds both series folders (``ct/`` and ``mr/``)."""
    base = Path(folder)
    return all((base / role).is_dir() for role in CASE_ROLES)


def case_dirs(root: str | Path) -> list[Path]:
    """Case folders (those holding a ``truth.json``) under a ``bcl synth`` folder, sorted.

    Raises
    ------
    InputError
        If ``root`` is not a folder or holds no case.
    """
    base = Path(root)
    if not base.is_dir():
        raise InputError(f"Data folder not found: {base}. Generate one with `bcl synth`.")
    found = sorted(p.parent for p in base.glob(f"*/{TRUTH_FILE}"))
    if not found:
        raise InputError(f"No cases (*/{TRUTH_FILE}) in {base}; generate them with `bcl synth`.")
    return found


def _point(value: Any) -> Point:
    values = tuple(float(v) for v in value)
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise ValueError("a point needs three finite numbers")
    return values  # type: ignore[return-value]


def parse_truth(document: Mapping[str, Any], case_id: str) -> CaseTruth:
    """A :class:`CaseTruth` from a parsed ``truth.json``.

    Parameters
    ----------
    document:
        The parsed JSON object.
    case_id:
        Used when the document has no ``case_id`` (and in messages).

    Raises
    ------
    InputError
        If the target points are missing or not three finite numbers each, or the labels,
        oracle or features are malformed.
    """
    if not isinstance(document, Mapping):
        raise InputError(f"{TRUTH_FILE} of case {case_id} is not a JSON object; write it again "
                         "(`bcl synth` shows the layout).")
    try:
        points = {role: _point(document[f"{role}_point_mm"]) for role in CASE_ROLES}
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{TRUTH_FILE} of case {case_id} has no usable target points "
                         "(ct_point_mm, mr_point_mm: three numbers each, LPS mm).") from exc
    try:
        labels = {str(k): int(v) for k, v in dict(document.get("labels") or {}).items()}
        oracle = {str(k): float(v) for k, v in dict(document.get("oracle") or {}).items()}
        features = dict(document.get("features") or {})
    except (TypeError, ValueError) as exc:
        raise InputError(f"{TRUTH_FILE} of case {case_id}: labels, oracle or features are not "
                         "tables of numbers; write it again.") from exc
    return CaseTruth(
        case_id=str(document.get("case_id") or case_id),
        ct_point_mm=points["ct"],
        mr_point_mm=points["mr"],
        level=str(document.get("level") or ""),
        labels=MappingProxyType(labels),
        oracle=MappingProxyType(oracle),
        features=MappingProxyType(features),
        document=MappingProxyType(dict(document)),
    )


def find_truth(case_dir: str | Path) -> CaseTruth | None:
    """The case's ``truth.json`` as a :class:`CaseTruth`, or ``None`` when it has none.

    Raises
    ------
    InputError
        If the file exists but is not readable JSON or lacks usable target points.
    """
    folder = Path(case_dir)
    path = folder / TRUTH_FILE
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{TRUTH_FILE} of case folder {folder.name} is not readable JSON; "
                         "write it again.") from exc
    return parse_truth(document, folder.name)


def read_truth(case_dir: str | Path) -> CaseTruth:
    """The case's ``truth.json`` as a :class:`CaseTruth`.

    Raises
    ------
    InputError
        If the file is missing, not readable JSON, or lacks usable target points.
    """
    truth = find_truth(case_dir)
    if truth is None:
        raise InputError(f"Case folder {Path(case_dir).name} has no {TRUTH_FILE}; give the "
                         "target points on the command line or add the file.")
    return truth


def read_case_series(case_dir: str | Path, role: CaseRole) -> Volume:
    """The case's ``ct/`` or ``mr/`` series through the project's DICOM loader (all checks).

    Raises
    ------
    NoImagesError, AmbiguousSeriesError, SeriesError
        As :func:`bcl_core.io.load_volume`.
    """
    from bcl_core.io.dicom_reader import load_volume

    return load_volume(Path(case_dir) / role)


def read_case_mask(case_dir: str | Path, role: CaseRole) -> Volume:
    """The case's mask of the whole target vertebra on the ``ct`` or ``mr`` series' grid.

    Raises
    ------
    InputError
        If the mask file is missing or not a readable 3D NIfTI image.
    """
    from bcl_core.io.nifti import read_nifti

    return read_nifti(Path(case_dir) / MASK_FILES[role], modality="SEG")
