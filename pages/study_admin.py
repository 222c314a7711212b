"""Study admin page (coordinator): studies, cases, accounts, assignments, reference standard,
model predictions, amendments and exports.

UI only; every rule lives in ``bcl_core.study``. Script page for
``st.Page("pages/study_admin.py")``. User-typed text is shown as data (tables, code), never as
HTML or markdown.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for `pages.components`

from bcl_core import SYNTHETIC_NOTICE  # noqa: E402
from bcl_core.errors import BCLError  # noqa: E402
from bcl_core.study import (  # noqa: E402
    adjudication_queue,
    allow_amendment,
    assign_reader,
    create_study,
    create_user,
    import_cases,
    import_predictions_csv,
    import_reference_labels,
    imrmc_input,
    labels_csv,
    list_cases,
    list_predictions,
    list_users,
    long_csv,
    predictions_csv,
    reader_reads,
    reference_labels,
    reset_password,
    run_model,
    study_progress,
)
from bcl_core.study.constants import LEAK_TYPES, Role  # noqa: E402
from bcl_core.study.db import describe_location  # noqa: E402
from bcl_core.study.predictions import pipeline_predictor  # noqa: E402
from pages.components import study_session as session  # noqa: E402
from pages.components.frame import require_frame  # noqa: E402


def _table(rows: Sequence[object]) -> None:
    if not rows:
        st.caption("Nothing yet.")
        return
    st.dataframe(pd.DataFrame([asdict(r) for r in rows]), hide_index=True)  # type: ignore[call-overload]


def _show_new_password() -> None:
    shown = st.session_state[session.NEW_PASSWORD_SHOWN]
    if shown:
        st.success(f"One-time password for {shown[0]} (shown once; hand it over in person):")
        st.code(shown[1], language=None)
        st.session_state[session.NEW_PASSWORD_SHOWN] = None


def _studies_tab() -> None:
    with st.form("create_study"):
        name = st.text_input("Study name", key="new_study_name")
        description = st.text_area("Description", key="new_study_description")
        if st.form_submit_button("Create study"):
            created = session.call(create_study, name, description)
            if created is not None:
                st.session_state[session.STUDY_ID] = created.study_id
                st.session_state[session.NOTICE] = "Study created."
                st.rerun()


def _users_tab() -> None:
    _show_new_password()
    with st.form("create_user"):
        username = st.text_input("Username", key="new_username")
        # No default: a coordinator account must never be created by leaving the form as is.
        role = st.selectbox("Role", [r.value for r in Role], key="new_user_role", index=None,
                            placeholder="Choose the role of this account",
                            format_func=lambda r: r.replace("_", " "))
        identity = st.text_input("Organisation e-mail (single sign-on; leave empty for a "
                                 "password account)", key="new_user_identity")
        if st.form_submit_button("Create account"):
            if role is None:
                st.error("Choose the account's role (reader, reference reader, adjudicator or "
                         "coordinator), then create it.")
                return
            created = session.call(create_user, username, role, identity.strip() or None)
            if created is not None and created.one_time_password:
                st.session_state[session.NEW_PASSWORD_SHOWN] = (created.username,
                                                                created.one_time_password)
                st.rerun()
            elif created is not None:
                st.session_state[session.NOTICE] = (f"{created.username} signs in with the "
                                                    "organisation login.")
                st.rerun()
    users = session.call(list_users) or []
    _table(users)
    if users:
        with st.form("reset_password"):
            who = st.selectbox("Account", [u.username for u in users], key="reset_who")
            if st.form_submit_button("New one-time password (unlocks the account)"):
                fresh = session.call(reset_password, who)
                if fresh is not None:
                    st.session_state[session.NEW_PASSWORD_SHOWN] = (fresh.username,
                                                                    fresh.one_time_password)
                    st.rerun()


def _cases_tab(study_id: int) -> None:
    st.caption("Cases are de-identified on import and copied under the study's data folder. "
               "Give the folder `bcl synth` wrote (DIR/<case>/ct, DIR/<case>/mr).")
    with st.form("import_cases"):
        folder = st.text_input("Case folder on this server", key="import_folder")
        if st.form_submit_button("Import cases") and folder:
            with st.spinner("De-identifying and importing..."):
                report = session.call(import_cases, study_id, folder)
            if report is not None:
                st.success(f"Imported {len(report.imported)} case(s); "
                           f"{report.skipped_duplicates} already present.")
                if report.set_aside:
                    st.info("Set aside, not stored (only CT and MR images are): "
                            f"{report.set_aside_summary()}.")
    _table(session.call(list_cases, study_id) or [])


def _assign_tab(study_id: int) -> None:
    users = session.call(list_users) or []
    readers = [u.username for u in users
               if u.role in (Role.READER, Role.REFERENCE_READER) and u.active]
    with st.form("assign"):
        chosen = st.multiselect("Readers to assign every case to", readers, key="assign_who")
        if st.form_submit_button("Assign (each gets its own random order)"):
            for username in chosen:
                session.call(assign_reader, study_id, username)
            st.session_state[session.NOTICE] = "Assigned."
            st.rerun()
    st.markdown("**Progress**")
    _table(session.call(study_progress, study_id) or [])


def _reference_tab(study_id: int) -> None:
    with st.form("import_labels"):
        path = st.text_input("Reference labels CSV on this server (case_id,type1..type4)",
                             key="labels_path")
        if st.form_submit_button("Import labels") and path:
            count = session.call(import_reference_labels, study_id, path)
            if count is not None:
                st.success(f"{count} label(s) set.")
    st.markdown("**Disagreements waiting for the adjudicator**")
    queue = session.call(adjudication_queue, study_id) or []
    if queue:
        st.dataframe(pd.DataFrame([{"case": d.code, "readers": ", ".join(r[0] for r in d.reads)}
                                   for d in queue]), hide_index=True)
    else:
        st.caption("None.")
    st.markdown("**Decided labels**")
    _table(session.call(reference_labels, study_id) or [])


def _run_shipped_model(study_id: int) -> None:
    try:
        predictor, version = pipeline_predictor()
    except BCLError as exc:
        st.error(str(exc))
        return
    with st.spinner(f"Running {version} on every case..."):
        run = session.call(run_model, study_id, predictor, version)
    if run is not None:
        st.success(f"{run.predicted} case(s) predicted with {version}.")
        if run.failed:
            st.dataframe(pd.DataFrame(run.failed, columns=["case", "reason"]), hide_index=True)


def _model_tab(study_id: int) -> None:
    st.caption("Predictions are never shown to prediction readers.")
    if st.button("Run the shipped model on every case", key="run_model"):
        _run_shipped_model(study_id)
    st.caption("Or run `bcl predict-batch DIR --out predictions.csv` on the source cases and "
               "import its output here (case ids are matched to the de-identified cases).")
    with st.form("import_predictions"):
        path = st.text_input("predictions.csv on this server", key="predictions_path")
        version = st.text_input("Model version", key="predictions_version")
        if st.form_submit_button("Import predictions") and path:
            count = session.call(import_predictions_csv, study_id, path, version)
            if count is not None:
                st.success(f"{count} prediction(s) stored.")
    _table(session.call(list_predictions, study_id) or [])


def _amend_tab(study_id: int) -> None:
    users = [u.username for u in session.call(list_users) or [] if u.role == Role.READER]
    if not users:
        st.caption("No reader accounts.")
        return
    who = st.selectbox("Reader", users, key="amend_reader")
    reads = session.call(reader_reads, study_id, who) or []
    _table(reads)
    if reads:
        with st.form("amend"):
            read = st.selectbox("Read", reads, key="amend_read",
                                format_func=lambda r: f"{r.case_code} (read {r.read_id})")
            reason = st.text_input("Reason (kept in the audit trail)", key="amend_reason")
            if st.form_submit_button("Allow an amendment"):
                if session.call(allow_amendment, read.read_id, reason) is not None:
                    st.session_state[session.NOTICE] = "Reopened for the reader."
                    st.rerun()


def _export_tab(study_id: int) -> None:
    reads = session.call(long_csv, study_id)
    if reads is not None:
        st.download_button("reads.csv (long format)", reads, "reads.csv", "text/csv",
                           key="download_reads")
    labels = session.call(labels_csv, study_id)
    if labels is not None:
        st.download_button("labels.csv (reference standard)", labels, "labels.csv", "text/csv",
                           key="download_labels")
    versions = sorted({p.model_version for p in session.call(list_predictions, study_id) or []})
    if versions:
        version = st.selectbox("Model version", versions, key="export_version")
        predictions = session.call(predictions_csv, study_id, version)
        if predictions is not None:
            st.download_button("predictions.csv", predictions, "predictions.csv", "text/csv",
                               key="download_predictions")
    leak_type = st.selectbox("iMRMC file for", LEAK_TYPES, key="imrmc_type")
    if st.button("Prepare iMRMC input", key="prepare_imrmc"):
        text = session.call(imrmc_input, study_id, leak_type)
        if text is not None:
            st.download_button(f"{leak_type}.imrmc", text, f"{leak_type}.imrmc", "text/plain",
                               key="download_imrmc")


def main() -> None:
    st.title("Study admin")
    st.caption(SYNTHETIC_NOTICE)
    if session.require_login((Role.COORDINATOR,)) is None:
        return
    st.caption(f"Study database: {describe_location(session.get_database())}")
    tabs = st.tabs(["Studies", "Accounts", "Cases", "Assignments", "Reference standard",
                    "Model", "Amendments", "Export"])
    with tabs[0]:
        _studies_tab()
    with tabs[1]:
        _users_tab()
    study = session.choose_study()
    if study is None:
        return
    for tab, show in zip(tabs[2:], (_cases_tab, _assign_tab, _reference_tab, _model_tab,
                                    _amend_tab, _export_tab), strict=True):
        with tab:
            show(study.study_id)


require_frame()  # before any output: a deep link opened first gets the frame
main()
