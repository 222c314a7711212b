"""Case import: de-identified on the way in, hashed, stored under the study's data folder."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from test_study_support import BACKENDS, PLANTED, build_world, database_factory, write_case

from bcl_core.errors import InputError
from bcl_core.study import (
    assign_reader,
    import_cases,
    import_predictions_csv,
    import_reference_labels,
    list_cases,
    list_predictions,
    next_case,
    reference_labels,
)
from bcl_core.study.cases import content_hash
from bcl_core.study.models import Case
from bcl_core.study.views import CaseTarget

SOURCE_NAMES = ("smith-john-0001", "doe-jane-0002")  # identifying folder names


@pytest.fixture
def make_db(tmp_path):
    yield from database_factory(tmp_path)


@pytest.fixture
def source(tmp_path):
    folder = tmp_path / "incoming"
    for n, name in enumerate(SOURCE_NAMES):
        case = write_case(folder, name, seed=n)
        (case / "truth.json").write_text(json.dumps({
            "ct_point_mm": [1.5, -2.0, 30.25], "mr_point_mm": [0.0, 4.0, -8.5], "level": "L1",
            "labels": {"type1": 1}, "oracle": {"type1": 0.987654}}))
        (case / "ct_mask.nii.gz").write_bytes(b"mask")
    (folder / "labels.csv").write_text(
        "case_id,type1,type2,type3,type4\n"
        f"{SOURCE_NAMES[0]},1,0,0,1\n{SOURCE_NAMES[1]},0,0,1,0\n")
    (folder / "predictions.csv").write_text(
        "case_id,prob_type1,prob_type2,prob_type3,prob_type4,call_type1,call_type2,call_type3,"
        f"call_type4\n{SOURCE_NAMES[0]},0.9,0.1,0.2,0.6,1,0,0,1\n"
        f"{SOURCE_NAMES[1]},0.3,0.2,0.7,0.1,0,0,1,0\n")
    return folder


@pytest.fixture(params=BACKENDS)
def imported(request, make_db, source):
    world = build_world(make_db(request.param), n_cases=0)
    report = import_cases(world.db, world.token("coordinator"), world.study_id, source)
    assign_reader(world.db, world.token("coordinator"), world.study_id, "reader")
    return world, report


def _stored_files(world):
    return sorted(p for p in world.db.root.rglob("*") if p.is_file() and p.suffix == ".dcm")


def test_cases_are_stored_under_the_study_folder_with_codes_and_hashes(imported):
    world, report = imported
    assert report.imported == ("C0001", "C0002") and report.skipped_duplicates == 0
    cases = list_cases(world.db, world.token("coordinator"), world.study_id)
    assert [c.code for c in cases] == ["C0001", "C0002"]
    for case in cases:
        folder = world.db.root / "study_0001" / "cases" / case.code
        assert sorted(p.name for p in folder.iterdir()) == ["ct", "mr"]
        assert len(list((folder / "ct").iterdir())) == 3
        assert case.content_sha256 == content_hash(folder)
    assert not (world.db.root / "study_0001" / "staging").exists() or not any(
        (world.db.root / "study_0001" / "staging").iterdir())
    assert not list(world.db.root.rglob("truth.json")) and not list(world.db.root.rglob("*.nii.gz"))


def test_only_the_target_vertebra_is_kept_from_truth_json(imported):
    world, _ = imported
    case = next_case(world.db, world.token("reader"), world.study_id)
    assert case.target == CaseTarget((1.5, -2.0, 30.25), (0.0, 4.0, -8.5), "L1")
    with world.db.read_session() as session:
        stored = " ".join(c.target_json for c in session.scalars(select(Case)))
    assert "0.987654" not in stored and "labels" not in stored and "oracle" not in stored


def test_stored_dicom_holds_no_planted_identifier(imported):
    world, _ = imported
    files = _stored_files(world)
    assert len(files) == 12
    for path in files:
        data = path.read_bytes()
        for keyword, value in PLANTED.items():
            assert value.encode() not in data, f"{keyword} survived in {path.name}"
            for part in value.replace("^", " ").split():
                if len(part) > 4:
                    assert part.encode() not in data, f"part of {keyword} in {path.name}"
        for name in SOURCE_NAMES:
            assert name.encode() not in data
    from pydicom import dcmread

    first = dcmread(files[0])
    assert str(first.PatientID).startswith("BCL-")


def test_source_folder_names_are_not_stored_in_the_database(imported, tmp_path):
    world, _ = imported
    if world.db.dialect != "sqlite":
        pytest.skip("byte-level check of the database file (SQLite)")
    world.db.dispose()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("study.sqlite*"))
    assert raw and all(name.encode() not in raw for name in SOURCE_NAMES)


def test_reimport_skips_duplicates_and_stored_series_load(imported, source):
    world, _ = imported
    again = import_cases(world.db, world.token("coordinator"), world.study_id, source)
    assert again.imported == () and again.skipped_duplicates == 2
    from bcl_core.io import load_volume

    volume = load_volume(world.db.root / "study_0001" / "cases" / "C0001" / "ct")
    assert volume.array.shape == (3, 8, 8) and volume.spacing[2] == pytest.approx(2.0)


def test_labels_and_predictions_match_by_source_case_id(imported, source):
    world, _ = imported
    coordinator = world.token("coordinator")
    assert import_reference_labels(world.db, coordinator, world.study_id,
                                   source / "labels.csv") == 2
    labels = {lab.case_code: lab.calls for lab in reference_labels(world.db, coordinator,
                                                                   world.study_id)}
    assert import_predictions_csv(world.db, coordinator, world.study_id,
                                  source / "predictions.csv", "v1") == 2
    type3 = {p.case_code: p.probabilities["type3"]
             for p in list_predictions(world.db, coordinator, world.study_id)}
    assert sorted(type3.values()) == [0.2, 0.7]
    # Codes are assigned in random order; label and prediction of one source row share a code.
    by_prob = {prob: labels[code] for code, prob in type3.items()}
    assert by_prob[0.2] == {"type1": 1, "type2": 0, "type3": 0, "type4": 1}
    assert by_prob[0.7] == {"type1": 0, "type2": 0, "type3": 1, "type4": 0}
    bad = source / "bad.csv"
    bad.write_text("case_id,type1,type2,type3,type4\nunknown-case,1,0,0,0\n")
    with pytest.raises(InputError, match="not in this study"):
        import_reference_labels(world.db, coordinator, world.study_id, bad)


def test_a_folder_without_cases_is_refused(make_db, tmp_path):
    world = build_world(make_db("sqlite"), n_cases=0)
    with pytest.raises(InputError, match="No case folders"):
        import_cases(world.db, world.token("coordinator"), world.study_id, tmp_path)


def test_a_bcl_synth_folder_imports_with_its_target_vertebra(make_db, tmp_path):
    from bcl_core.cli import main

    assert main(["synth", "--out", str(tmp_path / "synth"), "--cases", "1", "--site",
                 "internal", "--seed", "3", "--compact"]) == 0
    world = build_world(make_db("sqlite"), n_cases=0)
    report = import_cases(world.db, world.token("coordinator"), world.study_id,
                          tmp_path / "synth")
    assert report.imported == ("C0001",)
    assign_reader(world.db, world.token("coordinator"), world.study_id, "reader")
    case = next_case(world.db, world.token("reader"), world.study_id)
    truth = json.loads(next((tmp_path / "synth").glob("*/truth.json")).read_text())
    assert case.target.ct_point_mm == tuple(truth["ct_point_mm"])
    assert case.target.level == truth["level"]
