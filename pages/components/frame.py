"""The app's frame (page config, shared sidebar, navigation) and the guard that gives it to
every page, whatever URL a visitor opens first.

app.py runs :func:`show_frame`. Streamlit, though, reads a ``pages/`` folder next to the entry
script as legacy auto-discovered pages (multipage apps v1) until some session has run
``st.navigation``: on a freshly started server, a first visit to a deep link such as
``/reader_study`` runs that page script on its own, without app.py (raw file names in the
sidebar, no synthetic-data notice, no model version). The design fixes the folder name, so every
page calls :func:`require_frame` before any output: run that way, it shows the frame itself
(whose ``st.navigation`` switches legacy discovery off for every session and runs the same page
inside the frame) and ends the bare run. Nothing of the visit is lost, widget events included.
"""

from __future__ import annotations

import streamlit as st
from streamlit.navigation.page import StreamlitPage
from streamlit.runtime.pages_manager import PagesManager

from bcl_core import SYNTHETIC_NOTICE, __version__


def pages() -> dict[str, list[StreamlitPage]]:
    """The app's pages by sidebar section (paths relative to app.py)."""
    return {
        "Clinic": [
            st.Page("pages/consult.py", title="Consult", icon=":material/stethoscope:",
                    default=True),
            st.Page("pages/patient_view.py", title="Patient view", icon=":material/person:"),
        ],
        "Research": [
            st.Page("pages/reader_study.py", title="Reader study", icon=":material/edit_note:"),
            st.Page("pages/study_admin.py", title="Study admin",
                    icon=":material/admin_panel_settings:"),
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


def show_frame() -> None:
    """Page config, the shared sidebar, the navigation, then the page the URL names."""
    st.set_page_config(page_title="BCL Predict", page_icon="🦴", layout="wide")
    _sidebar()
    st.navigation(pages()).run()


def running_without_frame() -> bool:
    """Whether Streamlit started this page through legacy ``pages/`` discovery (no app.py).

    Returns
    -------
    bool
        ``True`` only until some session has run the frame's ``st.navigation``; ``False``
        inside the frame and when a test runs a page file on its own.
    """
    return bool(PagesManager.uses_pages_directory)


def require_frame() -> None:
    """Give this page the frame if Streamlit started it without app.py (call it first).

    Raises
    ------
    streamlit.runtime.scriptrunner.StopException
        Through ``st.stop()``, after the framed page has run, to end the bare run.
    """
    if running_without_frame():
        show_frame()  # runs this same page again, inside the frame
        st.stop()
