"""One case path (issue 17): ``bcl predict`` and the app read the same series from the same upload
and give the same probabilities.

The upload holds the case's CT twice: the full stack, and before it (lower series number, so
listed first) a shorter stack of the same anatomy with other UIDs, plus the MRI. The documented
rule takes the series with most slices; a rule that took the first fit series would take the
short one. The toy fusion model here weighs the mean of the CT crop, and the short stack leaves
part of the crop outside the image, so the two choices give different probabilities: the test
can tell which one each path used.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from model_fixtures import write_small_case, write_toy_models
from pydicom.uid import generate_uid

from bcl_core.cli import main
from bcl_core.clinic.consult import load_case, mark_point, new_consult, run_prediction
from bcl_core.leakage import LEAKAGE_TYPES
from bcl_core.predict.case import load_case as load_case_for_cli
from bcl_core.predict.runtime import clear_model_cache

#: Half-height (mm) of the short CT stack around the target: less than the toy crop's reach.
SHORT_HALF_MM = 12.0
#: Toy fusion weights: each head's logit moves with the mean of the normalised CT crop.
CT_WEIGHTED = [[2.0] * 5, [0.0] * 5]


def _write_short_ct(case: Path, out: Path, centre_z_mm: float) -> int:
    """Copy the CT slices within SHORT_HALF_MM of ``centre_z_mm`` as a new series numbered 1."""
    out.mkdir()
    series_uid = generate_uid()
    kept = 0
    for path in sorted((case / "ct").glob("*.dcm")):
        data = pydicom.dcmread(path)
        if abs(float(data.ImagePositionPatient[2]) - centre_z_mm) > SHORT_HALF_MM:
            continue
        data.SeriesInstanceUID = series_uid
        data.SOPInstanceUID = generate_uid()
        data.file_meta.MediaStorageSOPInstanceUID = data.SOPInstanceUID
        data.SeriesNumber = 1
        data.save_as(out / path.name)
        kept += 1
    return kept


@pytest.fixture(scope="module")
def upload(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[float]]]:
    case = write_small_case(tmp_path_factory.mktemp("case"))
    truth = json.loads((case / "truth.json").read_text())
    folder = tmp_path_factory.mktemp("upload") / "case"
    shutil.copytree(case / "ct", folder / "ct_full")
    shutil.copytree(case / "mr", folder / "mr")
    n_short = _write_short_ct(case, folder / "ct_short", truth["ct_point_mm"][2])
    n_full = len(list((case / "ct").glob("*.dcm")))
    assert 4 < n_short < n_full
    return folder, {"ct": truth["ct_point_mm"], "mr": truth["mr_point_mm"], "n_full": n_full}


@pytest.fixture()
def weighted_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCL_MODEL_DIR", str(write_toy_models(tmp_path / "m", CT_WEIGHTED)))
    monkeypatch.setenv("BCL_ORT_PROVIDER", "cpu")
    clear_model_cache()
    yield
    clear_model_cache()


def _app_probabilities(folder: Path, points: dict[str, list[float]],
                       choices: dict[str, int | None] | None = None) -> dict[str, float]:
    uploads = [(path.relative_to(folder).as_posix(), path.read_bytes())
               for path in sorted(folder.rglob("*.dcm"))]
    consult = new_consult(load_case(uploads, choices), "upload")
    for role in ("ct", "mr"):
        assert mark_point(consult, role, points[role]).mask is not None
    return dict(run_prediction(consult).probabilities)


def test_cli_and_app_pick_the_same_series(upload: tuple[Path, dict]) -> None:
    folder, facts = upload
    uploads = [(path.relative_to(folder).as_posix(), path.read_bytes())
               for path in sorted(folder.rglob("*.dcm"))]
    app_case = load_case(uploads)
    cli_case = load_case_for_cli(folder)
    assert app_case.choices == cli_case.choices
    # The rule's choice: the full CT stack (most slices), not the short one listed first.
    short_index = next(row.index for row in app_case.rows
                       if row.modality == "CT" and row.slices < facts["n_full"])
    assert short_index == 0 and app_case.choices["ct"] != short_index
    assert cli_case.ct.n_slices == facts["n_full"]


def test_cli_and_app_give_the_same_probabilities(upload: tuple[Path, dict], weighted_models: None,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder, points = upload
    code = main(["predict", str(folder), "--ct-point", ",".join(map(str, points["ct"])),
                 "--mr-point", ",".join(map(str, points["mr"])), "--json"])
    assert code == 0, capsys.readouterr().err
    cli = json.loads(capsys.readouterr().out)["probabilities"]
    app = _app_probabilities(folder, points)
    for name in LEAKAGE_TYPES:
        assert cli[name] == pytest.approx(app[name], abs=1e-6)
    # The test can tell the two CT series apart: the short one gives other probabilities.
    short = _app_probabilities(folder, points, {"ct": 0})
    assert max(abs(short[t] - app[t]) for t in LEAKAGE_TYPES) > 1e-3
    assert np.isfinite(list(short.values())).all()
