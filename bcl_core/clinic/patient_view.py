"""Plain-language material for talking with a patient: words, icon arrays, a diagram, a handout.

* :func:`frequency_words` turns a probability into "about 3 in 10";
* :func:`icon_array` draws 100 people, the estimated share coloured;
* :func:`leakage_diagram` draws the project's own picture of a vertebra (side view) and the four
  places cement can go;
* :func:`handout_pdf` puts them on a printable page.

Everything is drawn with Pillow (no plotting library, fast to start). The words avoid
"diagnosis": the numbers are model estimates for patients with similar images.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from bcl_core.leakage import LEAKAGE_TYPES as TYPE_NAMES

#: Colours (RGB) of the four types, used by the diagram and the icon arrays alike.
TYPE_COLOURS: Mapping[str, tuple[int, int, int]] = {
    "type1": (46, 104, 196),   # vein: blue
    "type2": (224, 140, 20),   # soft tissue: orange
    "type3": (40, 150, 90),    # disc: green
    "type4": (200, 30, 45),    # canal: red
}
NEUTRAL = (200, 200, 205)


@dataclass(frozen=True)
class TypeExplanation:
    """Plain words for one leakage type."""

    title: str
    where: str
    why_it_matters: str


EXPLANATIONS: Mapping[str, TypeExplanation] = {
    "type1": TypeExplanation(
        "Type I: into a vein beside the bone",
        "Some cement may run into a small vein that leaves the side of the vertebra.",
        "Usually this causes no symptoms. Rarely, cement travels with the blood to the lungs."),
    "type2": TypeExplanation(
        "Type II: into the tissue around the spine",
        "Some cement may seep through a crack in the bone's outer wall into the tissue around it.",
        "This usually causes no problems."),
    "type3": TypeExplanation(
        "Type III: into the disc",
        "Some cement may enter the soft disc between this vertebra and the next.",
        "This can wear the disc and may make a fracture of the next vertebra more likely."),
    "type4": TypeExplanation(
        "Type IV: into the spinal canal",
        "Some cement may enter the canal behind the vertebra, where the spinal cord and nerves "
        "run.",
        "This is the rarest type, but it can press on the cord or nerves, so surgeons take "
        "special care to avoid it."),
}

WHAT_IS_LEAKAGE = (
    "In a kyphoplasty the surgeon fills the broken vertebra with bone cement to make it strong "
    "again. Sometimes a little cement flows outside the bone. This is called cement leakage. "
    "Most leakage causes no symptoms. Where the cement goes decides whether it matters."
)
WHAT_THE_SURGEON_CAN_DO = (
    "Knowing the risk beforehand helps the surgeon plan: for example thicker cement, slow "
    "injection watched on X-ray all the time, a smaller amount of cement, stopping at the first "
    "sign of leakage, or a different needle path. Your surgeon will explain what applies to you."
)
ESTIMATE_NOTE = (
    "These numbers are estimates from a computer model for patients whose scans look like "
    "yours. They are not a diagnosis, and they do not say what will happen to you."
)


def frequency_words(probability: float) -> str:
    """A probability as a natural frequency ("about 3 in 10 patients like this").

    Examples
    --------
    >>> frequency_words(0.31)
    'about 3 in 10'
    >>> frequency_words(0.04)
    'about 4 in 100'
    >>> frequency_words(0.002)
    'fewer than 1 in 100'
    >>> frequency_words(0.97)
    'more than 9 in 10'
    """
    p = float(np.clip(probability, 0.0, 1.0))
    if p >= 0.95:
        return "more than 9 in 10"
    if p >= 0.095:
        return f"about {max(1, round(p * 10))} in 10"
    in_100 = round(p * 100)
    return "fewer than 1 in 100" if in_100 < 1 else f"about {in_100} in 100"


def patient_sentences(probabilities: Mapping[str, float]) -> list[str]:
    """One sentence per type: "Type IV ...: about 1 in 100 patients like you."."""
    return [f"{EXPLANATIONS[name].title}: {frequency_words(probabilities[name])} patients with "
            "scans like yours (model estimate)." for name in TYPE_NAMES]


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def icon_array(probability: float, colour: tuple[int, int, int], icon_px: int = 22,
               per_row: int = 10) -> NDArray[np.uint8]:
    """100 little people in a 10 x 10 grid, ``round(100 p)`` of them coloured (reading order).

    Returns
    -------
    numpy.ndarray
        RGB image, ``(10 icon_px, 10 icon_px, 3)`` uint8.
    """
    count = int(round(float(np.clip(probability, 0.0, 1.0)) * 100))
    rows = 100 // per_row
    picture = Image.new("RGB", (per_row * icon_px, rows * icon_px), "white")
    draw = ImageDraw.Draw(picture)
    head = icon_px * 0.18
    for n in range(100):
        x0, y0 = (n % per_row) * icon_px, (n // per_row) * icon_px
        fill = colour if n < count else NEUTRAL
        cx = x0 + icon_px / 2
        draw.ellipse((cx - head, y0 + 2, cx + head, y0 + 2 + 2 * head), fill=fill)
        draw.rounded_rectangle((cx - icon_px * 0.3, y0 + 3 + 2 * head, cx + icon_px * 0.3,
                                y0 + icon_px - 2), radius=icon_px * 0.15, fill=fill)
    return np.asarray(picture)


def _arrow(draw: ImageDraw.ImageDraw, start: tuple[float, float], end: tuple[float, float],
           colour: tuple[int, int, int], width: int = 6) -> None:
    draw.line((start, end), fill=colour, width=width)
    direction = np.subtract(end, start).astype(float)
    direction /= max(np.linalg.norm(direction), 1e-6)
    normal = np.array([-direction[1], direction[0]])
    tip = np.asarray(end)
    base = tip - direction * 22
    draw.polygon([tuple(tip), tuple(base + normal * 12), tuple(base - normal * 12)], fill=colour)


def leakage_diagram(width: int = 900) -> NDArray[np.uint8]:
    """The four places cement can leak, on a side view of three vertebrae (front on the left).

    Drawn by the project (Pillow); returns an RGB array ``(0.75 width, width, 3)``.
    """
    scale = width / 900
    img = Image.new("RGB", (900, 675), "white")
    draw = ImageDraw.Draw(img)
    bone, cortex, disc = (236, 226, 200), (150, 130, 100), (190, 215, 235)
    body_x0, body_x1 = 300, 560
    levels = [(60, 200), (260, 400), (460, 600)]  # top, target, bottom (y ranges)
    for y0, y1 in levels:
        draw.rounded_rectangle((body_x0, y0, body_x1, y1), radius=18, fill=bone, outline=cortex,
                               width=5)
    for y0, y1 in ((200, 260), (400, 460)):
        draw.rounded_rectangle((body_x0 + 8, y0 + 4, body_x1 - 8, y1 - 4), radius=14, fill=disc)
    # Spinal canal and cord behind the bodies (posterior = right).
    draw.rectangle((585, 40, 665, 635), fill=(225, 235, 250), outline=(120, 140, 170), width=3)
    draw.rounded_rectangle((605, 40, 645, 635), radius=18, fill=(250, 230, 160))
    # Cement in the target body.
    draw.ellipse((350, 285, 510, 375), fill=(245, 245, 245), outline=(120, 120, 120), width=3)
    # Segmental vein leaving the front of the target body.
    draw.line(((body_x0, 345), (230, 360), (170, 420), (120, 470)), fill=(170, 195, 235),
              width=10, joint="curve")
    font, small = _font(30), _font(22)
    _arrow(draw, (360, 345), (175, 425), TYPE_COLOURS["type1"])
    _arrow(draw, (370, 300), (200, 250), TYPE_COLOURS["type2"])
    _arrow(draw, (430, 295), (430, 222), TYPE_COLOURS["type3"])
    _arrow(draw, (500, 330), (615, 330), TYPE_COLOURS["type4"])
    labels = {"type1": ((40, 470), "I vein"), "type2": ((40, 200), "II soft tissue"),
              "type3": ((455, 215), "III disc"), "type4": ((680, 305), "IV spinal canal")}
    for name, ((x, y), text) in labels.items():
        draw.text((x, y), text, fill=TYPE_COLOURS[name], font=font)
    draw.text((20, 20), "front", fill=(90, 90, 90), font=small)
    draw.text((800, 20), "back", fill=(90, 90, 90), font=small)
    draw.text((body_x0 + 20, 640), "side view: the treated vertebra in the middle",
              fill=(90, 90, 90), font=small)
    if scale != 1:
        img = img.resize((width, int(675 * scale)), Image.Resampling.LANCZOS)
    return np.asarray(img)


def png_bytes(rgb: NDArray[np.uint8]) -> bytes:
    """An RGB array as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG")
    return buffer.getvalue()


def handout_pdf(probabilities: Mapping[str, float], patient_label: str = "") -> bytes:
    """A printable handout: what leakage is, the diagram, the risk per type as icon arrays.

    Parameters
    ----------
    probabilities:
        Probability per type (``type1`` .. ``type4``).
    patient_label:
        Printed only when the user typed it in.
    """
    from bcl_core.clinic.report import ensure_space, heading, image, new_pdf, paragraph

    pdf = new_pdf("Bone cement leakage: what your scans suggest")
    if patient_label.strip():
        paragraph(pdf, f"For: {patient_label.strip()}")
    heading(pdf, "What is cement leakage?")
    paragraph(pdf, WHAT_IS_LEAKAGE)
    image(pdf, leakage_diagram(900), 130, "The four places cement can go.")
    heading(pdf, "Your estimated risk")
    paragraph(pdf, ESTIMATE_NOTE, 9, "I")
    for name in TYPE_NAMES:
        explanation = EXPLANATIONS[name]
        ensure_space(pdf, 70)  # heading, words and icons stay on one page
        heading(pdf, f"{explanation.title}: {frequency_words(probabilities[name])}")
        paragraph(pdf, f"{explanation.where} {explanation.why_it_matters}", 9)
        image(pdf, icon_array(probabilities[name], TYPE_COLOURS[name], icon_px=16), 40,
              f"Out of 100 patients with scans like yours, about "
              f"{round(100 * float(probabilities[name]))} (coloured) would have this type.")
    heading(pdf, "What your surgeon can do")
    paragraph(pdf, WHAT_THE_SURGEON_CAN_DO)
    return bytes(pdf.output())
