"""BCL Predict core library: geometry, DICOM I/O, synthetic cases, models, statistics.

Research software. The shipped demo models were trained on synthetic data and are not for
clinical decisions. This package never imports streamlit; only training and export import torch.
"""

from __future__ import annotations

__version__ = "0.1.0"

#: The notice every screen, report and model card carries.
SYNTHETIC_NOTICE = (
    "Research software. The demo models were trained on synthetic data only and are not "
    "for clinical decisions."
)
