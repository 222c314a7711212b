"""Model settings in one place (issue 17): every sidecar field inference reads is typed and
required, the classifier's heads and ROI settings included, and the shipped sidecars carry no
settings nothing reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from model_fixtures import write_fusion_model

from bcl_core.errors import ModelError
from bcl_core.predict.sidecar import RoiSpec, load_sidecar

REPO_MODELS = Path(__file__).resolve().parent.parent / "models"

#: What a sidecar may hold, from the layout in bcl_core/predict/sidecar.py's docstring: the keys
#: inference reads, plus free-form provenance (training, calibration record, notice).
COMMON_KEYS = {"schema_version", "name", "task", "version", "onnx_file", "sha256", "input_names",
               "output_names", "thresholds", "inputs"}
PROVENANCE_KEYS = {"training", "calibration", "notice"}
TASK_KEYS = {"segmentation": {"segmentation"}, "classification": {"heads", "roi_per_input"}}


@pytest.fixture()
def fusion_sidecar(tmp_path: Path) -> Path:
    return write_fusion_model(tmp_path)


def _without(path: Path, *keys: str) -> None:
    data: dict[str, Any] = json.loads(path.read_text())
    parent = data
    for key in keys[:-1]:
        parent = parent[key]
    del parent[keys[-1]]
    path.write_text(json.dumps(data))


def test_classifier_settings_are_typed(fusion_sidecar: Path) -> None:
    sidecar = load_sidecar(fusion_sidecar)
    assert sidecar.require_classifier().heads == ("type1", "type2", "type3", "type4", "any")
    assert sidecar.roi("ct") == RoiSpec(margin_mm=(10.0, 10.0, 6.0), plane="axial", centre="box")
    assert sidecar.roi("mr").plane == "sagittal"
    with pytest.raises(ModelError, match="not a segmentation one"):
        sidecar.require_segmentation()


@pytest.mark.parametrize(("keys", "named"), [
    (("heads",), "missing key 'heads'"),
    (("roi_per_input",), "missing key 'roi_per_input'"),
    (("roi_per_input", "mr"), "missing key 'mr'"),
    (("roi_per_input", "ct", "margin_mm"), "missing key 'margin_mm'"),
    (("roi_per_input", "ct", "plane"), "missing key 'plane'"),
    (("roi_per_input", "ct", "centre"), "missing key 'centre'"),
])
def test_a_classifier_sidecar_lacking_a_setting_is_refused(fusion_sidecar: Path,
                                                           keys: tuple[str, ...], named: str
                                                           ) -> None:
    _without(fusion_sidecar, *keys)
    with pytest.raises(ModelError, match=f"^fusion.json.*{named}"):
        load_sidecar(fusion_sidecar)


@pytest.mark.parametrize(("setting", "value", "named"), [
    ("heads", [], "'heads' must list distinct"),
    ("heads", ["type1", "type1"], "'heads' must list distinct"),
    ("centre", "middle", "'centre' 'middle' is not one of box, body"),
    ("plane", "oblique", "'plane' 'oblique' is not one of"),
    ("margin_mm", [1.0, -1.0, 1.0], "'margin_mm' cannot be negative"),
])
def test_a_bad_classifier_setting_is_refused(fusion_sidecar: Path, setting: str, value: object,
                                             named: str) -> None:
    data = json.loads(fusion_sidecar.read_text())
    if setting == "heads":
        data["heads"] = value
    else:
        data["roi_per_input"]["ct"][setting] = value
    fusion_sidecar.write_text(json.dumps(data))
    with pytest.raises(ModelError, match=named):
        load_sidecar(fusion_sidecar)


def test_a_segmentation_sidecar_lacking_its_settings_is_refused(tmp_path: Path) -> None:
    from bcl_core.train.toy import write_band_model

    path = write_band_model(tmp_path, "seg_ct", "CT", centre=0.47, half_width=0.25,
                            spacing_mm=2.0, size=16, min_volume_ml=2.0, max_volume_ml=400.0)
    _without(path, "segmentation")
    with pytest.raises(ModelError, match="seg_ct.json: missing key 'segmentation'"):
        load_sidecar(path)


@pytest.mark.parametrize("name", ["fusion", "seg_ct", "seg_mr"])
def test_shipped_sidecars_hold_only_what_is_read(name: str) -> None:
    data = json.loads((REPO_MODELS / f"{name}.json").read_text())
    allowed = COMMON_KEYS | PROVENANCE_KEYS | TASK_KEYS[data["task"]]
    assert set(data) <= allowed, f"{name}.json carries unread settings: {set(data) - allowed}"
    assert COMMON_KEYS | TASK_KEYS[data["task"]] <= set(data)
    load_sidecar(REPO_MODELS / f"{name}.json")  # and each loads under the strict reader
