"""The consult report: a PDF for the chart and a JSON document for systems.

Both hold the per-type probabilities, thresholds and calls, the points marked, the model's
name, version and card summary, where it ran, and the notice that the demo models were trained
on synthetic data. The PDF adds key images: the CT and MRI slices through the marked points with
the vertebra outline and the heat map of one type. No patient identifier appears unless the user
typed one in (``patient_label``); nothing is written to disk: both come back as bytes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bcl_core import SYNTHETIC_NOTICE, __version__
from bcl_core.clinic.consult import STAGE_LABELS
from bcl_core.clinic.viewer import ViewPlane, render_slice
from bcl_core.leakage import LEAKAGE_TYPES as TYPE_NAMES
from bcl_core.leakage import TYPE_LABELS
from bcl_core.predict.pipeline import ModalityResult, PredictionResult
from bcl_core.volume import Volume

logger = logging.getLogger(__name__)

ESTIMATE_WORDING = ("Model estimate of the risk of bone cement leakage per type; not a diagnosis. "
                    "The treating surgeon decides.")
CALL_WORDS = {1: "HIGH (at or above threshold)", 0: "low (below threshold)"}
#: Latin-1 stand-ins for characters the PDF core fonts cannot show.
_REPLACEMENTS = {"\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"',
                 "\u201d": '"', "\u2265": ">=", "\u2264": "<=", "\u2026": "...", "\u00a0": " "}


@dataclass(frozen=True)
class KeyImage:
    """One figure of the report: an RGB slice and its caption."""

    rgb: NDArray[np.uint8]
    caption: str


def latin1(text: str) -> str:
    """``text`` made printable with the PDF core fonts (unknown characters become ``?``).

    Examples
    --------
    >>> latin1("p \u2265 0.5 \u2013 ok")
    'p >= 0.5 - ok'
    """
    for char, stand_in in _REPLACEMENTS.items():
        text = text.replace(char, stand_in)
    return text.encode("latin-1", "replace").decode("latin-1")


def key_images(result: PredictionResult, ct: Volume, mr: Volume, head: str = "type4"
               ) -> list[KeyImage]:
    """CT (axial) and MRI (sagittal) through the marked points: outline, point, heat map."""
    images = []
    views: tuple[tuple[str, Volume, ModalityResult, ViewPlane], ...] = (
        ("CT", ct, result.ct, "axial"), ("MRI", mr, result.mr, "sagittal"))
    for name, series, found, plane in views:
        normal = {"axial": 2, "sagittal": 0}[plane]
        heat = found.maps.get(head)
        rendered = render_slice(series, plane, float(found.point_mm[normal]), mask=found.mask,
                                heatmap=heat, point_mm=found.point_mm)
        label = TYPE_LABELS.get(head, head)
        images.append(KeyImage(rendered.rgb, f"{name} {plane} at {rendered.position_mm:.1f} mm: "
                               f"vertebra outline (yellow), marked point (cyan)"
                               + (f", heat map for {label}" if heat is not None else "")))
    return images


def report_dict(result: PredictionResult, *, patient_label: str = "",
                card: Sequence[tuple[str, str]] = (), created: datetime | None = None
                ) -> dict[str, Any]:
    """The JSON report: :meth:`PredictionResult.to_json_dict` plus context.

    Parameters
    ----------
    result:
        The prediction.
    patient_label:
        Only what the user typed in; omitted when empty.
    card:
        Model card summary pairs (:func:`bcl_core.clinic.card_summary.card_summary`).
    created:
        Report time (UTC now by default).
    """
    document = result.to_json_dict()
    document.update({
        "report": "BCL Predict consult report",
        "software_version": __version__,
        "created_utc": (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wording": ESTIMATE_WORDING,
        "notice": SYNTHETIC_NOTICE,
        "model_name": result.model_name,
        "type_labels": {t: TYPE_LABELS[t] for t in TYPE_NAMES},
        "model_card": dict(card),
    })
    if "any" in result.probabilities:
        document["probability_any_leakage"] = round(float(result.probabilities["any"]), 6)
    if patient_label.strip():
        document["patient_label"] = patient_label.strip()
    return document


def report_json(result: PredictionResult, **kwargs: Any) -> bytes:
    """:func:`report_dict` as UTF-8 JSON bytes (for a download button)."""
    return json.dumps(report_dict(result, **kwargs), indent=2).encode("utf-8")


def new_pdf(title: str) -> Any:
    """An A4 fpdf2 document with the title and the synthetic-data notice on top."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_title(latin1(title))
    pdf.set_creator(f"BCL Predict {__version__}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 8, latin1(title), new_x="LMARGIN", new_y="NEXT")
    notice_box(pdf)
    return pdf


def notice_box(pdf: Any) -> None:
    """The synthetic-data notice, in a red frame."""
    pdf.ln(2)
    pdf.set_draw_color(180, 0, 0)
    pdf.set_text_color(150, 0, 0)
    pdf.set_font("Helvetica", "B", 10)
    pdf.multi_cell(0, 6, latin1(SYNTHETIC_NOTICE), border=1, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_draw_color(0, 0, 0)
    pdf.ln(2)


def paragraph(pdf: Any, text: str, size: int = 10, style: str = "") -> None:
    """A block of wrapped text."""
    pdf.set_font("Helvetica", style, size)
    pdf.multi_cell(0, 5, latin1(text), new_x="LMARGIN", new_y="NEXT")


def heading(pdf: Any, text: str) -> None:
    """A section heading."""
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 12)
    pdf.multi_cell(0, 7, latin1(text), new_x="LMARGIN", new_y="NEXT")


def ensure_space(pdf: Any, height_mm: float) -> None:
    """Start a new page unless ``height_mm`` still fit above the bottom margin."""
    if pdf.get_y() + height_mm > pdf.h - pdf.b_margin:
        pdf.add_page()


def image(pdf: Any, rgb: NDArray[np.uint8], width_mm: float, caption: str = "") -> None:
    """An RGB array as an image of ``width_mm``, with a caption under it."""
    image_row(pdf, [rgb], width_mm, caption)


def image_row(pdf: Any, images: Sequence[NDArray[np.uint8]], width_mm: float,
              caption: str = "", gap_mm: float = 4.0) -> None:
    """RGB arrays side by side, each ``width_mm`` wide, with one caption under the row."""
    from PIL import Image

    height = max(width_mm * rgb.shape[0] / rgb.shape[1] for rgb in images)
    ensure_space(pdf, height + 10)
    top = pdf.get_y()
    for index, rgb in enumerate(images):
        pdf.image(Image.fromarray(np.ascontiguousarray(rgb)),
                  x=pdf.l_margin + index * (width_mm + gap_mm), y=top, w=width_mm)
    pdf.set_y(top + height + 1)
    if caption:
        pdf.set_font("Helvetica", "I", 8)
        pdf.multi_cell(0, 4, latin1(caption), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _table(pdf: Any, result: PredictionResult) -> None:
    widths = (78, 28, 28, 50)
    pdf.set_font("Helvetica", "B", 9)
    for width, text in zip(widths, ("Leakage type", "Probability", "Threshold", "Call"),
                           strict=True):
        pdf.cell(width, 7, text, border=1)
    pdf.ln()
    for name in TYPE_NAMES:
        emphasis = "B" if name == "type4" else ""
        pdf.set_font("Helvetica", emphasis, 9)
        call = int(result.calls[name])
        if call:
            pdf.set_text_color(170, 0, 0)
        cells = (TYPE_LABELS[name], f"{100 * result.probabilities[name]:.1f} %",
                 f"{100 * result.thresholds[name]:.1f} %", CALL_WORDS[call])
        for width, text in zip(widths, cells, strict=True):
            pdf.cell(width, 7, latin1(text), border=1)
        pdf.set_text_color(0, 0, 0)
        pdf.ln()


def report_pdf(result: PredictionResult, ct: Volume, mr: Volume, *, patient_label: str = "",
               card: Sequence[tuple[str, str]] = (), map_head: str = "type4",
               created: datetime | None = None) -> bytes:
    """The PDF report as bytes.

    Parameters
    ----------
    result:
        The prediction.
    ct, mr:
        The series it was made on (for the key images).
    patient_label:
        Printed only when the user typed it in.
    card:
        Model card summary pairs.
    map_head:
        Type whose heat map the key images show (Type IV by default).
    created:
        Report time (UTC now by default).
    """
    when = (created or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    pdf = new_pdf("BCL Predict: bone cement leakage risk before kyphoplasty")
    paragraph(pdf, ESTIMATE_WORDING, 10, "B")
    if patient_label.strip():
        paragraph(pdf, f"Patient (as entered by the user): {patient_label.strip()}")
    paragraph(pdf, f"Report created {when}; BCL Predict {__version__}.", 9)
    heading(pdf, "Estimated risk per leakage type")
    _table(pdf, result)
    type4 = result.probabilities["type4"]
    paragraph(pdf, f"Type IV (into the spinal canal), the type never to miss: {100 * type4:.1f} %"
              f" against a threshold of {100 * result.thresholds['type4']:.1f} % -> "
              f"{CALL_WORDS[int(result.calls['type4'])]}.", 10, "B")
    if "any" in result.probabilities:
        paragraph(pdf, f"Any leakage: {100 * result.probabilities['any']:.1f} %.", 9)
    heading(pdf, "Key images")
    figures = key_images(result, ct, mr, map_head)
    image_row(pdf, [f.rgb for f in figures], 86,
              " | ".join(f"{side}: {f.caption}" for side, f in zip(("Left", "Right"), figures,
                                                                    strict=False)))
    heading(pdf, "Marked points and model")
    paragraph(pdf, "Target vertebra marked at CT " + _mm(result.ct.point_mm) + " and MRI "
              + _mm(result.mr.point_mm) + " (LPS patient mm, each in its own series' frame).", 9)
    paragraph(pdf, f"Model {result.model_name} version {result.model_version}, run by "
              f"{result.provider}. Time: " + ", ".join(
                  f"{STAGE_LABELS.get(k, k)} {v:.2f} s"
                  for k, v in result.timings_s.items()) + ".", 9)
    if card:
        heading(pdf, "Model card (summary)")
        for key, text in card:
            paragraph(pdf, f"{key}: {text}", 9)
    notice_box(pdf)
    return bytes(pdf.output())


def _mm(point: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in point) + ")"


def probabilities_table(result: PredictionResult) -> list[Mapping[str, Any]]:
    """Rows for the page's results table (type, probability, threshold, call)."""
    return [{"Leakage type": TYPE_LABELS[name],
             "Probability": float(result.probabilities[name]),
             "Threshold": float(result.thresholds[name]),
             "Model estimate": "high" if result.calls[name] else "low"}
            for name in TYPE_NAMES]
