"""The shipped segmentation models on freshly generated external-site cases (Dice floor).

The cases come from the synthetic generator with a seed no training set used; the reference
masks are the generator's own, independent of the models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import make_synth_cases

from bcl_core.cli import main
from bcl_core.errors import SegmentationError
from bcl_core.io.nifti import read_nifti
from bcl_core.predict.runtime import load_model
from bcl_core.predict.segment import dice_score, segment_vertebra
from bcl_core.train.cases import SegCase, case_dirs, load_seg_case

MODELS = Path(__file__).resolve().parent.parent / "models"
#: Floor per case (the issue's bar: no external case below 0.85).
DICE_FLOOR = 0.85

pytestmark = pytest.mark.skipif(
    not (MODELS / "seg_ct.json").is_file() or not (MODELS / "seg_mr.json").is_file(),
    reason="shipped segmentation models not present")


@pytest.fixture(scope="module")
def cases_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synth_cases(tmp_path_factory, "external", 4242)


@pytest.fixture(scope="module")
def cases(cases_dir: Path) -> dict[str, list[SegCase]]:
    folders = case_dirs(cases_dir)
    return {m: [load_seg_case(f, m) for f in folders] for m in ("ct", "mr")}


@pytest.mark.parametrize("modality", ["ct", "mr"])
def test_shipped_model_reaches_the_dice_floor(cases: dict[str, list[SegCase]],
                                              modality: str) -> None:
    model = load_model(MODELS / f"seg_{modality}.json")
    for case in cases[modality]:
        mask = segment_vertebra(case.image, case.point_mm, model)
        assert mask.same_grid(case.image)
        assert dice_score(mask.array, case.mask.array) >= DICE_FLOOR, case.case_id


@pytest.mark.parametrize("modality", ["ct", "mr"])
def test_click_4mm_off_centre_still_segments(cases: dict[str, list[SegCase]],
                                             modality: str) -> None:
    model = load_model(MODELS / f"seg_{modality}.json")
    case = cases[modality][0]
    moved = case.point_mm + np.array([2.5, -2.0, 2.5])  # 4.1 mm from the body centre
    mask = segment_vertebra(case.image, moved, model)
    assert dice_score(mask.array, case.mask.array) >= DICE_FLOOR


@pytest.mark.parametrize("modality", ["ct", "mr"])
def test_click_in_front_of_the_spine_is_refused(cases: dict[str, list[SegCase]],
                                                modality: str) -> None:
    model = load_model(MODELS / f"seg_{modality}.json")
    case = cases[modality][0]
    # 40 mm anterior of the body centre: prevertebral soft tissue, no bone.
    with pytest.raises(SegmentationError):
        segment_vertebra(case.image, case.point_mm + np.array([0.0, -40.0, 0.0]), model)


def test_segment_command_writes_the_mask_on_the_series_grid(cases_dir: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    folder = case_dirs(cases_dir)[0]
    case = load_seg_case(folder, "ct")
    out = tmp_path / "mask.nii.gz"
    point = ",".join(f"{v:.3f}" for v in case.point_mm)
    assert main(["segment", str(folder / "ct"), "--point", point, "--out", str(out)]) == 0
    assert "ml, model seg_ct" in capsys.readouterr().out
    written = read_nifti(out)
    assert written.same_grid(case.image)
    assert dice_score(written.array, case.mask.array) >= DICE_FLOOR


#: Mean Dice floors on these two cases: about 0.03 below the shipped models' external-site means
#: over 100 cases (0.950 CT, 0.935 MRI; docs/segmentation.md), so a regression such as a
#: lost soft target or a broken mirror average fails here.
MEAN_DICE_FLOOR = {"ct": 0.92, "mr": 0.90}


@pytest.mark.parametrize("modality", ["ct", "mr"])
def test_shipped_model_mean_dice_floor(cases: dict[str, list[SegCase]], modality: str) -> None:
    model = load_model(MODELS / f"seg_{modality}.json")
    scores = [dice_score(segment_vertebra(case.image, case.point_mm, model).array,
                         case.mask.array) for case in cases[modality]]
    assert float(np.mean(scores)) >= MEAN_DICE_FLOOR[modality], scores
