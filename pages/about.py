"""About page: what the tool does, the model card, the installed models.

UI only; the card is read by ``bcl_core.clinic.card_summary``, the models' state by
``bcl_core.clinic.model_status``. Script page for ``st.Page("pages/about.py")``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for `pages.components`

from bcl_core import SYNTHETIC_NOTICE, __version__  # noqa: E402
from bcl_core.clinic.card_summary import MODEL_CARD_FILE, card_summary, load_model_card  # noqa: E402
from bcl_core.clinic.model_status import REQUIRED_MODELS  # noqa: E402
from bcl_core.leakage import LEAKAGE_TYPES, TYPE_LABELS  # noqa: E402
from pages.components.frame import require_frame  # noqa: E402
from pages.components.models import status  # noqa: E402


def render() -> None:
    """The About page."""
    st.title("About BCL Predict")
    st.warning(SYNTHETIC_NOTICE)
    st.write("BCL Predict estimates, before a kyphoplasty, the risk that bone cement leaks out "
             "of the treated vertebra, per type, from the preoperative axial CT and sagittal T2 "
             "MRI. The surgeon marks the fractured vertebra; the models outline it, crop the "
             "region around it and estimate a probability per type, with heat maps of what "
             "drove each estimate. These are model estimates, never a diagnosis.")
    st.markdown("\n".join(f"- **{TYPE_LABELS[t]}**" for t in LEAKAGE_TYPES))
    model = status()
    st.subheader("Installed models")
    if model.ready:
        st.success(f"Model version {model.version}, running on {model.provider}.")
    else:
        st.error("No trained model installed. " + " ".join(model.problems))
    st.caption("Needed: " + "; ".join(f"{name} ({role})" for name, role in
                                      REQUIRED_MODELS.items()) + f". Folder: {model.model_dir}")
    st.subheader("Model card")
    card = load_model_card(model.model_dir)
    if card is None:
        st.info(f"No model card installed ({MODEL_CARD_FILE} in the models folder). Training "
                "writes it next to the models.")
    else:
        for key, text in card_summary(card, max_items=20):
            st.markdown(f"**{key.capitalize()}**: {text}")
        with st.expander("The whole model card (JSON)"):
            st.json(card)
    st.caption(f"BCL Predict {__version__}. Research software.")


require_frame()  # before any output: a deep link opened first gets the frame
render()
