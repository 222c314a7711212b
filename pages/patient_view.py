"""Patient view: plain words, the four leakage places, the risk as icon arrays, a handout.

UI only; the words and pictures come from ``bcl_core.clinic.patient_view``. It shows the current
session's consult result (run a prediction on the Consult page first).
Script page for ``st.Page("pages/patient_view.py")``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for `pages.components`

from bcl_core import SYNTHETIC_NOTICE  # noqa: E402
from bcl_core.clinic.patient_view import (  # noqa: E402
    ESTIMATE_NOTE,
    EXPLANATIONS,
    TYPE_COLOURS,
    WHAT_IS_LEAKAGE,
    WHAT_THE_SURGEON_CAN_DO,
    frequency_words,
    handout_pdf,
    icon_array,
    leakage_diagram,
)
from bcl_core.leakage import LEAKAGE_TYPES  # noqa: E402
from pages.components import consult_state as keys  # noqa: E402
from pages.components.frame import require_frame  # noqa: E402


def render() -> None:
    """The patient view."""
    keys.init_state()
    st.title("Cement leakage: what it means for you")
    st.warning(SYNTHETIC_NOTICE)
    st.subheader("What is cement leakage?")
    st.write(WHAT_IS_LEAKAGE)
    st.image(leakage_diagram(900), caption="The four places cement can go.", width=640)
    result = keys.consult().result
    if result is None:
        st.info("No estimate yet for this patient: run a prediction on the Consult page first.")
        return
    st.subheader("Your estimated risk")
    st.caption(ESTIMATE_NOTE)
    columns = st.columns(2)
    for index, name in enumerate(LEAKAGE_TYPES):
        probability = float(result.probabilities[name])
        explanation = EXPLANATIONS[name]
        with columns[index % 2]:
            st.markdown(f"**{explanation.title}**")
            st.markdown(f"### {frequency_words(probability)} patients like you")
            st.image(icon_array(probability, TYPE_COLOURS[name]), width=220)
            st.write(f"{explanation.where} {explanation.why_it_matters}")
    st.subheader("What your surgeon can do")
    st.write(WHAT_THE_SURGEON_CAN_DO)
    label = st.session_state[keys.PATIENT_LABEL]
    token = (id(result), label)
    cached = st.session_state[keys.REPORTS].get("handout")
    if not cached or cached[0] != token:
        cached = (token, handout_pdf(result.probabilities, label))
        st.session_state[keys.REPORTS]["handout"] = cached
    handout = cached[1]
    st.download_button("Printable handout (PDF)", handout, file_name="bcl_patient_handout.pdf",
                       mime="application/pdf", key="patient_handout", on_click="ignore")


require_frame()  # before any output: a deep link opened first gets the frame
render()
