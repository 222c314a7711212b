"""PDF and JSON consult reports: numbers, notice, key images, no identifiers unless typed in."""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from model_fixtures import FIXED_PROBABILITIES, TOY_THRESHOLDS, write_small_case, write_toy_models

from bcl_core import SYNTHETIC_NOTICE
from bcl_core.clinic.report import key_images, latin1, report_dict, report_json, report_pdf
from bcl_core.clinic.viewer import MASK_OUTLINE_RGB
from bcl_core.io import load_volume
from bcl_core.predict.pipeline import PipelineModels, PredictionResult, predict_case
from bcl_core.predict.runtime import clear_model_cache
from bcl_core.volume import Volume

TYPES = ("type1", "type2", "type3", "type4")


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Volume, Volume, PredictionResult]:
    models = write_toy_models(tmp_path_factory.mktemp("models"))
    folder = write_small_case(tmp_path_factory.mktemp("case"))
    mp = pytest.MonkeyPatch()
    mp.setenv("BCL_MODEL_DIR", str(models))
    mp.setenv("BCL_ORT_PROVIDER", "cpu")
    clear_model_cache()
    try:
        truth = json.loads((folder / "truth.json").read_text())
        ct, mr = load_volume(folder / "ct"), load_volume(folder / "mr")
        result = predict_case(ct, mr, truth["ct_point_mm"], truth["mr_point_mm"],
                              models=PipelineModels.load())
    finally:
        mp.undo()
        clear_model_cache()
    return folder, ct, mr, result


def pdf_text(data: bytes) -> str:
    """Text drawn in a PDF made by fpdf2 (core fonts): the strings of its Tj operators."""
    chunks = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        header = data[data.rfind(b" obj", 0, match.start()):match.start()]
        if b"/Image" in header or b"/Length1" in header:  # pictures and fonts hold no text
            continue
        try:
            chunks.append(zlib.decompress(match.group(1)))
        except zlib.error:
            chunks.append(match.group(1))
    strings = re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", b"\n".join(chunks))
    text = " ".join(s.decode("latin-1").replace("\\(", "(").replace("\\)", ")")
                    .replace("\\\\", "\\") for s in strings)
    return re.sub(r"\s+", " ", text)


def test_pdf_holds_numbers_notice_and_images(case) -> None:
    folder, ct, mr, result = case
    data = report_pdf(result, ct, mr, card=[("intended use", "research only")])
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    for name in TYPES:  # probabilities and thresholds as percentages, from the fixture
        assert f"{100 * FIXED_PROBABILITIES[name]:.1f} %" in text
        assert f"{100 * TOY_THRESHOLDS[name]:.1f} %" in text
    assert SYNTHETIC_NOTICE in text
    assert "not a diagnosis" in text
    assert "Type IV (into the spinal canal)" in text and "HIGH" in text  # 0.78 >= 0.2
    assert "toy-test-1" in text and "research only" in text
    assert len(re.findall(rb"/Subtype\s*/Image", data)) == 2


def test_no_identifiers_unless_typed(case) -> None:
    folder, ct, mr, result = case
    header = pydicom.dcmread(next((folder / "ct").glob("*.dcm")), stop_before_pixels=True)
    identifiers = [str(header.PatientName), str(header.PatientID)]
    plain = report_pdf(result, ct, mr) + report_json(result)
    for identifier in identifiers:
        assert identifier.encode() not in plain
        assert identifier not in pdf_text(report_pdf(result, ct, mr))
    assert "patient_label" not in report_dict(result)
    labelled = report_pdf(result, ct, mr, patient_label="Doe J, 12345")
    assert "Patient (as entered by the user): Doe J, 12345" in pdf_text(labelled)
    assert report_dict(result, patient_label=" Doe J ")["patient_label"] == "Doe J"


def test_json_matches_the_result(case) -> None:
    _, _, _, result = case
    document = json.loads(report_json(result, card=[("version", "1")]))
    assert document["probabilities"] == pytest.approx(
        {t: FIXED_PROBABILITIES[t] for t in TYPES}, abs=1e-5)
    assert document["calls"] == {t: int(FIXED_PROBABILITIES[t] >= TOY_THRESHOLDS[t])
                                 for t in TYPES}
    assert document["notice"] == SYNTHETIC_NOTICE
    assert document["model_card"] == {"version": "1"}
    assert document["probability_any_leakage"] == pytest.approx(0.9, abs=1e-5)


def test_key_images_show_outline_point_and_map(case) -> None:
    _, ct, mr, result = case
    with_map = key_images(result, ct, mr, "type4")
    without = key_images(result, ct, mr, "no-such-head")
    for figure, plain in zip(with_map, without, strict=True):
        outline = np.all(figure.rgb == MASK_OUTLINE_RGB, axis=2)
        assert outline.sum() > 20
        assert "heat map" in figure.caption and "heat map" not in plain.caption
        assert np.any(figure.rgb != plain.rgb)  # the map is blended in


def test_latin1_keeps_text_printable() -> None:
    assert latin1("p \u2265 0.5 \u2013 \u00e9") == "p >= 0.5 - \u00e9"
    assert latin1("\u4e2d") == "?"
