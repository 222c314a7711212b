"""The approved masks drive the prediction (issue 17): a mask the caller gives is the one the
model's ROI is built from, the app predicts from the outlines it showed without segmenting
again, and ``bcl predict --ct-mask/--mr-mask`` reads a mask file, refusing one that does not fit.

Expected boxes are worked out by hand from the cuboid masks: the CT of the test case has an
identity direction, so a cuboid of voxel indices ``lo..hi`` spans
``origin + spacing * (lo - 0.5) .. origin + spacing * (hi + 0.5)`` mm, and the toy fusion sidecar
adds a margin of (10, 10, 6) mm and centres its grid on the box (``centre: "box"``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from model_fixtures import write_small_case

import bcl_core.predict.pipeline
from bcl_core.cli import main
from bcl_core.clinic.consult import mark_point, new_consult, run_prediction
from bcl_core.errors import InputError
from bcl_core.io.masks import read_mask
from bcl_core.io.nifti import write_nifti
from bcl_core.predict.case import load_case
from bcl_core.predict.pipeline import predict_case
from bcl_core.volume import Volume

MARGIN_MM = np.array([10.0, 10.0, 6.0])  # the toy fusion sidecar's roi_per_input margin


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_small_case(tmp_path_factory.mktemp("case"))


def _points(case_dir: Path) -> dict[str, list[float]]:
    truth = json.loads((case_dir / "truth.json").read_text())
    return {"ct": truth["ct_point_mm"], "mr": truth["mr_point_mm"]}


def _cuboid(series: Volume, lower_ijk: tuple[int, int, int], upper_ijk: tuple[int, int, int]
            ) -> Volume:
    array = np.zeros(series.array.shape, np.uint8)
    (i0, j0, k0), (i1, j1, k1) = lower_ijk, upper_ijk
    array[k0:k1 + 1, j0:j1 + 1, i0:i1 + 1] = 1
    return series.with_array(array, "SEG")


def _hand_box(series: Volume, lower_ijk: tuple[int, int, int], upper_ijk: tuple[int, int, int]
              ) -> tuple[np.ndarray, np.ndarray]:
    origin, spacing = np.asarray(series.origin), np.asarray(series.spacing)
    lower = origin + spacing * (np.asarray(lower_ijk) - 0.5) - MARGIN_MM
    upper = origin + spacing * (np.asarray(upper_ijk) + 0.5) + MARGIN_MM
    return lower, upper


def test_a_given_mask_is_the_roi_and_is_not_segmented_again(case_dir: Path, toy_models: None
                                                             ) -> None:
    case = load_case(case_dir)
    points = _points(case_dir)
    assert np.allclose(case.ct.direction, np.eye(3))  # the hand formula's premise
    boxes = []
    for lower_ijk, upper_ijk in (((70, 45, 22), (95, 65, 38)), ((60, 60, 10), (80, 90, 20))):
        mask = _cuboid(case.ct, lower_ijk, upper_ijk)
        stages: list[str] = []
        result = predict_case(case.ct, case.mr, points["ct"], points["mr"], ct_mask=mask,
                              progress=stages.append, with_maps=False)
        lower, upper = _hand_box(case.ct, lower_ijk, upper_ijk)
        np.testing.assert_allclose(result.ct.crop.box.lower_mm, lower, atol=1e-6)
        np.testing.assert_allclose(result.ct.crop.box.upper_mm, upper, atol=1e-6)
        assert "segmentation_ct" not in stages and "segmentation_mr" in stages
        n_voxels = np.prod(np.subtract(upper_ijk, lower_ijk) + 1)
        assert result.ct.mask.metadata["volume_ml"] == pytest.approx(
            n_voxels * np.prod(case.ct.spacing) / 1000.0)
        boxes.append(result.ct.crop.box.centre_mm)
    assert np.linalg.norm(boxes[0] - boxes[1]) > 5.0  # another mask, another ROI


def test_the_app_predicts_from_the_outlines_it_showed(case_dir: Path, toy_models: None,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    consult = new_consult(load_case(case_dir), "test")
    points = _points(case_dir)
    for role in ("ct", "mr"):
        assert mark_point(consult, role, points[role]).mask is not None

    def no_second_segmentation(*args: object, **kwargs: object) -> Volume:
        raise AssertionError("the prediction segmented a series again")

    monkeypatch.setattr(bcl_core.predict.pipeline, "segment_vertebra", no_second_segmentation)
    result = run_prediction(consult)
    for role in ("ct", "mr"):
        shown = consult.marks[role].mask
        assert shown is not None
        np.testing.assert_array_equal(getattr(result, role).mask.array, shown.array)
    assert not any(stage.startswith("segmentation") for stage in result.timings_s)


def _predict_argv(case_dir: Path, *extra: str) -> list[str]:
    points = _points(case_dir)
    return ["predict", str(case_dir), "--ct-point", ",".join(map(str, points["ct"])),
            "--mr-point", ",".join(map(str, points["mr"])), "--json", *extra]


def test_bcl_predict_reads_mask_files(case_dir: Path, toy_models: None, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    case = load_case(case_dir)
    ct_mask = write_nifti(_cuboid(case.ct, (70, 45, 22), (95, 65, 38)), tmp_path / "ct.nii.gz")
    mr_mask = write_nifti(_cuboid(case.mr, (20, 40, 3), (44, 80, 7)), tmp_path / "mr.nii")
    assert main(_predict_argv(case_dir, "--ct-mask", str(ct_mask), "--mr-mask",
                              str(mr_mask))) == 0
    document = json.loads(capsys.readouterr().out)
    # 26 x 21 x 17 voxels of the CT, 25 x 41 x 5 of the MRI (by hand from the index ranges).
    assert document["mask_volume_ml"]["ct"] == pytest.approx(
        26 * 21 * 17 * np.prod(case.ct.spacing) / 1000.0, rel=1e-6)
    assert document["mask_volume_ml"]["mr"] == pytest.approx(
        25 * 41 * 5 * np.prod(case.mr.spacing) / 1000.0, rel=1e-6)
    assert not any(stage.startswith("segmentation") for stage in document["timings_s"])


def test_a_mask_that_does_not_fit_is_refused_in_one_line(case_dir: Path, toy_models: None,
                                                         tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    case = load_case(case_dir)
    on_mr = write_nifti(_cuboid(case.mr, (20, 40, 3), (44, 80, 7)), tmp_path / "mr.nii.gz")
    empty = write_nifti(case.ct.with_array(np.zeros(case.ct.array.shape, np.uint8)),
                        tmp_path / "empty.nii.gz")
    shifted = write_nifti(Volume(np.ones(case.ct.array.shape, np.uint8), case.ct.spacing,
                                 tuple(np.add(case.ct.origin, (3.0, 0.0, 0.0)))),
                          tmp_path / "shifted.nii.gz")
    text = tmp_path / "mask.txt"
    text.write_text("not a mask")
    for path, words in ((on_mr, "does not fit the CT series: its size"),
                        (empty, "is empty"), (shifted, "shifted 3.00 mm"),
                        (text, "must be a NIfTI file")):
        assert main(_predict_argv(case_dir, "--ct-mask", str(path))) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and words in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1


def test_read_mask_keeps_the_series_grid(case_dir: Path, tmp_path: Path) -> None:
    case = load_case(case_dir)
    written = write_nifti(_cuboid(case.mr, (2, 3, 4), (5, 6, 7)), tmp_path / "m.nii.gz")
    mask = read_mask(written, case.mr)
    assert mask.same_grid(case.mr) and mask.modality == "SEG"
    assert int(mask.array.sum()) == 4 * 4 * 4
    with pytest.raises(InputError, match="does not fit the CT series"):
        read_mask(written, case.ct)
