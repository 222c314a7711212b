"""Accounts that resist abuse (issue 16): back-off instead of a hard lock, login budgets, one
answer and one timing for every failed login, the password policy, and password changes.

Anchors: OWASP Authentication Cheat Sheet ("Login Throttling": an exponential lockout that
starts at about a second and doubles; "Authentication Responses": one generic message whether
the user is unknown, the password wrong, or the account locked or disabled) and NIST SP 800-63B
(no truncation, a maximum length, common passwords refused).
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import update
from test_study_support import PASSWORD, activate, build_world, database_factory

from bcl_core.errors import AuthenticationError, StudyError
from bcl_core.study import (
    StudyDatabase,
    change_password,
    create_user,
    list_studies,
    login,
    reset_password,
    set_active,
)
from bcl_core.study.auth import backoff
from bcl_core.study.constants import Role
from bcl_core.study.models import User, utcnow
from bcl_core.study.throttle import LoginBudget


@pytest.fixture
def make_db(tmp_path):
    yield from database_factory(tmp_path)


@pytest.fixture
def world(make_db):
    return build_world(make_db("sqlite"), n_cases=0)


class Clock:
    """A settable clock for the account pauses (which use ``auth.utcnow``)."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("bcl_core.study.auth.utcnow", fake)
    return fake


def _fails(db, username: str, password: str, client: str) -> str:
    with pytest.raises(AuthenticationError) as refused:
        login(db, username, password, client_key=client)
    return str(refused.value)


# --- back-off -------------------------------------------------------------------------------
def test_backoff_starts_at_one_second_doubles_and_is_capped():
    # Hand-written schedule: 3 free failures, then 1 s doubling per failure, capped at 300 s.
    expected_s = [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]
    assert [backoff(n).total_seconds() for n in range(16)] == expected_s
    assert backoff(10_000) == timedelta(minutes=5)  # no overflow for absurd counts


def test_a_stranger_cannot_keep_a_coordinator_out(world, clock):
    db = world.db
    for _ in range(4):  # three free failures, the fourth pauses the account for 1 s
        _fails(db, "coordinator", "guessed wrong!", "stranger")
    # During the pause even the right password is refused, with the same message...
    _fails(db, "coordinator", PASSWORD, "coordinator-desk")
    # ...and the stranger's attempts during the pause neither count nor stretch it.
    for _ in range(30):
        _fails(db, "coordinator", "guessed wrong!", "stranger")
    clock.advance(1.01)
    assert login(db, "coordinator", PASSWORD, client_key="coordinator-desk").username == \
        "coordinator"


def test_the_pause_never_exceeds_five_minutes(world, clock):
    db = world.db
    for n in range(1, 25):  # every failure lands just after the previous pause ended
        _fails(db, "coordinator", "guessed wrong!", f"stranger-{n}")
        clock.advance(backoff(n).total_seconds() + 0.01)
    clock.advance(-0.02)  # back inside the last pause: still refused
    _fails(db, "coordinator", PASSWORD, "coordinator-desk")
    clock.advance(0.02)  # 300 s after the last failure: the right password works
    assert login(db, "coordinator", PASSWORD, client_key="coordinator-desk").token


def test_no_hard_lock_after_ten_failures(world, clock):
    # Issue 16: ten wrong logins used to lock out a coordinator for 15 minutes.
    for _ in range(10):
        _fails(world.db, "coordinator", "guessed wrong!", "stranger")
        clock.advance(backoff(10).total_seconds())
    assert login(world.db, "coordinator", PASSWORD, client_key="desk").username == "coordinator"


# --- budgets --------------------------------------------------------------------------------
def test_a_client_over_its_budget_is_refused_while_others_log_in(world):
    db = world.db
    for n in range(20):  # unknown users: no account is paused by this
        _fails(db, f"nobody{n}", "guessed wrong!", "10.9.8.7")
    refused = _fails(db, "reader", PASSWORD, "10.9.8.7")  # even the right password
    assert refused == _fails(db, "nobody", "guessed wrong!", "somewhere-else")
    assert login(db, "reader", PASSWORD, client_key="10.1.1.1").username == "reader"


def test_client_budget_recovers_after_the_window():
    now = [0.0]
    budget = LoginBudget(client_budget=3, global_budget=100, window_s=60.0,
                         clock=lambda: now[0])
    for _ in range(3):
        assert budget.allows("a")
        budget.record_failure("a")
    assert not budget.allows("a") and budget.allows("b")
    now[0] = 60.5  # the failures have left the window
    assert budget.allows("a")


def test_global_budget_refuses_failing_clients_but_not_fresh_ones():
    now = [0.0]
    budget = LoginBudget(client_budget=3, global_budget=5, window_s=60.0, clock=lambda: now[0])
    for client in "abcde":  # five clients, one failure each: the global budget is spent
        budget.record_failure(client)
    assert not budget.allows("a")  # a client that failed is refused...
    assert budget.allows("fresh")  # ...a client without failures still gets in
    now[0] = 61.0
    assert budget.allows("a")


# --- one answer, one timing -----------------------------------------------------------------
def test_every_failed_login_gets_the_same_message(world, clock):
    db, coordinator = world.db, world.token("coordinator")
    set_active(db, coordinator, "reader2", False)
    for _ in range(4):
        _fails(db, "reference2", "guessed wrong!", "elsewhere")  # now paused
    messages = {
        "unknown user": _fails(db, "nobody", PASSWORD, "c1"),
        "wrong password": _fails(db, "reader", "guessed wrong!", "c2"),
        "disabled": _fails(db, "reader2", PASSWORD, "c3"),
        "paused": _fails(db, "reference2", PASSWORD, "c4"),
    }
    assert len(set(messages.values())) == 1, messages
    for n in range(20):
        _fails(db, f"nobody{n}", "x" * 12, "spent")
    assert _fails(db, "reader", PASSWORD, "spent") == messages["unknown user"]


def test_every_failed_login_takes_comparable_time(tmp_path):
    # A hasher slow enough (tens of ms) that the hash, not the database, sets the time.
    hasher = PasswordHasher(time_cost=2, memory_cost=16 * 1024, parallelism=1)
    db = StudyDatabase(url=f"sqlite:///{tmp_path / 'timing.sqlite'}", data_dir=tmp_path,
                       password_hasher=hasher)
    db.upgrade()
    try:
        world = build_world(db, n_cases=0)
        set_active(db, world.token("coordinator"), "reader2", False)
        paused_until = utcnow() + timedelta(hours=1)
        db.run(lambda s: s.execute(update(User).where(User.username == "reference2")
                                   .values(locked_until=paused_until)), write=True)

        def reset_reader(session) -> None:
            session.execute(update(User).where(User.username == "reader")
                            .values(failed_logins=0, locked_until=None))

        kinds = {"unknown user": ("nobody", PASSWORD), "wrong password": ("reader", "wrong!x" * 2),
                 "disabled": ("reader2", PASSWORD), "paused": ("reference2", PASSWORD)}
        timings: dict[str, list[float]] = {kind: [] for kind in kinds}
        _fails(db, "nobody", PASSWORD, "warm-up")  # the dummy hash is made once
        for attempt in range(7):
            for kind, (username, password) in kinds.items():
                start = time.perf_counter()
                _fails(db, username, password, f"{kind}-{attempt}")
                timings[kind].append(time.perf_counter() - start)
                db.run(reset_reader, write=True)
        medians = {kind: statistics.median(times) for kind, times in timings.items()}
        reference = medians["wrong password"]
        for median in medians.values():
            assert 0.5 * reference <= median <= 2.0 * reference, medians
    finally:
        db.dispose()


# --- password policy ------------------------------------------------------------------------
@pytest.mark.parametrize("weak", [" " * 10, "1234567890", "password12", "qwertyuiop",
                                  "aaaaaaaaaaaa", "coordinator1"],
                         ids=["ten-spaces", "digits", "password12", "keyboard", "repeat",
                              "username"])
def test_common_and_trivial_passwords_are_refused(world, weak):
    first = login(world.db, "coordinator", PASSWORD, client_key="desk")
    with pytest.raises(StudyError, match="too easy to guess"):
        change_password(world.db, first.token, PASSWORD, weak)


@pytest.mark.parametrize(("length", "message"), [(9, "at least 10"), (1025, "at most 1024")])
def test_password_length_limits(world, length, message):
    first = login(world.db, "coordinator", PASSWORD, client_key="desk")
    candidate = ("horse battery staple piano " * 50)[:length]
    with pytest.raises(StudyError, match=message):
        change_password(world.db, first.token, PASSWORD, candidate)


def test_a_huge_password_is_refused_quickly_at_login_and_change(world):
    huge = "x" * (50 * 1024 * 1024)
    start = time.perf_counter()
    with pytest.raises(AuthenticationError, match="at most 1024"):
        login(world.db, "coordinator", huge, client_key="desk")
    first = login(world.db, "coordinator", PASSWORD, client_key="desk")
    with pytest.raises(StudyError, match="at most 1024"):
        change_password(world.db, first.token, PASSWORD, huge)
    assert time.perf_counter() - start < 5.0


def test_a_strong_password_of_the_longest_length_is_kept_untrimmed(world):
    first = login(world.db, "coordinator", PASSWORD, client_key="desk")
    chosen = (" violet anchor umbrella quartz " * 40)[:1024]
    assert chosen[0] == " " and len(chosen) == 1024
    change_password(world.db, first.token, PASSWORD, chosen)
    assert login(world.db, "coordinator", chosen, client_key="desk").username == "coordinator"
    _fails(world.db, "coordinator", chosen.strip(), "desk")  # nothing was trimmed


# --- changing a password --------------------------------------------------------------------
def test_wrong_current_passwords_are_counted_like_failed_logins(world, clock):
    db = world.db
    token = login(db, "reader", PASSWORD, client_key="desk").token
    for _ in range(4):
        with pytest.raises(AuthenticationError, match="current password is wrong"):
            change_password(db, token, "not my password", "violet anchor umbrella")
    with pytest.raises(AuthenticationError, match="wait"):  # paused: even the right one
        change_password(db, token, PASSWORD, "violet anchor umbrella")
    _fails(db, "reader", PASSWORD, "desk")  # the pause holds for logins too
    clock.advance(1.01)
    change_password(db, token, PASSWORD, "violet anchor umbrella")
    assert login(db, "reader", "violet anchor umbrella", client_key="desk").username == "reader"


def test_changing_the_password_ends_the_other_sessions(world):
    db = world.db
    laptop = login(db, "reader", PASSWORD, client_key="laptop").token
    ward_pc = login(db, "reader", PASSWORD, client_key="ward").token
    change_password(db, laptop, PASSWORD, "violet anchor umbrella")
    assert list_studies(db, laptop) == []  # this session goes on
    with pytest.raises(AuthenticationError):
        list_studies(db, ward_pc)


def test_one_time_password_flow_still_works_with_the_policy(world):
    created = create_user(world.db, world.token("coordinator"), "newbie", Role.READER)
    assert activate(world.db, "newbie", created.one_time_password)
    fresh = reset_password(world.db, world.token("coordinator"), "newbie")
    first = login(world.db, "newbie", fresh.one_time_password, client_key="desk")
    with pytest.raises(StudyError, match="too easy to guess"):
        change_password(world.db, first.token, fresh.one_time_password, "newbie12345")


def test_a_password_pause_does_not_shut_out_the_organisation_login(world, clock):
    from bcl_core.study import login_external

    create_user(world.db, world.token("coordinator"), "sso.ann", Role.READER,
                "ann@hospital.example")
    for _ in range(6):  # a stranger guessing passwords pauses the account...
        _fails(world.db, "sso.ann", "guessed wrong!", "stranger")
    # ...but the organisation login does not use the password: the provider vouched for Ann.
    assert login_external(world.db, "ann@hospital.example").username == "sso.ann"
    set_active(world.db, world.token("coordinator"), "sso.ann", False)
    with pytest.raises(AuthenticationError, match="No active study account"):
        login_external(world.db, "ann@hospital.example")
