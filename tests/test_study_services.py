"""Reader-study service flows, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from test_study_support import (
    BACKENDS,
    PASSWORD,
    activate,
    add_cases,
    build_world,
    calls,
    database_factory,
)

from bcl_core.errors import AuthenticationError, ConflictError, NotFoundError, StudyError
from bcl_core.study import (
    adjudicate,
    adjudication_queue,
    allow_amendment,
    assign_reader,
    create_study,
    create_user,
    imrmc_input,
    labels_csv,
    list_studies,
    list_users,
    login,
    login_external,
    long_csv,
    my_progress,
    my_reads,
    next_case,
    predictions_csv,
    reader_reads,
    reference_labels,
    reset_password,
    run_model,
    set_active,
    study_progress,
    submit_read,
    submit_reference_read,
)
from bcl_core.study.constants import FREE_FAILED_LOGINS, Role
from bcl_core.study.models import Assignment, AuditEvent, ReadAmendment, utcnow


@pytest.fixture
def make_db(tmp_path):
    yield from database_factory(tmp_path)


@pytest.fixture(params=BACKENDS)
def world(request, make_db):
    return build_world(make_db(request.param))


def _read_all(world, who: str, answer: dict[str, int]) -> list[str]:
    """Read every assigned case with ``answer``; returns the codes in reading order."""
    token = world.token(who)
    codes = []
    while (case := next_case(world.db, token, world.study_id)) is not None:
        submit_read(world.db, token, world.study_id, case.case_id, answer, None, 5.0)
        codes.append(case.code)
    return codes


# --- accounts -------------------------------------------------------------------------------
def test_one_time_password_must_be_replaced_before_anything_else(world):
    created = create_user(world.db, world.token("coordinator"), "newbie", Role.READER)
    first = login(world.db, "newbie", created.one_time_password)
    assert first.must_change_password
    with pytest.raises(AuthenticationError, match="own password"):
        list_studies(world.db, first.token)
    token = activate(world.db, "newbie", created.one_time_password)
    assert list_studies(world.db, token) == []  # not assigned anywhere yet
    with pytest.raises(AuthenticationError, match="Wrong username or password"):
        login(world.db, "newbie", created.one_time_password)  # one-time means once


def test_paused_account_and_coordinator_reset(world, monkeypatch):
    frozen = utcnow()  # the pause is short: keep the clock still so it cannot run out here
    monkeypatch.setattr("bcl_core.study.auth.utcnow", lambda: frozen)
    for _ in range(FREE_FAILED_LOGINS + 1):  # the last one pauses the account
        with pytest.raises(AuthenticationError, match="Wrong username or password"):
            login(world.db, "reader", "not the password")
    with pytest.raises(AuthenticationError, match="Wrong username or password"):
        login(world.db, "reader", PASSWORD)  # even the right password, while paused
    assert {u.username: u.locked for u in list_users(world.db, world.token("coordinator"))
            }["reader"]
    fresh = reset_password(world.db, world.token("coordinator"), "reader")
    # The reset ends old sessions and the new one-time password works.
    with pytest.raises(AuthenticationError):
        my_progress(world.db, world.token("reader"), world.study_id)
    assert activate(world.db, "reader", fresh.one_time_password)


def test_unknown_user_gets_the_same_message_as_a_wrong_password(world):
    with pytest.raises(AuthenticationError) as unknown:
        login(world.db, "nobody", PASSWORD)
    with pytest.raises(AuthenticationError) as wrong:
        login(world.db, "reader", "not the password")
    assert str(unknown.value) == str(wrong.value)
    assert str(unknown.value).startswith("Wrong username or password.")


def test_organisation_login_opens_a_session_for_the_linked_account_only(world):
    created = create_user(world.db, world.token("coordinator"), "sso.reader", Role.READER,
                          " Ann.Reader@Hospital.example ")
    assert created.one_time_password == ""  # no password to hand over
    session = login_external(world.db, "ann.reader@hospital.example")
    assert session.username == "sso.reader" and not session.must_change_password
    assert list_studies(world.db, session.token) == []  # a working session, role checks apply
    with pytest.raises(AuthenticationError, match="No active study account"):
        login_external(world.db, "someone.else@hospital.example")
    with pytest.raises(ConflictError, match="linked to another account"):
        create_user(world.db, world.token("coordinator"), "sso.two", Role.READER,
                    "ann.reader@hospital.example")
    set_active(world.db, world.token("coordinator"), "sso.reader", False)
    with pytest.raises(AuthenticationError):
        login_external(world.db, "ann.reader@hospital.example")
    users = {u.username: u for u in list_users(world.db, world.token("coordinator"))}
    assert users["sso.reader"].external_identity == "ann.reader@hospital.example"


def test_sessions_expire(world):
    world.db.session_ttl = timedelta(seconds=-1)
    token = login(world.db, "reader", PASSWORD).token
    with pytest.raises(AuthenticationError, match="expired"):
        my_progress(world.db, token, world.study_id)


def test_passwords_are_argon2_hashes_and_never_stored_in_clear(world):
    from bcl_core.study.models import User

    with world.db.read_session() as session:
        hashes = list(session.scalars(select(User.password_hash)))
        audit = " ".join(session.scalars(select(AuditEvent.detail)))
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    assert PASSWORD not in " ".join(hashes) and PASSWORD not in audit


# --- reading --------------------------------------------------------------------------------
def test_reader_reads_all_cases_in_a_stored_seeded_order(world):
    first = _read_all(world, "reader", calls(0, 0, 0, 0))
    second = _read_all(world, "reader2", calls(1, 1, 1, 1))
    assert sorted(first) == sorted(second) == ["C0001", "C0002", "C0003", "C0004"]
    with world.db.read_session() as session:
        stored = {a.user_id: json.loads(a.case_order) for a in session.scalars(select(Assignment))}
    orders = [[f"C{c:04d}" for c in order] for order in stored.values()]
    assert first in orders and second in orders
    assert next_case(world.db, world.token("reader"), world.study_id) is None
    progress = {p.username: (p.done, p.total)
                for p in study_progress(world.db, world.token("coordinator"), world.study_id)}
    assert progress["reader"] == (4, 4) and progress["reader2"] == (4, 4)
    assert progress["reference1"] == (0, 4)


def test_the_same_seed_gives_the_same_order(make_db):
    orders = []
    for _ in range(2):
        world = build_world(make_db("sqlite"), n_cases=12, order_seed=2024)
        with world.db.read_session() as session:
            orders.append(sorted(json.loads(a.case_order)
                                 for a in session.scalars(select(Assignment))))
        world.db.dispose()
        world.db.engine.dispose()
        # the second world needs a fresh file
        import os
        os.remove(world.db.url.removeprefix("sqlite:///"))
    assert orders[0] == orders[1]
    assert len({tuple(o) for o in orders[0]}) > 1  # readers get different orders


def test_a_random_study_seed_gives_reader_seeds_that_fit_an_integer_column(world,
                                                                             monkeypatch):
    # The largest seed create_study may draw; reader seeds were ~1e14, past PostgreSQL's
    # INTEGER (-2**31 .. 2**31 - 1), so assigning failed there.
    monkeypatch.setattr("bcl_core.study.studies.secrets.randbelow", lambda bound: bound - 1)
    coordinator = world.token("coordinator")
    study = create_study(world.db, coordinator, "Random order")
    add_cases(world.db, study.study_id, 3)
    assert assign_reader(world.db, coordinator, study.study_id, "reader") == 3
    with world.db.read_session() as session:
        seeds = list(session.scalars(select(Assignment.seed).where(
            Assignment.study_id == study.study_id)))
    assert len(seeds) == 1 and 0 <= seeds[0] <= 2**31 - 1


def test_answers_lock_on_submit_and_amendment_is_audited(world):
    db, token = world.db, world.token("reader")
    case = next_case(db, token, world.study_id)
    read = submit_read(db, token, world.study_id, case.case_id, calls(1, 0, 0, 0),
                       {"type1": 70}, 30.0, "first look")
    with pytest.raises(ConflictError, match="locked"):
        submit_read(db, token, world.study_id, case.case_id, calls(0, 0, 0, 0), None, 3.0)
    with pytest.raises(StudyError, match="reason"):
        allow_amendment(db, world.token("coordinator"), read.read_id, "  ")
    allow_amendment(db, world.token("coordinator"), read.read_id, "typo in type I")
    again = next_case(db, token, world.study_id)
    assert again.case_id == case.case_id and again.amendment
    amended = submit_read(db, token, world.study_id, case.case_id, calls(0, 0, 0, 0), None, 4.0)
    assert amended.locked and amended.calls["type1"] == 0
    with db.read_session() as session:
        trail = session.scalars(select(ReadAmendment)).one()
    assert trail.reason == "typo in type I"
    assert json.loads(trail.previous_answer)["calls"]["type1"] == 1
    assert json.loads(trail.new_answer)["calls"]["type1"] == 0
    rows = reader_reads(db, world.token("coordinator"), world.study_id, "reader")
    assert [r.calls["type1"] for r in rows] == [0]


def test_every_type_is_required_and_values_are_checked(world):
    db, token = world.db, world.token("reader")
    case = next_case(db, token, world.study_id)
    with pytest.raises(StudyError, match="missing: type4"):
        submit_read(db, token, world.study_id, case.case_id, {"type1": 1, "type2": 0,
                                                              "type3": 0}, None, 1.0)
    with pytest.raises(StudyError, match="0 \\(no\\) or 1"):
        submit_read(db, token, world.study_id, case.case_id, calls(2, 0, 0, 0), None, 1.0)
    with pytest.raises(StudyError, match="between 0 and 100"):
        submit_read(db, token, world.study_id, case.case_id, calls(1, 0, 0, 0),
                    {"type1": 101}, 1.0)
    with pytest.raises(StudyError, match="time spent"):
        submit_read(db, token, world.study_id, case.case_id, calls(1, 0, 0, 0), None, -1.0)
    assert my_reads(db, token, world.study_id) == []


def test_a_reader_cannot_submit_a_case_outside_its_assignment(world, make_db):
    other_case = world.case_ids[-1] + 1000
    with pytest.raises(NotFoundError, match="not assigned"):
        submit_read(world.db, world.token("reader"), world.study_id, other_case,
                    calls(0, 0, 0, 0), None, 1.0)


# --- reference standard ---------------------------------------------------------------------
def test_agreement_sets_the_label_and_disagreement_goes_to_the_adjudicator(world):
    db, study = world.db, world.study_id
    first, second = world.case_ids[:2]
    for case_id in (first, second):
        submit_reference_read(db, world.token("reference1"), study, case_id, calls(1, 0, 0, 0))
    submit_reference_read(db, world.token("reference2"), study, first, calls(1, 0, 0, 0))
    submit_reference_read(db, world.token("reference2"), study, second, calls(1, 0, 0, 1), "IV?")
    with pytest.raises(ConflictError):
        submit_reference_read(db, world.token("reference2"), study, second, calls(1, 0, 0, 1))
    queue = adjudication_queue(db, world.token("adjudicator"), study)
    assert [d.case_id for d in queue] == [second]
    assert {name for name, _, _ in queue[0].reads} == {"reference1", "reference2"}
    with pytest.raises(ConflictError, match="not waiting"):
        adjudicate(db, world.token("adjudicator"), study, first, calls(0, 0, 0, 0))
    adjudicate(db, world.token("adjudicator"), study, second, calls(1, 0, 0, 1), "canal breach")
    assert adjudication_queue(db, world.token("adjudicator"), study) == []
    labels = {lab.case_code: lab for lab in reference_labels(db, world.token("coordinator"), study)}
    assert labels["C0001"].source == "agreement" and labels["C0001"].decided_by is None
    assert labels["C0002"].source == "adjudicated"
    assert labels["C0002"].decided_by == "adjudicator"
    assert labels["C0002"].calls == calls(1, 0, 0, 1)


# --- model predictions and exports ----------------------------------------------------------
def test_exports_long_csv_and_imrmc_with_hand_computed_values(world):
    db, study, coordinator = world.db, world.study_id, world.token("coordinator")
    c1, c2 = world.case_ids[:2]
    # Reference: case 1 type I present, case 2 absent (both reference readers agree).
    for who in ("reference1", "reference2"):
        submit_reference_read(db, world.token(who), study, c1, calls(1, 0, 0, 0))
        submit_reference_read(db, world.token(who), study, c2, calls(0, 0, 0, 0))
    submit_read(db, world.token("reader"), study, c1, calls(1, 0, 0, 0), {"type1": 60}, 10.0)
    submit_read(db, world.token("reader"), study, c2, calls(0, 0, 0, 0), {"type1": 20}, 12.0)
    submit_read(db, world.token("reader2"), study, c1, calls(0, 0, 0, 0), None, 8.0)

    def predictor(series_dirs, target):
        assert set(series_dirs) == {"ct", "mr"}
        if series_dirs["ct"].parent.name == "C0004":
            raise StudyError("no target point")  # one refused case does not stop the run
        return {"type1": 0.25, "type2": 0.5, "type3": 0.125, "type4": 0.0625}, calls(0, 1, 0, 0)

    run = run_model(db, coordinator, study, predictor, "demo-1")
    assert run.predicted == len(world.case_ids) - 1
    assert run.failed == (("C0004", "no target point"),)

    rows = list(csv.DictReader(io.StringIO(long_csv(db, coordinator, study))))
    assert len(rows) == 3 * 4  # three reads x four types
    row = next(r for r in rows if r["case_id"] == "C0001" and r["type"] == "type1"
               and r["reader_id"] == "R002")
    assert float(row["confidence"]) == 60.0 and row["confidence_given"] == "1"
    assert row["reference"] == "1"
    assert row["reference_source"] == "agreement" and float(row["model_probability"]) == 0.25

    text = imrmc_input(db, coordinator, study, "type1")
    header, data = text.split("BEGIN DATA:\n")
    assert "N0: 1" in header and "N1: 1" in header and "NR: 2" in header and "NM: 1" in header
    lines = set(data.strip().splitlines())
    # The ids of reads.csv and labels.csv: "reader" is R002, "reader2" R003 (creation order
    # after the coordinator), cases by their study code.
    assert lines == {"-1,C0001,0,1", "-1,C0002,0,0",
                     "R002,C0001,1,60", "R002,C0002,1,20",
                     "R003,C0001,1,0"}  # "no" without a confidence scores 0
    with pytest.raises(StudyError, match="Unknown leakage type"):
        imrmc_input(db, coordinator, study, "type5")
    assert labels_csv(db, coordinator, study).splitlines()[:3] == [
        "case_id,type1,type2,type3,type4,source,decided_by",
        "C0001,1,0,0,0,agreement,", "C0002,0,0,0,0,agreement,"]
    predictions = predictions_csv(db, coordinator, study, "demo-1").splitlines()
    assert predictions[1] == "C0001,0.25,0.5,0.125,0.0625,0,1,0,0"


def test_exports_feed_the_evaluation_loader(world):
    """reads.csv / labels.csv / predictions.csv load in bcl_core.evaluation as they are."""
    import bcl_core.evaluation.loading as evaluation

    db, study, coordinator = world.db, world.study_id, world.token("coordinator")
    for who in ("reference1", "reference2"):
        for case_id in world.case_ids:
            submit_reference_read(db, world.token(who), study, case_id, calls(1, 0, 1, 0))
    for case_id in world.case_ids:
        submit_read(db, world.token("reader"), study, case_id, calls(1, 0, 0, 0), {"type1": 70},
                    3.0)
    run_model(db, coordinator, study, lambda dirs, target: (dict.fromkeys(calls(0, 0, 0, 0), 0.5),
                                                    calls(1, 1, 1, 1)), "m1")
    data = evaluation.assemble(io.StringIO(predictions_csv(db, coordinator, study, "m1")),
                               io.StringIO(labels_csv(db, coordinator, study)),
                               io.StringIO(long_csv(db, coordinator, study)))
    assert len(data.case_ids) == len(world.case_ids) and data.reader_ids == ("R002",)


def test_csv_export_neutralises_spreadsheet_formulas(make_db):
    world = build_world(make_db("sqlite"))
    case = next_case(world.db, world.token("reader"), world.study_id)
    submit_read(world.db, world.token("reader"), world.study_id, case.case_id,
                calls(0, 0, 0, 0), None, 1.0, "=HYPERLINK(\"http://x\")")
    exported = long_csv(world.db, world.token("coordinator"), world.study_id)
    assert "=HYPERLINK" not in exported.replace("'=HYPERLINK", "")
