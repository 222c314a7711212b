"""Reader-study exports: the files join on the same ids, and no cell runs as a formula."""

from __future__ import annotations

import csv
import io

import pytest
from test_study_support import BACKENDS, build_world, calls, database_factory

from bcl_core.study import (
    imrmc_input,
    labels_csv,
    long_csv,
    predictions_csv,
    run_model,
    submit_read,
    submit_reference_read,
)

HOSTILE_VERSION = "=HYPERLINK(\"http://attacker.example\",\"x\")"


@pytest.fixture
def make_db(tmp_path):
    yield from database_factory(tmp_path)


@pytest.fixture(params=BACKENDS)
def read_world(request, make_db):
    """Every case labelled (type1 present in the first two), read by both readers."""
    world = build_world(make_db(request.param), n_cases=4)
    db, study = world.db, world.study_id
    for n, case_id in enumerate(world.case_ids):
        label = calls(int(n < 2), 0, 0, 0)
        for who in ("reference1", "reference2"):
            submit_reference_read(db, world.token(who), study, case_id, label)
    for n, case_id in enumerate(world.case_ids):
        submit_read(db, world.token("reader"), study, case_id, calls(int(n % 2 == 0), 0, 0, 0),
                    {"type1": 10 + 20 * n}, 5.0)
        submit_read(db, world.token("reader2"), study, case_id, calls(0, 0, 0, 0), None, 5.0)
    return world


def _imrmc_rows(text: str) -> list[list[str]]:
    return [line.split(",") for line in text.split("BEGIN DATA:\n", 1)[1].strip().splitlines()]


def test_imrmc_ids_are_the_ids_of_reads_and_labels_csv(read_world) -> None:
    db, study, coordinator = read_world.db, read_world.study_id, read_world.token("coordinator")
    reads = list(csv.DictReader(io.StringIO(long_csv(db, coordinator, study))))
    labels = {row["case_id"]: row for row in csv.DictReader(io.StringIO(labels_csv(db, coordinator,
                                                                                  study)))}
    rows = _imrmc_rows(imrmc_input(db, coordinator, study, "type1"))
    truth = {case: score for reader, case, _, score in rows if reader == "-1"}
    scores = {(reader, case): float(score) for reader, case, _, score in rows if reader != "-1"}

    # Every .imrmc case is a labels.csv case with the same truth, and the same set as reads.csv.
    assert set(truth) == set(labels) == {r["case_id"] for r in reads}
    assert all(truth[case] == labels[case]["type1"] for case in truth)
    # Every .imrmc reader score is the reads.csv row of that reader and case (type1).
    type1 = {(r["reader_id"], r["case_id"]): float(r["confidence"]) for r in reads
             if r["type"] == "type1"}
    assert scores == type1
    # The codes themselves: study codes C0001.., readers by their export code, not database ids.
    assert set(truth) == {"C0001", "C0002", "C0003", "C0004"}
    assert {reader for reader, _ in scores} == {"R002", "R003"}


def test_study_exports_escape_a_hostile_model_version(read_world) -> None:
    db, study, coordinator = read_world.db, read_world.study_id, read_world.token("coordinator")
    run_model(db, coordinator, study,
              lambda dirs, target: (dict(calls(0, 0, 0, 0), type1=0.5), calls(1, 0, 0, 0)),
              HOSTILE_VERSION)
    text = long_csv(db, coordinator, study)
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert "'" + HOSTILE_VERSION in cells
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    assert predictions_csv(db, coordinator, study, HOSTILE_VERSION).splitlines()[1].startswith(
        "C0001,0.5,")


def test_reads_csv_carries_each_cases_latest_model_prediction(read_world) -> None:
    db, study, coordinator = read_world.db, read_world.study_id, read_world.token("coordinator")
    for version, probability in (("model-old", 0.2), ("model-new", 0.7)):
        run_model(db, coordinator, study,
                  lambda dirs, target, p=probability: (dict(calls(0, 0, 0, 0), type1=p),
                                                       calls(1, 0, 0, 0)),
                  version)
    reads = list(csv.DictReader(io.StringIO(long_csv(db, coordinator, study))))
    assert {r["model_version"] for r in reads} == {"model-new"}
    assert {r["model_probability"] for r in reads if r["type"] == "type1"} == {"0.7"}
