"""BCL Predict: the Streamlit frame (page config, navigation, shared sidebar).

Pages hold UI only; every decision and computation lives in ``bcl_core``. The app never imports
torch: inference runs on ONNX Runtime.
"""

from __future__ import annotations

import streamlit as st

from bcl_core import SYNTHETIC_NOTICE, __version__

st.set_page_config(page_title="BCL Predict", page_icon="🦴", layout="wide")

PAGES = {
    "Clinic": [
        st.Page("pages/consult.py", title="Consult", icon=":material/stethoscope:", default=True),
        st.Page("pages/patient_view.py", title="Patient view", icon=":material/person:"),
    ],
    "Research": [
        st.Page("pages/reader_study.py", title="Reader study", icon=":material/edit_note:"),
        st.Page("pages/study_admin.py", title="Study admin", icon=":material/admin_panel_settings:"),
        st.Page("pages/evaluation.py", title="Evaluation", icon=":material/analytics:"),
    ],
    "About": [st.Page("pages/about.py", title="About the model", icon=":material/info:")],
}


def _sidebar() -> None:
    from pages.components.models import status

    model = status()
    with st.sidebar:
        st.markdown(f"**BCL Predict** {__version__}")
        st.caption(model.headline)
        st.caption(f"Runs on: {model.provider}")
        st.warning(SYNTHETIC_NOTICE)


_sidebar()
navigation = st.navigation(PAGES)
navigation.run()
