"""The case pipeline and the `bcl predict` / `bcl predict-batch` commands, on toy models whose
outputs are known by construction (tests/model_fixtures.py)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from model_fixtures import FIXED_PROBABILITIES, TOY_THRESHOLDS, write_small_case

from bcl_core.cli import main
from bcl_core.leakage import LEAKAGE_TYPES


@pytest.fixture(scope="module")
def toy_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_small_case(tmp_path_factory.mktemp("case"))


def _points(case: Path) -> tuple[list[float], list[float]]:
    truth = json.loads((case / "truth.json").read_text())
    return truth["ct_point_mm"], truth["mr_point_mm"]


def _expected_calls() -> dict[str, int]:
    # Hand check: probability >= threshold (0.12<0.3, 0.34>=0.3, 0.56>=0.5, 0.78>=0.2).
    return {"type1": 0, "type2": 1, "type3": 1, "type4": 1}


def test_predict_case_reports_model_outputs_masks_and_maps(toy_case: Path, toy_models: Path
                                                           ) -> None:
    from bcl_core.predict.case import load_case
    from bcl_core.predict.pipeline import predict_case
    from bcl_core.predict.preprocess import paste_into

    case = load_case(toy_case)
    ct_point, mr_point = _points(toy_case)
    stages: list[str] = []
    result = predict_case(case.ct, case.mr, ct_point, mr_point, progress=stages.append)
    for name in LEAKAGE_TYPES:
        assert result.probabilities[name] == pytest.approx(FIXED_PROBABILITIES[name], abs=1e-6)
        assert result.thresholds[name] == pytest.approx(TOY_THRESHOLDS[name])
    assert {t: result.calls[t] for t in LEAKAGE_TYPES} == _expected_calls()
    assert stages[:2] == ["segmentation_ct", "segmentation_mr"] and "classification" in stages
    assert result.ct.mask.same_grid(case.ct) and result.mr.mask.same_grid(case.mr)
    # The CT mask covers the clicked point.
    assert result.ct.mask.array[result.ct.mask.nearest_voxel(ct_point)] == 1
    # Maps land on the series, inside the crop, and only there.
    full = paste_into(result.ct.maps["type4"], case.ct)
    assert full.max() > 0
    nonzero_mm = case.ct.index_to_mm(np.argwhere(full > 0)[:, ::-1].astype(float))
    lower, upper = result.ct.crop.volume.corners_mm().min(0), result.ct.crop.volume.corners_mm().max(0)
    spacing = np.asarray(result.ct.crop.volume.spacing)
    assert np.all(nonzero_mm >= lower - spacing) and np.all(nonzero_mm <= upper + spacing)
    document = result.to_json_dict()
    assert set(document) >= {"probabilities", "calls", "timings_s", "provider", "model_version"}
    assert document["provider"] == "ONNX Runtime on the CPU"


def test_bcl_predict_json(toy_case: Path, toy_models: Path, capsys: pytest.CaptureFixture[str]
                          ) -> None:
    ct_point, mr_point = _points(toy_case)
    code = main(["predict", str(toy_case), "--ct-point", ",".join(map(str, ct_point)),
                 "--mr-point", ",".join(map(str, mr_point)), "--json"])
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    assert document["calls"] == _expected_calls()
    for name in LEAKAGE_TYPES:
        assert document["probabilities"][name] == pytest.approx(FIXED_PROBABILITIES[name], abs=1e-5)
    assert document["model_version"] == "toy-test-1"


def test_bcl_predict_off_image_click_is_a_clear_error(toy_case: Path, toy_models: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    _, mr_point = _points(toy_case)
    code = main(["predict", str(toy_case), "--ct-point", "5000,5000,5000",
                 "--mr-point", ",".join(map(str, mr_point))])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "outside the image" in err and "Traceback" not in err


def test_predict_batch_is_resumable_and_records_failures(toy_case: Path, toy_models: Path,
                                                         tmp_path: Path) -> None:
    data = tmp_path / "synth"
    shutil.copytree(toy_case, data / "CASE-A")
    shutil.copytree(toy_case, data / "CASE-B")
    broken = json.loads((data / "CASE-B" / "truth.json").read_text())
    broken["ct_point_mm"] = [9000.0, 9000.0, 9000.0]
    (data / "CASE-B" / "truth.json").write_text(json.dumps(broken))
    out = tmp_path / "predictions.csv"
    assert main(["predict-batch", str(data), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["case_id"] for r in rows] == ["CASE-A"]
    assert float(rows[0]["prob_type3"]) == pytest.approx(FIXED_PROBABILITIES["type3"], abs=1e-5)
    assert rows[0]["call_type1"] == "0" and rows[0]["call_type4"] == "1"
    errors = list(csv.DictReader(out.with_suffix(".errors.csv").open()))
    assert errors[0]["case_id"] == "CASE-B" and "outside the image" in errors[0]["error"]
    # Resume: the finished case is not predicted again.
    assert main(["predict-batch", str(data), "--out", str(out)]) == 0
    assert len(list(csv.DictReader(out.open()))) == 1
