"""Consult logic without Streamlit: series pre-selection, missing-series words, clicks, marks."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from model_fixtures import case_uploads, write_small_case, write_toy_models

from bcl_core.clinic.consult import (
    ConsultCase,
    is_new_click,
    load_case,
    mark_point,
    new_consult,
    run_prediction,
    user_message,
)
from bcl_core.errors import NoImagesError, PipelineError, SeriesError
from bcl_core.predict.case import select_series
from bcl_core.predict.runtime import clear_model_cache


def _series(index: int, role: str, slices: int, fit: bool = True, weighting: str | None = None
            ) -> SimpleNamespace:
    return SimpleNamespace(index=index, role=role, n_slices=slices, fit_for_prediction=fit,
                           weighting=weighting)


def test_select_series_picks_the_thin_ct_and_the_t2() -> None:
    series = [_series(0, "other", 3),                       # scout
              _series(1, "ct_axial", 80),                   # thick reconstruction
              _series(2, "ct_axial", 320),                  # thin reconstruction
              _series(3, "ct_axial", 400, fit=False),       # refused (e.g. gaps)
              _series(4, "mr_sagittal", 15, weighting=None),
              _series(5, "mr_sagittal", 13, weighting="T2")]
    assert select_series(series) == {"ct": 2, "mr": 5}
    assert select_series(series[:1]) == {"ct": None, "mr": None}


@pytest.fixture(scope="module")
def small_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_small_case(tmp_path_factory.mktemp("case"))


def test_load_case_and_missing_words(small_case: Path) -> None:
    case = load_case(small_case)
    assert case.ready and case.missing_message is None
    assert {r.modality for r in case.rows} == {"CT", "MR"}
    assert case.volumes["ct"].modality == "CT" and case.volumes["mr"].modality == "MR"
    ct_only = load_case([(n, d) for n, d, _ in case_uploads(small_case, ["ct"])])
    assert not ct_only.ready
    message = ct_only.missing_message
    assert message.startswith("Only one image series was found (CT axial)")
    assert "but no sagittal T2 MRI fit" in message and "no axial CT" not in message
    # A user override of the series is honoured.
    swapped = load_case(small_case, {"ct": case.choices["mr"]})
    assert swapped.volumes["ct"].modality == "MR"


def test_load_case_errors_are_domain_errors(tmp_path: Path) -> None:
    with pytest.raises(NoImagesError, match="No DICOM images found"):
        load_case([("a.txt", b"hello")])
    with pytest.raises(NoImagesError, match="holds no files"):
        load_case(tmp_path)


def test_is_new_click() -> None:
    consult = ConsultCase()
    first = {"x": 10, "y": 20, "width": 100, "unix_time": 1}
    assert not is_new_click(consult, "ct", None)
    assert is_new_click(consult, "ct", first)
    assert not is_new_click(consult, "ct", dict(first))  # the same click reported on a rerun
    assert is_new_click(consult, "mr", first)  # another viewer
    assert is_new_click(consult, "ct", {**first, "unix_time": 2})  # same spot, clicked again


def test_marks_predict_and_clear(small_case: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCL_MODEL_DIR", str(write_toy_models(tmp_path)))
    monkeypatch.setenv("BCL_ORT_PROVIDER", "cpu")
    clear_model_cache()
    truth = json.loads((small_case / "truth.json").read_text())
    consult = new_consult(load_case(small_case), "test")
    with pytest.raises(PipelineError, match="Mark the fractured vertebra"):
        run_prediction(consult)
    assert mark_point(consult, "ct", truth["ct_point_mm"]).mask is not None
    assert mark_point(consult, "mr", truth["mr_point_mm"]).mask is not None
    stages: list[str] = []
    result = run_prediction(consult, progress=stages.append)
    assert stages[0] == "loading" and "classification" in stages
    assert set(result.timings_s) >= {"loading", "classification", "total"}
    # Off the vertebra (air at the corner): the point stays, the outline goes, the result too.
    corner = consult.case.volumes["ct"].index_to_mm((1, 1, 1))
    marking = mark_point(consult, "ct", corner)
    assert marking.mask is None and "No vertebra found" in marking.message
    assert consult.result is None and not consult.points_ready


def test_user_message() -> None:
    assert user_message(SeriesError("Series #2 cannot be used.")) == "Series #2 cannot be used."
    assert "memory" in user_message(MemoryError())
    hidden = user_message(KeyError("/home/jdoe/secret"))
    assert "jdoe" not in hidden and "went wrong" in hidden


def test_slice_positions_snap_to_the_slice_through_the_point() -> None:
    import numpy as np

    from bcl_core.clinic.consult import slice_positions
    from bcl_core.volume import Volume

    volume = Volume(np.zeros((10, 8, 6), np.int16), spacing=(0.5, 0.75, 2.0),
                    origin=(10.0, 20.0, -100.0), modality="CT")
    # Slices: x = 10 + 0.5 i, y = 20 + 0.75 j, z = -100 + 2 k.
    positions = slice_positions(volume, (11.2, 22.0, -95.1), ("axial", "sagittal", "coronal"))
    assert positions == pytest.approx({"axial": -96.0, "sagittal": 11.0, "coronal": 22.25})
