"""BCL Predict: Streamlit frame (page config, navigation, shared sidebar).

Pages hold UI only; every decision and computation lives in ``bcl_core``. The app never imports
torch: inference runs on ONNX Runtime.
"""

from __future__ import annotations

import streamlit as st

from bcl_core import SYNTHETIC_NOTICE, __version__

st.set_page_config(page_title="BCL Predict", page_icon="🦴", layout="wide")


def _home() -> None:
    st.title("BCL Predict")
    st.write(
        "Predicts, before a kyphoplasty, whether and where bone cement may leak (types I-IV), "
        "from the preoperative CT and MRI."
    )
    st.warning(SYNTHETIC_NOTICE)
    st.subheader("Coming next")
    st.markdown(
        "- **Consult**: upload a case, scroll CT and MRI, mark the fractured vertebra, see the "
        "per-type risk with heat maps, export a report.\n"
        "- **Reader study**: blinded reading, reference standard and adjudication.\n"
        "- **Evaluation**: sensitivity, specificity, AUROC with CIs, kappa, model vs readers.\n"
        "- **About**: the model card."
    )


with st.sidebar:
    st.caption(f"BCL Predict {__version__}")
    st.caption(SYNTHETIC_NOTICE)

navigation = st.navigation([st.Page(_home, title="Home", default=True)])
navigation.run()
