"""BCL Predict: the Streamlit frame (page config, navigation, shared sidebar).

The frame itself lives in :mod:`pages.components.frame` so that a page Streamlit starts without
this script (a deep link opened first on a fresh server) can show it too. Pages hold UI only;
every decision and computation lives in ``bcl_core``. The app never imports torch: inference
runs on ONNX Runtime.
"""

from __future__ import annotations

from pages.components.frame import show_frame

show_frame()
