"""Session-state keys of the consult and patient-view pages, initialised in one place.

Per-patient data (the loaded case, marks, result, report bytes) lives only in
``st.session_state`` under these keys: never in a global cache, a log or a file. The decoded
volumes live only in the :class:`~bcl_core.clinic.consult.ConsultCase` under :data:`CONSULT`, one per
modality: a new load releases them before decoding (``load_case(..., replacing=...)``).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from bcl_core.clinic.consult import ConsultCase

CONSULT = "consult_case"  # ConsultCase of this session
SOURCE = "consult_source"  # what the case was loaded from (uploads or the demo folder)
LOAD_ERROR = "consult_load_error"  # message of the last failed load, shown until the next one
PATIENT_LABEL = "consult_patient_label"  # optional text the user types for the report
HEAT_HEAD = "consult_heat_head"  # which type's heat map the viewers show
REPORTS = "consult_reports"  # {kind: (token, bytes)} reports built for the current result
PENDING_SLICES = "consult_pending_slices"  # {role: {plane: mm}}: move a viewer on its next draw

_DEFAULTS: dict[str, Any] = {
    SOURCE: None,
    LOAD_ERROR: None,
    PATIENT_LABEL: "",
    HEAT_HEAD: "none",
}


def init_state() -> None:
    """Create every key with its default (idempotent; call at the top of each page)."""
    if CONSULT not in st.session_state:
        st.session_state[CONSULT] = ConsultCase()
    for key in (REPORTS, PENDING_SLICES):
        if key not in st.session_state:
            st.session_state[key] = {}
    for key, value in _DEFAULTS.items():
        st.session_state.setdefault(key, value)


def consult() -> ConsultCase:
    """This session's consult."""
    init_state()
    return st.session_state[CONSULT]
