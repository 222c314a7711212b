"""Login state shared by the reader-study pages: session-state keys, the database, login UI.

UI only; authentication and roles live in :mod:`bcl_core.study`. The database engine is the
one object cached across users (``st.cache_resource``); tokens and images stay per session.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import streamlit as st

from bcl_core.errors import AuthenticationError, BCLError
from bcl_core.study import (
    StudyDatabase,
    change_password,
    list_studies,
    login,
    login_external,
    logout,
)
from bcl_core.study.constants import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, Role
from bcl_core.study.db import resolve_location
from bcl_core.study.views import StudyInfo

T = TypeVar("T")

# --- session-state keys (all initialised in init_state) -------------------------------------
TOKEN = "study_token"
USERNAME = "study_username"
ROLE = "study_role"
MUST_CHANGE_PASSWORD = "study_must_change_password"
STUDY_ID = "study_study_id"
CASE_OPENED = "study_case_opened"  # (case_id, UTC datetime the case was first shown)
VOLUMES = "study_volumes"  # (case_id, {series: Volume}) of the case on screen only
NOTICE = "study_notice"  # one-shot message shown after a rerun
NEW_PASSWORD_SHOWN = "study_new_password"  # a one-time password to show the coordinator once

_DEFAULTS: dict[str, object] = {
    TOKEN: None, USERNAME: None, ROLE: None, MUST_CHANGE_PASSWORD: False, STUDY_ID: None,
    CASE_OPENED: None, VOLUMES: None, NOTICE: None, NEW_PASSWORD_SHOWN: None,
}


def init_state() -> None:
    """Give every session-state key of the study pages its initial value (once per session)."""
    for key, value in _DEFAULTS.items():
        st.session_state.setdefault(key, value)


def clear_login() -> None:
    """Forget the login and everything of the case on screen."""
    for key, value in _DEFAULTS.items():
        st.session_state[key] = value


@st.cache_resource(show_spinner=False)
def _database(url: str | None, data_dir: str) -> StudyDatabase:
    database = StudyDatabase(url=url, data_dir=Path(data_dir).resolve())
    database.upgrade()
    return database


def get_database() -> StudyDatabase:
    """The study database named by ``BCL_DATABASE_URL`` / ``BCL_STUDY_DIR`` (shared engine)."""
    url, data_dir = resolve_location()
    return _database(url, str(data_dir))


def call(function: Callable[..., T], *args: object, **kwargs: object) -> T | None:
    """Run a service function with the session token; show its error instead of raising.

    An expired or revoked session logs the user out.
    """
    try:
        return function(get_database(), st.session_state[TOKEN], *args, **kwargs)
    except AuthenticationError as exc:
        clear_login()
        st.session_state[NOTICE] = str(exc)
        st.rerun()
    except BCLError as exc:
        st.error(str(exc))
    return None


def sso_configured() -> bool:
    """Whether an OIDC provider is configured for ``st.login`` (``[auth]`` in secrets)."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all: no single sign-on
        return False


def _sso_login() -> bool:
    """Offer the organisation login; once the provider vouches for the user, open a session."""
    if not sso_configured():
        return False
    if not st.user.get("is_logged_in", False):
        st.button("Log in with your organisation account", key="study_sso", on_click=st.login)
        return False
    try:
        result = login_external(get_database(), str(st.user.get("email") or ""))
    except BCLError as exc:
        st.error(str(exc))
        return False
    st.session_state.update({TOKEN: result.token, USERNAME: result.username,
                             ROLE: result.role.value, MUST_CHANGE_PASSWORD: False})
    return True


def client_key() -> str:
    """This browser's client for the failed-login budget: its remote address (``local`` when
    the app is opened on this computer). Kept in server memory only."""
    try:
        address = st.context.ip_address
    except Exception:  # noqa: BLE001 - no request context (e.g. a bare script run)
        address = None
    return address if isinstance(address, str) and address else "local"


def _login_form() -> None:
    if _sso_login():
        st.rerun()
    with st.form("study_login"):
        username = st.text_input("Username", key="study_login_username")
        password = st.text_input("Password", type="password", key="study_login_password",
                                 max_chars=MAX_PASSWORD_LENGTH)
        submitted = st.form_submit_button("Log in")
    if submitted:
        try:
            result = login(get_database(), username, password, client_key=client_key())
        except BCLError as exc:
            st.error(str(exc))
            return
        st.session_state.update({TOKEN: result.token, USERNAME: result.username,
                                 ROLE: result.role.value,
                                 MUST_CHANGE_PASSWORD: result.must_change_password})
        st.rerun()


def _change_password_form() -> None:
    st.info("Welcome. Replace your one-time password with one of your own: "
            f"{MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters, not a common or easily "
            "guessed one (a few unrelated words work well). Changing it ends your other "
            "sessions.")
    with st.form("study_new_password"):
        old = st.text_input("One-time password", type="password", key="study_old_password",
                            max_chars=MAX_PASSWORD_LENGTH)
        new = st.text_input("New password", type="password", key="study_new_password_1",
                            max_chars=MAX_PASSWORD_LENGTH)
        again = st.text_input("New password again", type="password",
                              key="study_new_password_2", max_chars=MAX_PASSWORD_LENGTH)
        submitted = st.form_submit_button("Set password")
    if submitted:
        if new != again:
            st.error("The two new passwords differ.")
            return
        try:
            change_password(get_database(), st.session_state[TOKEN], old, new)
        except BCLError as exc:
            st.error(str(exc))
            return
        st.session_state[MUST_CHANGE_PASSWORD] = False
        st.session_state[NOTICE] = "Password set."
        st.rerun()


def require_login(allowed: tuple[Role, ...]) -> Role | None:
    """Show login (and first password change) until the user may use this page; their role."""
    init_state()
    if st.session_state[NOTICE]:
        st.info(st.session_state[NOTICE])
        st.session_state[NOTICE] = None
    if st.session_state[TOKEN] is None:
        _login_form()
        return None
    if st.session_state[MUST_CHANGE_PASSWORD]:
        _change_password_form()
        return None
    role = Role(st.session_state[ROLE])
    with st.sidebar:
        st.caption(f"Signed in as {st.session_state[USERNAME]} ({role.value.replace('_', ' ')})")
        if st.button("Log out", key="study_logout"):
            logout(get_database(), st.session_state[TOKEN])
            clear_login()
            if sso_configured() and st.user.get("is_logged_in", False):
                st.logout()
            st.rerun()
    if role not in allowed:
        st.warning("This page is not for your role; use the "
                   + ("Study admin" if role is Role.COORDINATOR else "Reader study") + " page.")
        return None
    return role


def choose_study() -> StudyInfo | None:
    """Pick the study to work on (automatic when there is one)."""
    studies = call(list_studies) or []
    if not studies:
        st.info("You take part in no study yet; the study coordinator will assign you cases.")
        return None
    ids = [s.study_id for s in studies]
    current = st.session_state[STUDY_ID]
    chosen = studies[0]
    if len(studies) > 1:
        chosen = st.selectbox("Study", studies, format_func=lambda s: s.name,
                              index=ids.index(current) if current in ids else 0,
                              key="study_choice")
    st.session_state[STUDY_ID] = chosen.study_id
    return chosen
