"""Security of the reader study: roles in every service function, inert text, blinding, de-id."""

from __future__ import annotations

import importlib
import inspect

import pytest
from sqlalchemy import func, select
from test_study_support import (
    ACCOUNT_OF_ROLE,
    BACKENDS,
    build_world,
    calls,
    database_factory,
)

from bcl_core.errors import AuthenticationError, PermissionDeniedError, StudyError
from bcl_core.study import (
    PUBLIC_FUNCTIONS,
    SERVICE_REGISTRY,
    adjudicate,
    allow_amendment,
    create_study,
    create_user,
    list_studies,
    my_progress,
    my_reads,
    next_case,
    reader_reads,
    reference_labels,
    run_model,
    submit_read,
    submit_reference_read,
)
from bcl_core.study.constants import Role
from bcl_core.study.models import Read, ReadAmendment, ReferenceLabel, Study, User


@pytest.fixture
def make_db(tmp_path):
    yield from database_factory(tmp_path)



SERVICE_MODULES = ("accounts", "studies", "cases", "reading", "reference", "predictions",
                   "export")
SPECS = sorted(SERVICE_REGISTRY.values(), key=lambda spec: spec.name)


@pytest.fixture(scope="module", params=BACKENDS)
def shared_world(request, tmp_path_factory):
    """One world per backend for the role matrix (refused calls change nothing)."""
    factory = database_factory(tmp_path_factory.mktemp("roles"))
    make = next(factory)
    yield build_world(make(request.param))
    for _ in factory:
        pass


def test_every_public_service_function_is_role_checked():
    exported = set()
    for name in SERVICE_MODULES:
        module = importlib.import_module(f"bcl_core.study.{name}")
        for function_name in module.__all__:
            exported.add(f"bcl_core.study.{name}.{function_name}")
    assert exported == set(SERVICE_REGISTRY), "every exported service must use @service"
    assert len(SPECS) >= 25
    # The package exports nothing callable with a token that bypasses the registry.
    import bcl_core.study as study

    registered = {spec.function for spec in SPECS}
    for name in study.__all__:
        value = getattr(study, name)
        if inspect.isfunction(value) and "token" in inspect.signature(value).parameters:
            assert value in registered or name in PUBLIC_FUNCTIONS, name


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name.rsplit(".", 1)[-1])
def test_wrong_role_is_refused_by_every_service_function(shared_world, spec, role):
    token = shared_world.token(ACCOUNT_OF_ROLE[role])
    if role in spec.roles:
        # Allowed: the role check passes; the body then runs or asks for its arguments.
        try:
            spec.function(shared_world.db, token)
        except TypeError as exc:
            assert "argument" in str(exc)
    else:
        with pytest.raises(PermissionDeniedError, match="may not"):
            spec.function(shared_world.db, token)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name.rsplit(".", 1)[-1])
@pytest.mark.parametrize("token", ["", "forged-token", "' OR '1'='1"])
def test_no_service_function_runs_without_a_valid_session(shared_world, spec, token):
    with pytest.raises(AuthenticationError):
        spec.function(shared_world.db, token)


def test_only_reading_functions_are_open_to_prediction_readers():
    reader_functions = {s.name.rsplit(".", 1)[-1] for s in SPECS if Role.READER in s.roles}
    # A new function open to readers must be reviewed for blinding (and added here).
    assert reader_functions == {"list_studies", "next_case", "my_progress", "submit_read",
                                "my_reads"}


def test_a_prediction_reader_never_sees_model_outputs_labels_or_other_reads(make_db):
    world = build_world(make_db("sqlite"))
    db, study, coordinator = world.db, world.study_id, world.token("coordinator")
    secret_probability = 0.7312946
    probabilities = dict.fromkeys(calls(0, 0, 0, 0), secret_probability)
    run_model(db, coordinator, study, lambda dirs, target: (probabilities, calls(1, 1, 1, 1)),
              "secret-model-v9")
    for case_id in world.case_ids:
        submit_read(db, world.token("reader2"), study, case_id, calls(1, 1, 1, 1),
                    {"type1": 37}, 1.0, "OTHER-READER-SECRET")
        submit_reference_read(db, world.token("reference1"), study, case_id, calls(1, 0, 0, 0),
                              "REFERENCE-SECRET")
        submit_reference_read(db, world.token("reference2"), study, case_id, calls(0, 0, 0, 1))
        adjudicate(db, world.token("adjudicator"), study, case_id, calls(1, 0, 0, 1),
                   "ADJUDICATION-SECRET")
    token = world.token("reader")
    seen = [list_studies(db, token), my_progress(db, token, study), my_reads(db, token, study)]
    while (case := next_case(db, token, study)) is not None:
        seen.append(case)
        seen.append(submit_read(db, token, study, case.case_id, calls(0, 0, 0, 0), None, 2.0))
    seen.append(my_reads(db, token, study))
    text = repr(seen)
    for secret in ("7312946", "secret-model", "OTHER-READER", "REFERENCE-SECRET",
                   "ADJUDICATION-SECRET", "adjudicated", "reference2", "reader2"):
        assert secret not in text
    assert "postop" not in text
    assert len(my_reads(db, token, study)) == len(world.case_ids)  # only its own reads


INJECTIONS = [
    "Robert'); DROP TABLE read;--",
    "' OR '1'='1' --",
    "\"; DELETE FROM study_user WHERE ''='",
    "<script>alert('xss')</script>",
    "<img src=x onerror=alert(1)>",
    "{{7*7}} ${7*7} %s %(x)s \\x00",
    "nul\x00byte \u202e reversed",
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_injection_strings_in_every_text_field_are_stored_inertly(make_db, backend):
    world = build_world(make_db(backend), n_cases=len(INJECTIONS))
    db, coordinator, study = world.db, world.token("coordinator"), world.study_id
    for n, payload in enumerate(INJECTIONS):
        stored = payload.replace("\x00", "").strip()  # NUL is dropped (PostgreSQL refuses it)
        created = create_study(db, coordinator, f"name {payload}", f"description {payload}")
        assert created.name == f"name {stored}"
        names = {s.name: s.description for s in list_studies(db, coordinator)}
        assert names[f"name {stored}"] == f"description {stored}"
        case_id = world.case_ids[n]
        read = submit_read(db, world.token("reader"), study, case_id, calls(0, 1, 0, 0), None,
                           1.0, payload)
        assert read.comment == stored
        allow_amendment(db, coordinator, read.read_id, f"reason {payload}")
        submit_read(db, world.token("reader"), study, case_id, calls(0, 1, 0, 0), None, 1.0,
                    payload)
        comments = {r.case_code: r.comment for r in reader_reads(db, coordinator, study, "reader")}
        assert comments[f"C{n + 1:04d}"] == stored
        submit_reference_read(db, world.token("reference1"), study, case_id, calls(1, 0, 0, 0),
                              payload)
        submit_reference_read(db, world.token("reference2"), study, case_id, calls(0, 0, 0, 0),
                              payload)
        label = adjudicate(db, world.token("adjudicator"), study, case_id, calls(1, 0, 0, 0),
                           payload)
        assert label.note == stored
        run_model(db, coordinator, study,
                  lambda dirs, target: (dict.fromkeys(calls(0, 0, 0, 0), 0.5), calls(0, 0, 0, 0)),
                  f"model {payload}")
        with pytest.raises(StudyError, match="username"):
            create_user(db, coordinator, payload, Role.READER)  # usernames are whitelisted
    with db.read_session() as session:  # every table is intact
        assert session.scalar(select(func.count(User.id))) == 6
        assert session.scalar(select(func.count(Study.id))) == 1 + len(INJECTIONS)
        assert session.scalar(select(func.count(Read.id))) == len(INJECTIONS)
        assert session.scalar(select(func.count(ReferenceLabel.id))) == len(INJECTIONS)
        reasons = set(session.scalars(select(ReadAmendment.reason)))
    assert reasons == {f"reason {p.replace(chr(0), '')}".strip() for p in INJECTIONS}
    notes = {lab.case_code: lab.note for lab in reference_labels(db, coordinator, study)}
    assert notes == {f"C{n + 1:04d}": p.replace("\x00", "").strip()
                     for n, p in enumerate(INJECTIONS)}
