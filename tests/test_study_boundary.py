"""The study service boundary: bad text, ids, datetimes and types get a StudyError, never a crash.

Every public service function is tried with each kind of bad argument its signature takes
(issue 16: a lone surrogate in a comment, a non-integer id and a naive datetime raised unhandled
errors; a 1970 ``started_at`` with 0 s spent was accepted).
"""

from __future__ import annotations

import inspect
import typing
from datetime import UTC, datetime, timedelta, timezone

import pytest
from test_study_support import ACCOUNT_OF_ROLE, build_world, calls, database_factory

from bcl_core.errors import AuthenticationError, StudyError
from bcl_core.study import (
    SERVICE_REGISTRY,
    allow_amendment,
    create_study,
    create_user,
    import_cases,
    list_cases,
    list_studies,
    login,
    logout,
    next_case,
    set_active,
    submit_read,
    submit_reference_read,
)
from bcl_core.study.constants import Role
from bcl_core.study.models import Read

LONE_SURROGATE = "\ud800"
SPECS = sorted(SERVICE_REGISTRY.values(), key=lambda spec: spec.name)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    factory = database_factory(tmp_path_factory.mktemp("boundary"))
    make = next(factory)
    yield build_world(make("sqlite"))
    for _ in factory:
        pass


def _token(world, spec) -> str:
    role = next(r for r in Role if r in spec.roles)
    return world.token(ACCOUNT_OF_ROLE[role])


def _parameters(spec, wanted) -> list[str]:
    hints = typing.get_type_hints(spec.function.__wrapped__)
    names = list(inspect.signature(spec.function.__wrapped__).parameters)[1:]
    return [n for n in names if n in hints and wanted(n, hints[n])]


def _takes_text(annotation) -> bool:
    return annotation is str or str in typing.get_args(annotation)


def _cases(wanted) -> list:
    return [pytest.param(spec, name, id=f"{spec.name.rsplit('.', 1)[-1]}.{name}")
            for spec in SPECS for name in _parameters(spec, wanted)]


ID_CASES = _cases(lambda name, annotation: name.endswith("_id"))
TEXT_CASES = _cases(lambda name, annotation: _takes_text(annotation))


def test_the_boundary_tests_cover_the_services_that_take_ids_and_text():
    names = {p.id.split(".")[0] for p in ID_CASES + TEXT_CASES}
    assert {"import_cases", "list_cases", "submit_read", "allow_amendment", "create_study",
            "create_user", "reader_reads", "adjudicate", "import_predictions_csv"} <= names


@pytest.mark.parametrize("bad", ["1", 1.0, 1.5, True, None, 0, -3, 2**70],
                         ids=["text", "float", "fraction", "bool", "none", "zero", "negative",
                              "huge"])
@pytest.mark.parametrize(("spec", "name"), ID_CASES)
def test_every_id_parameter_refuses_what_is_not_an_id(world, spec, name, bad):
    with pytest.raises(StudyError, match=name.replace("_", " ")):
        spec.function(world.db, _token(world, spec), **{name: bad})


@pytest.mark.parametrize("bad", [LONE_SURROGATE, f"ok {LONE_SURROGATE} ok", 42],
                         ids=["surrogate", "surrogate-inside", "not-text"])
@pytest.mark.parametrize(("spec", "name"), TEXT_CASES)
def test_every_text_parameter_refuses_broken_characters_and_non_text(world, spec, name, bad):
    with pytest.raises(StudyError):
        spec.function(world.db, _token(world, spec), **{name: bad})


def test_a_lone_surrogate_in_a_comment_is_refused_and_nothing_is_stored(world):
    case_id = world.case_ids[0]
    with pytest.raises(StudyError, match="comment holds a broken character"):
        submit_read(world.db, world.token("reader"), world.study_id, case_id, calls(0, 0, 0, 0),
                    None, 5.0, f"looks fine {LONE_SURROGATE}")
    with pytest.raises(StudyError, match="broken character"):
        submit_reference_read(world.db, world.token("reference1"), world.study_id, case_id,
                              calls(0, 0, 0, 0), LONE_SURROGATE)
    with pytest.raises(StudyError, match="broken character"):
        create_study(world.db, world.token("coordinator"), LONE_SURROGATE)
    with world.db.read_session() as session:
        assert session.query(Read).count() == 0


@pytest.mark.parametrize("study_id", ["1", 1.5, "1; DROP TABLE study"])
def test_non_integer_ids_are_refused_in_case_import_and_listing(world, study_id, tmp_path):
    coordinator = world.token("coordinator")
    with pytest.raises(StudyError, match="study id must be a whole number"):
        list_cases(world.db, coordinator, study_id)
    with pytest.raises(StudyError, match="study id must be a whole number"):
        import_cases(world.db, coordinator, study_id, tmp_path)


def test_ids_beyond_the_database_range_are_refused(world):
    with pytest.raises(StudyError, match="study id must be between 1 and"):
        next_case(world.db, world.token("reader"), 2**64)
    with pytest.raises(StudyError, match="read id"):
        allow_amendment(world.db, world.token("coordinator"), 2**63, "a reason")


def _submit(world, started_at, spent_s: float, case: int = 1):
    return submit_read(world.db, world.token("reader2"), world.study_id, world.case_ids[case],
                       calls(0, 0, 0, 0), None, spent_s, "", started_at)


def test_a_naive_start_time_is_refused(world):
    with pytest.raises(StudyError, match="no timezone"):
        _submit(world, datetime.now(), 5.0)  # noqa: DTZ005 - the naive datetime under test


@pytest.mark.parametrize(("started_at", "spent_s", "message"), [
    (datetime(1970, 1, 1, tzinfo=UTC), 0.0, "more than 24 h before"),
    (datetime.now(UTC) - timedelta(days=2), 30.0, "more than 24 h before"),
    (datetime.now(UTC) + timedelta(hours=1), 0.0, "in the future"),
    (datetime.now(UTC) - timedelta(seconds=10), 3600.0, "longer than the time since"),
], ids=["1970-zero-seconds", "two-days-ago", "future", "spent-more-than-elapsed"])
def test_impossible_start_times_are_refused(world, started_at, spent_s, message):
    with pytest.raises(StudyError, match=message):
        _submit(world, started_at, spent_s)


def test_a_plausible_start_time_in_another_timezone_is_stored_in_utc(world):
    opened = datetime.now(timezone(timedelta(hours=2))) - timedelta(minutes=3)
    answer = _submit(world, opened, 170.0, case=2)
    with world.db.read_session() as session:
        read = session.get(Read, answer.read_id)
        assert read.started_at == opened.astimezone(UTC).replace(microsecond=read.started_at
                                                                  .microsecond)
        assert read.time_spent_s == 170.0


def test_a_string_for_a_yes_no_flag_is_refused(world):
    # bool("no") is True: without the check this would re-enable an account.
    with pytest.raises(StudyError, match="yes or no"):
        set_active(world.db, world.token("coordinator"), "reader2", "no")


def test_answers_that_are_not_a_mapping_are_refused(world):
    with pytest.raises(StudyError, match="calls must be a mapping"):
        submit_read(world.db, world.token("reader"), world.study_id, world.case_ids[0], 1)


def test_a_broken_username_gets_the_username_rule(world):
    with pytest.raises(StudyError, match="username"):
        create_user(world.db, world.token("coordinator"), f"ann{LONE_SURROGATE}", Role.READER)


def test_login_and_tokens_with_broken_characters_fail_cleanly(world):
    with pytest.raises(AuthenticationError, match="Wrong username or password"):
        login(world.db, f"reader{LONE_SURROGATE}", "whatever it is", client_key="boundary")
    with pytest.raises(AuthenticationError, match="Wrong username or password"):
        login(world.db, "nobody-here", f"pass{LONE_SURROGATE}word", client_key="boundary")
    with pytest.raises(AuthenticationError):
        list_studies(world.db, LONE_SURROGATE)
    with pytest.raises(AuthenticationError):
        list_studies(world.db, None)
    logout(world.db, LONE_SURROGATE)  # nothing to end, no error
    logout(world.db, None)


def test_a_study_seed_must_fit_a_database_integer(world):
    coordinator = world.token("coordinator")
    with pytest.raises(StudyError, match="order seed must be between -2147483648 and 2147483647"):
        create_study(world.db, coordinator, "Seed too large", "", 2**40)
    with pytest.raises(StudyError, match="order seed must be a whole number"):
        create_study(world.db, coordinator, "Seed as text", "", "7")
    assert create_study(world.db, coordinator, "Negative seed", "", -5).name == "Negative seed"
