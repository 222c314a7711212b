"""The one case-folder reader (issue 17): typed truth.json, series through the project's DICOM
checks (no SimpleITK fallback in training), masks, and the callers that now go through it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from model_fixtures import write_small_case

import bcl_core.io
from bcl_core.clinic.demo_case import demo_points
from bcl_core.errors import InputError, SeriesError
from bcl_core.io.case_folder import (
    CaseTruth,
    case_dirs,
    find_truth,
    is_case_folder,
    read_case_mask,
    read_case_series,
    read_truth,
)
from bcl_core.study.cases import read_target
from bcl_core.train.cases import load_seg_case


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_small_case(tmp_path_factory.mktemp("case"))


def _truth_file(folder: Path, document: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "truth.json").write_text(json.dumps(document))
    return folder


def test_truth_is_a_typed_record(tmp_path: Path) -> None:
    folder = _truth_file(tmp_path / "C1", {
        "ct_point_mm": [1, -2.5, 3], "mr_point_mm": [4.0, 5.0, -6.0], "level": "L1",
        "labels": {"type1": 1, "type4": 0}, "oracle": {"type1": 0.25},
        "features": {"height_loss": 0.3}, "site": "internal"})
    truth = read_truth(folder)
    assert isinstance(truth, CaseTruth)
    assert truth.case_id == "C1" and truth.level == "L1"
    assert truth.ct_point_mm == (1.0, -2.5, 3.0) and truth.point_mm("mr") == (4.0, 5.0, -6.0)
    assert dict(truth.labels) == {"type1": 1, "type4": 0} and truth.oracle["type1"] == 0.25
    assert truth.features["height_loss"] == 0.3 and truth.document["site"] == "internal"
    with pytest.raises(TypeError):
        truth.labels["type1"] = 0  # type: ignore[index]


@pytest.mark.parametrize("document", [
    {"mr_point_mm": [1, 2, 3]},
    {"ct_point_mm": [1, 2], "mr_point_mm": [1, 2, 3]},
    {"ct_point_mm": [1, 2, float("nan")], "mr_point_mm": [1, 2, 3]},
    {"ct_point_mm": "1,2,3", "mr_point_mm": [1, 2, 3]},
    ["not", "an", "object"],
])
def test_bad_truth_is_one_clear_error(tmp_path: Path, document: object) -> None:
    folder = _truth_file(tmp_path / "C2", document)
    with pytest.raises(InputError, match="truth.json of case C2"):
        read_truth(folder)
    with pytest.raises(InputError, match="truth.json of case"):
        read_target(folder)  # the study import reads it the same way
    assert demo_points(folder) is None  # the demo offers no points rather than failing


def test_missing_or_unreadable_truth(tmp_path: Path) -> None:
    assert find_truth(tmp_path) is None and read_target(tmp_path) is None
    with pytest.raises(InputError, match="has no truth.json"):
        read_truth(tmp_path)
    (tmp_path / "truth.json").write_text("{not json")
    with pytest.raises(InputError, match="not readable JSON"):
        find_truth(tmp_path)
    with pytest.raises(InputError, match="No cases"):
        case_dirs(tmp_path)


def test_series_masks_and_points_of_a_synth_case(case_dir: Path) -> None:
    written = json.loads((case_dir / "truth.json").read_text())
    assert is_case_folder(case_dir) and not is_case_folder(case_dir / "ct")
    assert case_dirs(case_dir.parent) == [case_dir]
    ct = read_case_series(case_dir, "ct")
    mask = read_case_mask(case_dir, "ct")
    assert ct.modality == "CT" and mask.modality == "SEG" and mask.same_grid(ct)
    seg = load_seg_case(case_dir, "ct")
    np.testing.assert_array_equal(seg.point_mm, written["ct_point_mm"])
    assert seg.image.same_grid(ct) and seg.case_id == case_dir.name
    with pytest.raises(InputError, match="Unknown modality"):
        load_seg_case(case_dir, "pet")


def test_training_reads_series_with_the_project_checks(case_dir: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A CT stack with a gap of four slices is refused by the project's loader. The old training
    reader fell back to SimpleITK (which reads it silently) whenever ``bcl_core.io.load_volume``
    could not be imported; now it has no other way in."""
    gapped = tmp_path / case_dir.name
    shutil.copytree(case_dir, gapped)
    slices = sorted((gapped / "ct").glob("*.dcm"))
    for path in slices[len(slices) // 2: len(slices) // 2 + 3]:
        path.unlink()
    monkeypatch.delattr(bcl_core.io, "load_volume")
    with pytest.raises(SeriesError):
        load_seg_case(gapped, "ct")
