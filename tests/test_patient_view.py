"""Patient view: natural frequencies, icon arrays, the diagram, the handout; AppTest of the page."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from model_fixtures import write_small_case, write_toy_models
from streamlit.testing.v1 import AppTest
from test_report import pdf_text

from bcl_core import SYNTHETIC_NOTICE
from bcl_core.clinic.model_status import clear_status_cache
from bcl_core.clinic.patient_view import (
    NEUTRAL,
    TYPE_COLOURS,
    frequency_words,
    handout_pdf,
    icon_array,
    leakage_diagram,
    patient_sentences,
)
from bcl_core.predict.runtime import clear_model_cache

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("probability", "words"), [
    (0.0, "fewer than 1 in 100"), (0.004, "fewer than 1 in 100"), (0.012, "about 1 in 100"),
    (0.05, "about 5 in 100"), (0.094, "about 9 in 100"), (0.1, "about 1 in 10"),
    (0.26, "about 3 in 10"), (0.5, "about 5 in 10"), (0.94, "about 9 in 10"),
    (0.96, "more than 9 in 10"), (1.0, "more than 9 in 10")])
def test_frequency_words(probability: float, words: str) -> None:
    assert frequency_words(probability) == words


@pytest.mark.parametrize("probability", [0.0, 0.07, 0.31, 0.5, 1.0])
def test_icon_array_colours_the_right_number_of_people(probability: float) -> None:
    px = 20
    colour = TYPE_COLOURS["type4"]
    image = icon_array(probability, colour, icon_px=px)
    assert image.shape == (10 * px, 10 * px, 3)
    # Sample each icon's body centre: coloured or neutral.
    centres = image[px // 2 + px * np.arange(10)[:, None] + 3, px // 2 + px * np.arange(10)]
    coloured = np.all(centres == colour, axis=-1)
    assert coloured.sum() == round(100 * probability)
    assert np.all(centres[~coloured] == NEUTRAL)
    assert coloured.reshape(-1)[: coloured.sum()].all()  # filled in reading order


def test_diagram_shows_the_four_types() -> None:
    image = leakage_diagram(600)
    assert image.shape == (450, 600, 3)
    for name, colour in TYPE_COLOURS.items():
        near = np.all(np.abs(image.astype(int) - colour) <= 8, axis=-1)
        assert near.sum() > 100, name


def test_sentences_and_handout() -> None:
    probabilities = {"type1": 0.31, "type2": 0.05, "type3": 0.5, "type4": 0.002}
    sentences = patient_sentences(probabilities)
    assert sentences[0].startswith("Type I") and "about 3 in 10" in sentences[0]
    assert "fewer than 1 in 100" in sentences[3]
    text = pdf_text(handout_pdf(probabilities))
    assert SYNTHETIC_NOTICE in text
    assert "about 3 in 10" in text and "about 5 in 100" in text
    assert "not a diagnosis" in text
    assert "For:" not in text
    assert "For: Mrs Example" in pdf_text(handout_pdf(probabilities, "Mrs Example"))


def test_patient_view_page(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    models = write_toy_models(tmp_path / "models")
    case = write_small_case(tmp_path / "case")
    monkeypatch.setenv("BCL_MODEL_DIR", str(models))
    monkeypatch.setenv("BCL_DEMO_CASE", str(case))
    monkeypatch.setenv("BCL_ORT_PROVIDER", "cpu")
    clear_model_cache()
    clear_status_cache()
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    app.run()
    app.switch_page("pages/patient_view.py").run()
    assert not app.exception
    assert any("Consult page first" in i.value for i in app.info)
    app.switch_page("pages/consult.py").run()
    app.button(key="consult_load_demo").click().run()
    truth = json.loads((case / "truth.json").read_text())
    for index, role in enumerate(("ct", "mr")):
        for axis, value in zip("xyz", truth[f"{role}_point_mm"], strict=True):
            app.number_input(key=f"consult_point_{role}_{axis}").set_value(value)
        [b for b in app.button if b.label == "Mark this point"][index].click().run()
    app.button(key="consult_predict").click().run()
    app.switch_page("pages/patient_view.py").run()
    assert not app.exception
    headings = [m.value for m in app.markdown]
    # Toy probabilities 0.12, 0.34, 0.56, 0.78 in natural frequencies.
    for words in ("about 1 in 10", "about 3 in 10", "about 6 in 10", "about 8 in 10"):
        assert f"### {words} patients like you" in headings
    assert [b.key for b in app.get("download_button")] == ["patient_handout"]
