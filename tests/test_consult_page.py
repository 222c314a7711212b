"""AppTest of the consult page: demo flow, bad uploads, no models, session isolation.

Models are the toy set of ``tests/model_fixtures.py``: with zero weights the fusion model's
probabilities are fixed numbers written into the test, independent of the code under test.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pydicom
import pytest
from model_fixtures import (
    FIXED_PROBABILITIES,
    TOY_THRESHOLDS,
    TOY_VERSION,
    case_uploads,
    write_small_case,
    write_toy_models,
    zip_bytes,
)
from streamlit.testing.v1 import AppTest

from bcl_core.clinic.model_status import clear_status_cache
from bcl_core.predict.runtime import clear_model_cache

PAGE = Path(__file__).resolve().parent.parent / "pages" / "consult.py"
TIMEOUT = 90


@pytest.fixture(scope="module")
def small_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_small_case(tmp_path_factory.mktemp("case"))


@pytest.fixture(scope="module")
def toy_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_models(tmp_path_factory.mktemp("models"))


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch, small_case: Path, toy_models: Path) -> Path:
    monkeypatch.setenv("BCL_MODEL_DIR", str(toy_models))
    monkeypatch.setenv("BCL_DEMO_CASE", str(small_case))
    monkeypatch.setenv("BCL_ORT_PROVIDER", "cpu")
    clear_model_cache()
    clear_status_cache()
    return small_case


def _page() -> AppTest:
    app = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
    app.run()
    assert not app.exception
    return app


def _errors(app: AppTest) -> list[str]:
    return [e.value for e in app.error]


def _type_point(app: AppTest, role: str, point: list[float]) -> None:
    for axis, value in zip("xyz", point, strict=True):
        app.number_input(key=f"consult_point_{role}_{axis}").set_value(value)
    buttons = [b for b in app.button if b.label == "Mark this point"]
    buttons[0 if role == "ct" else 1].click().run()
    assert not app.exception


def _viewer_data(app: AppTest, index: int) -> dict:
    """What the page sent to viewer ``index`` (0 CT, 1 MRI) on the last run: small JSON."""
    views = [e.proto for e in app.get("bidi_component")
             if e.proto.component_name == "bcl_viewer_view"]
    return json.loads(views[index].json)


def _stores(app: AppTest) -> dict[str, bytes]:
    """Serialised store elements (the voxel payloads) by element id."""
    return {e.proto.id: e.proto.SerializeToString() for e in app.get("bidi_component")
            if e.proto.component_name == "bcl_viewer_store"}


def _upload(app: AppTest, files: list[tuple[str, bytes, str]]) -> AppTest:
    app.get("file_uploader")[1].set_value(files)
    app.run()
    app.button(key="consult_load_upload").click().run()
    assert not app.exception
    return app


def test_demo_flow_load_mark_predict_report(env: Path) -> None:
    truth = json.loads((env / "truth.json").read_text())
    app = _page()
    app.button(key="consult_load_demo").click().run()
    assert not app.exception and not _errors(app)
    table = app.dataframe[0].value
    assert set(table["modality"]) == {"CT", "MR"}
    assert app.button(key="consult_predict").disabled is True  # nothing marked yet
    _type_point(app, "ct", truth["ct_point_mm"])
    _type_point(app, "mr", truth["mr_point_mm"])
    assert len(app.success) == 2 and not _errors(app)  # both outlines shown
    # The viewers move to the typed points, sent in RAS: (x, y, z) LPS is (-x, -y, z) RAS.
    for index, role in enumerate(("ct", "mr")):
        x, y, z = truth[f"{role}_point_mm"]
        data = _viewer_data(app, index)
        assert data["focus_ras"] == pytest.approx([-x, -y, z], abs=1e-6)
        assert data["mask"]  # the outline is drawn
        assert data["heat"] is None
    assert app.button(key="consult_predict").disabled is False
    app.button(key="consult_predict").click().run()
    assert not app.exception
    shown = {m.label: m.value for m in app.metric}
    assert shown == {"Type I": "12.0 %", "Type II": "34.0 %", "Type III": "56.0 %",
                     "Type IV": "78.0 %"}
    # Type IV is high (0.78 >= 0.2): the prominent banner says so.
    assert _errors(app) == ["**Type IV (spinal canal): 78 %** model estimate, threshold 20 %: "
                            "**high**: plan to avoid canal leakage."]
    assert {b.key for b in app.get("download_button")} == {"consult_pdf", "consult_json"}
    reports = app.session_state["consult_reports"]
    assert reports["pdf"][1].startswith(b"%PDF")
    document = json.loads(reports["json"][1])
    assert document["probabilities"] == pytest.approx(
        {t: FIXED_PROBABILITIES[t] for t in ("type1", "type2", "type3", "type4")}, abs=1e-5)
    assert document["thresholds"]["type4"] == pytest.approx(TOY_THRESHOLDS["type4"])
    assert document["model_version"] == TOY_VERSION
    assert "patient_label" not in document
    # The heat-map choice sits with the results and draws the Type IV map on both viewers.
    app.radio(key="consult_heat_head").set_value("type4").run()
    assert not app.exception
    for index in (0, 1):
        heat = _viewer_data(app, index)["heat"]
        assert heat["id"].endswith("-type4") and heat["label"] == "Type IV: spinal canal"


def test_heat_control_appears_only_with_a_result(env: Path) -> None:
    app = _page()
    app.button(key="consult_load_demo").click().run()
    assert not [r for r in app.radio if r.key == "consult_heat_head"]
    app.button(key="consult_demo_points").click().run()
    app.button(key="consult_predict").click().run()
    assert [r for r in app.radio if r.key == "consult_heat_head"]


def test_the_volume_is_sent_once_per_case(env: Path) -> None:
    """Reruns re-send the same store elements byte for byte (Streamlit then sends only their
    hash), while marking changes only the small viewer data."""
    truth = json.loads((env / "truth.json").read_text())
    app = _page()
    app.button(key="consult_load_demo").click().run()
    before = _stores(app)
    assert len(before) == 2  # one image payload per series, nothing else yet
    view_before = _viewer_data(app, 0)
    _type_point(app, "ct", truth["ct_point_mm"])
    after = _stores(app)
    assert set(before) <= set(after)
    assert all(after[key] == before[key] for key in before)  # the images: unchanged
    assert len(after) == 3  # plus the CT outline
    view_after = _viewer_data(app, 0)
    assert view_after["volume"] == view_before["volume"]
    assert view_after["mask"] and not view_before["mask"]
    assert len(json.dumps(view_after)) < 4000  # what changes per click is small


def test_without_webgl_the_static_viewer_is_shown_with_a_notice(env: Path) -> None:
    truth = json.loads((env / "truth.json").read_text())
    app = _page()
    app.session_state["bcl_viewer_webgl"] = False  # what the component reports then
    app.button(key="consult_load_demo").click().run()
    assert any("no WebGL 2" in i.value for i in app.info)
    assert not app.get("bidi_component")
    _type_point(app, "ct", truth["ct_point_mm"])
    # The static viewer moved to the typed point (within half a CT slice, 1.25 mm).
    assert app.slider(key="consult_ct_axial_mm").value == pytest.approx(
        truth["ct_point_mm"][2], abs=0.63)


def test_remark_replaces_outline_and_clears_result(env: Path) -> None:
    truth = json.loads((env / "truth.json").read_text())
    app = _page()
    app.button(key="consult_load_demo").click().run()
    _type_point(app, "ct", truth["ct_point_mm"])
    _type_point(app, "mr", truth["mr_point_mm"])
    app.button(key="consult_predict").click().run()
    assert app.metric
    # A click in the air beside the patient: no vertebra there; the reason is shown.
    consult = app.session_state["consult_case"]
    corner = consult.case.volumes["ct"].index_to_mm((2, 2, 2)).tolist()
    _type_point(app, "ct", corner)
    assert not app.metric  # the old result is gone
    assert any("No vertebra found" in e for e in _errors(app))
    assert app.button(key="consult_predict").disabled is True


def test_demo_points_button(env: Path) -> None:
    app = _page()
    app.button(key="consult_load_demo").click().run()
    app.button(key="consult_demo_points").click().run()
    assert not app.exception and len(app.success) == 2


@pytest.mark.parametrize("kind", ["not_dicom", "ct_only", "mr_only", "truncated", "zip_bomb",
                                  "damaged_zip", "big_junk"])
def test_bad_uploads_end_in_a_clear_error(env: Path, kind: str) -> None:
    files = case_uploads(env)
    ct_files = [f for f in files if f[0].startswith("ct/")]
    mr_files = [f for f in files if f[0].startswith("mr/")]
    if kind == "not_dicom":
        upload = [("notes.txt", b"referral letter", "text/plain"), ("scan.jpg", b"\xff\xd8x", "")]
        expected = "No DICOM images found"
    elif kind == "ct_only":
        upload, expected = ct_files, "Only one image series was found"
    elif kind == "mr_only":
        upload, expected = mr_files, "no axial CT"
    elif kind == "truncated":
        upload = [(n, data[:400], m) for n, data, m in ct_files] + mr_files
        expected = "no axial CT"
    elif kind == "zip_bomb":
        upload = [("case.zip", _declared_bomb(), "application/zip")]
        expected = "zip bomb"
    elif kind == "damaged_zip":
        upload = [("case.zip", zip_bytes(files)[:5000], "application/zip")]
        expected = "damaged"
    else:
        upload = [("huge.bin", b"\x00" * (64 * 1024 * 1024), "application/octet-stream")]
        expected = "No DICOM images found"
    app = _upload(_page(), upload)
    assert any(expected in e for e in _errors(app)), _errors(app)
    # The page stays usable: the demo case still loads afterwards.
    app.button(key="consult_load_demo").click().run()
    assert not app.exception
    assert app.session_state["consult_case"].case.ready


def _declared_bomb() -> bytes:
    """A tiny zip whose central directory declares two entries of ~4 GiB each."""
    data = bytearray(zip_bytes([("a.dcm", b"x" * 10, ""), ("b.dcm", b"y" * 10, "")]))
    start = 0
    while (start := data.find(b"PK\x01\x02", start)) != -1:
        data[start + 24:start + 28] = (0xFFFFFFF0).to_bytes(4, "little")  # uncompressed size
        start += 4
    return bytes(data)


def test_zipped_upload_and_series_override(env: Path) -> None:
    app = _upload(_page(), [("case.zip", zip_bytes(case_uploads(env)), "application/zip")])
    assert not _errors(app)
    consult = app.session_state["consult_case"]
    assert consult.case.ready and consult.source_name.startswith("upload")
    # Choosing the MRI series as the CT is honoured and ends in a clear message on predict.
    app.selectbox(key="consult_choice_ct").set_value(consult.case.choices["mr"]).run()
    assert not app.exception
    assert app.session_state["consult_case"].case.volumes["ct"].modality == "MR"


def test_a_new_case_resets_the_viewers(env: Path, tmp_path: Path) -> None:
    from bcl_core.phantom.writer import write_case

    other = tmp_path / write_case(tmp_path, "external", 3, 0, compact=True)["case_id"]
    app = _page()
    app.button(key="consult_load_demo").click().run()
    first = _viewer_data(app, 0)
    _upload(app, case_uploads(other))
    assert not app.exception and not _errors(app)
    volume = app.session_state["consult_case"].case.volumes["ct"]
    second = _viewer_data(app, 0)
    assert second["volume"]["id"] != first["volume"]["id"]  # the new series is sent
    assert second["size_ijk"] == list(volume.size_ijk) and second["mask"] is None
    assert app.number_input(key="consult_point_ct_z").value == pytest.approx(
        volume.center_mm[2], abs=0.05)


def test_no_model_installed(monkeypatch: pytest.MonkeyPatch, env: Path, tmp_path: Path) -> None:
    monkeypatch.setenv("BCL_MODEL_DIR", str(tmp_path))
    clear_status_cache()
    app = _page()
    assert any("No trained model installed" in e for e in _errors(app))
    app.button(key="consult_load_demo").click().run()  # viewing still works
    assert not app.exception and app.session_state["consult_case"].case.ready
    app.button(key="consult_demo_points").click().run()  # marking says why it cannot outline
    assert not app.exception
    assert sum("Model sidecar not found" in e for e in _errors(app)) == 2


def test_two_sessions_never_see_each_other(env: Path) -> None:
    first = _page()
    first.button(key="consult_load_demo").click().run()
    assert first.session_state["consult_case"].case is not None
    second = _page()
    assert second.session_state["consult_case"].case is None
    assert not second.dataframe and not second.get("imgs")
    _upload(second, [f for f in case_uploads(env) if f[0].startswith("ct/")])
    assert first.session_state["consult_case"].source_name.startswith("demo")
    assert first.session_state["consult_case"].case.ready
    assert not second.session_state["consult_case"].case.ready


def test_no_identifiers_in_logs(env: Path, caplog: pytest.LogCaptureFixture) -> None:
    header = pydicom.dcmread(next((env / "ct").glob("*.dcm")), stop_before_pixels=True)
    truth = json.loads((env / "truth.json").read_text())
    with caplog.at_level(logging.DEBUG):
        app = _upload(_page(), case_uploads(env))
        _type_point(app, "ct", truth["ct_point_mm"])
        _type_point(app, "mr", truth["mr_point_mm"])
        app.button(key="consult_predict").click().run()
    assert app.metric
    text = caplog.text
    for identifier in (str(header.PatientName), str(header.PatientID), "SYNTHETIC^",
                       str(env)):
        assert identifier not in text
