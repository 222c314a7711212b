"""Real-browser end-to-end tests: the consult flow and the reader page in the browser viewer.

Playwright drives Debian's chromium, headless, with WebGL 2 on SwiftShader (no GPU). The consult
test uploads a zipped DICOM case, scrolls with the wheel, windows with a right-drag, zooms,
checks that a voxel's position reported by the viewer is ``Volume``'s own index -> LPS transform,
clicks the vertebra on the CT and the MRI, checks that all views moved to the mark and that
switching plane keeps the position, predicts, shows the Type IV heat map with its colour bar,
downloads both reports and checks the probabilities against ``bcl predict`` with the points the
page reports. The reader test opens a case at its target with the marker on, presses Enter in
a probability box (nothing is submitted) and submits through the review. Screenshots go to
``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from browser_support import (
    CHROMIUM,
    canvas,
    canvas_point,
    launch,
    scroll_to_slice,
    streamlit_server,
    viewer_attr,
    viewer_lps,
    wait_idle,
    wait_viewers,
)
from model_fixtures import case_uploads, write_small_case, write_toy_models, zip_bytes

from bcl_core.io import load_volume

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
TYPES = ("type1", "type2", "type3", "type4")
#: Toy fusion weights: probabilities depend on the crops, so the comparison means something.
WEIGHTS = [[0.8, -0.5, 0.3, 1.2, 0.6], [0.4, 0.9, -0.7, 0.5, 0.2]]

if not CHROMIUM.exists():
    pytest.skip("Debian chromium is not installed (scripts/test_browser_deps.sh installs it)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("e2e")
    case = write_small_case(base / "case")
    archive = base / "case.zip"
    archive.write_bytes(zip_bytes(case_uploads(case)))
    return {"case": case, "zip": archive, "models": write_toy_models(base / "models", WEIGHTS)}


@pytest.fixture(scope="module")
def server(setup: dict[str, Path]) -> Iterator[str]:
    env = {"BCL_MODEL_DIR": str(setup["models"]), "BCL_ORT_PROVIDER": "cpu",
           "BCL_DEMO_CASE": str(setup["case"])}
    with streamlit_server(env) as url:
        yield url


def test_upload_view_mark_predict_download(server: str, setup: dict[str, Path],
                                           tmp_path: Path) -> None:
    truth = json.loads((setup["case"] / "truth.json").read_text())
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1600, "height": 1300}, accept_downloads=True)
        try:
            shown, pdf_path, json_path = _flow(page, server, setup, truth, tmp_path)
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "consult_failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert pdf_path.read_bytes().startswith(b"%PDF")
    report = json.loads(json_path.read_text())
    labels = ["Type I", "Type II", "Type III", "Type IV"]
    for label, name in zip(labels, TYPES, strict=True):
        assert shown[label] == pytest.approx(100 * report["probabilities"][name], abs=0.051)
    predicted = _bcl_predict(setup, report["ct_point_mm"], report["mr_point_mm"])
    for name in TYPES:
        assert report["probabilities"][name] == pytest.approx(
            predicted["probabilities"][name], abs=1e-5)


def _ras(lps: list[float] | np.ndarray) -> list[float]:
    """LPS -> RAS by hand: x and y change sign."""
    return [-float(lps[0]), -float(lps[1]), float(lps[2])]


def _check_voxel_position(page, ct_dir: Path) -> None:  # noqa: ANN001
    """A voxel's mm as the viewer reports it = Volume's index -> LPS = a hand computation."""
    volume = load_volume(ct_dir)
    assert np.allclose(volume.direction, np.eye(3))  # an axial grid: the hand formula below
    ni, nj, nk = volume.size_ijk
    # Identity LPS axes: canonical RAS order flips i and j (x -> right, y -> anterior).
    i, j, k = 17, 42, nk // 3
    ras = page.evaluate(
        "v => window.__bclViewer.crosshairAtVoxel(window.__bclViewer.viewers()[0], v)",
        [ni - 1 - i, nj - 1 - j, k])
    reported = viewer_lps(page, 0)  # what the status line shows
    expected = volume.index_to_mm([i, j, k])
    by_hand = np.asarray(volume.origin) + np.asarray(volume.spacing) * np.array([i, j, k])
    assert reported == pytest.approx(expected.tolist(), abs=2e-3)
    assert reported == pytest.approx(by_hand.tolist(), abs=2e-3)
    assert _ras(expected) == pytest.approx(ras, abs=2e-3)


def _zoom(page) -> float:  # noqa: ANN001
    return float(page.evaluate("() => window.__bclViewer.viewers()[0].nv.scene.pan2Dxyzmm[3]"))


def _flow(page, url: str, setup: dict[str, Path], truth: dict,  # noqa: ANN001
          tmp_path: Path) -> tuple[dict[str, float], Path, Path]:
    """Upload, view, mark, predict, heat map, download; returns percentages and reports."""
    page.goto(url)
    wait_idle(page)
    assert page.get_by_text("Consult: cement leakage risk").is_visible()
    uploader = page.locator("[data-testid='stFileUploader']").nth(1)
    uploader.locator("input[type='file']").set_input_files(str(setup["zip"]))
    wait_idle(page)
    page.get_by_role("button", name="Load uploaded case").click()
    wait_idle(page)
    wait_viewers(page, 2)
    info = page.evaluate("() => window.__bclViewer.renderer(window.__bclViewer.viewers()[0])")
    assert info["webgl2"], info  # a real WebGL 2 context (SwiftShader here)
    _check_voxel_position(page, setup["case"] / "ct")

    ct = load_volume(setup["case"] / "ct")
    mr = load_volume(setup["case"] / "mr")
    # Wheel: one slice per notch, to the target's slice.
    target_k = ct.nearest_voxel(truth["ct_point_mm"])[0]
    before = int(viewer_attr(page, 0, "slice"))
    box = canvas(page, 0).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -100)
    page.wait_for_timeout(200)
    assert abs(int(viewer_attr(page, 0, "slice")) - before) == 1
    scroll_to_slice(page, 0, target_k)
    # Right-drag: width grows to the right, level grows downwards.
    width0, level0 = (float(v) for v in viewer_attr(page, 0, "window").split(","))
    page.mouse.move(box["x"] + 100, box["y"] + 100)
    page.mouse.down(button="right")
    page.mouse.move(box["x"] + 160, box["y"] + 130, steps=6)
    page.mouse.up(button="right")
    width1, level1 = (float(v) for v in viewer_attr(page, 0, "window").split(","))
    assert width1 > width0 and level1 > level0
    assert page.locator("[data-testid=bclv-preset]").first.input_value() == "manual"
    # Zoom: the + button, Ctrl+wheel, then back to 1:1.
    page.locator("[data-testid=bclv-zoom-in]").first.click()
    assert _zoom(page) == pytest.approx(1.25)
    page.keyboard.down("Control")
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -100)
    page.keyboard.up("Control")
    page.wait_for_timeout(200)
    assert _zoom(page) > 1.3
    page.locator("[data-testid=bclv-reset]").first.click()
    assert _zoom(page) == pytest.approx(1.0)

    # Click to mark on the CT, then on the MRI (scrolled to the target's slice first).
    _click_mark(page, 0, truth["ct_point_mm"], ct, outlined=1)
    mr_slice = mr.nearest_voxel(truth["mr_point_mm"])[0]
    scroll_to_slice(page, 1, mr_slice)
    _click_mark(page, 1, truth["mr_point_mm"], mr, outlined=2)
    # All views follow the mark; switching plane keeps the position.
    marked = _marked_points(page)
    assert viewer_lps(page, 0) == pytest.approx(marked[0], abs=0.06)
    page.locator("[data-testid=bclv-plane-sagittal]").first.click()
    assert viewer_attr(page, 0, "plane") == "sagittal"
    assert viewer_lps(page, 0) == pytest.approx(marked[0], abs=0.06)
    page.locator("[data-testid=bclv-plane-axial]").first.click()
    assert int(viewer_attr(page, 0, "slice")) == ct.nearest_voxel(marked[0])[0]
    ARTIFACTS.mkdir(exist_ok=True)
    page.get_by_text("2. Mark the fractured vertebra").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "consult_marked.png"))

    page.get_by_role("button", name="Predict leakage risk").click()
    wait_idle(page)
    page.get_by_text("Model estimate per leakage type").wait_for(timeout=90_000)
    wait_idle(page)
    metrics = page.locator("[data-testid='stMetric']")
    metrics.filter(has_text="Type IV").first.wait_for(timeout=30_000)
    shown = {}
    for metric in metrics.all():
        label = metric.locator("[data-testid='stMetricLabel']").inner_text().strip()
        shown[label] = float(metric.locator("[data-testid='stMetricValue']").inner_text()
                             .replace("%", "").strip())
    # The heat-map choice is with the results; the map and its colour bar show on both series.
    heat_choice = page.locator("[data-testid=stRadio]").filter(has_text="Heat map on the images")
    heat_choice.get_by_text("Type IV: spinal canal").click()
    wait_idle(page)
    page.wait_for_function(
        "() => window.__bclViewer.viewers().every(v => "
        "(v.root.getAttribute('data-bclv-heat') || '').endsWith('-type4'))", timeout=30_000)
    bars = page.locator("[data-testid=bclv-colorbar]")
    for index in (0, 1):
        text = bars.nth(index).inner_text()
        assert "Heat map: Type IV" in text and "0.5" in text and re.search(r"\b1\b", text)
    page.get_by_text("2. Mark the fractured vertebra").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "consult_heatmap.png"))
    with page.expect_download() as pdf_download:
        page.get_by_role("button", name="Download PDF report").click()
    pdf_path = tmp_path / "report.pdf"
    pdf_download.value.save_as(pdf_path)
    with page.expect_download() as json_download:
        page.get_by_role("button", name="Download JSON").click()
    json_path = tmp_path / "report.json"
    json_download.value.save_as(json_path)
    page.screenshot(path=str(ARTIFACTS / "consult_results.png"), full_page=True)
    page.get_by_role("link", name="Explain to the patient (plain-language view)").click()
    wait_idle(page)
    page.get_by_text("Your estimated risk").wait_for(timeout=30_000)
    return shown, pdf_path, json_path


def _marked_points(page) -> list[list[float]]:  # noqa: ANN001
    """The points of the "Vertebra outlined ... at (x, y, z) mm" messages, in order."""
    texts = page.get_by_text("Vertebra outlined").all_inner_texts()
    return [[float(v) for v in re.search(r"at \(([^)]*)\) mm", t).group(1).split(",")]
            for t in texts]


def _click_mark(page, index: int, target_mm: list[float], volume,  # noqa: ANN001
                outlined: int) -> None:
    """Click the target in viewer ``index``; the outline and the message follow."""
    x, y = canvas_point(page, index, _ras(target_mm))
    page.mouse.click(x, y)
    wait_idle(page)
    page.get_by_text("Vertebra outlined").nth(outlined - 1).wait_for(timeout=60_000)
    page.wait_for_function(
        "i => window.__bclViewer.viewers()[i].root.getAttribute('data-bclv-mask')",
        arg=index, timeout=30_000)
    marked = _marked_points(page)[outlined - 1]
    # Within one voxel of the target in-plane, half a slice across (the slice clicked on).
    assert np.abs(np.asarray(marked) - np.asarray(target_mm)).max() <= max(volume.spacing)


def _bcl_predict(setup: dict[str, Path], ct_point: list[float], mr_point: list[float]
                 ) -> dict[str, dict[str, float]]:
    def point(values: list[float]) -> str:
        return ",".join(repr(float(v)) for v in values)

    env = {**os.environ, "BCL_MODEL_DIR": str(setup["models"]), "BCL_ORT_PROVIDER": "cpu"}
    done = subprocess.run(["bcl", "predict", str(setup["zip"]), f"--ct-point={point(ct_point)}",
                           f"--mr-point={point(mr_point)}", "--json"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# --- reader page ------------------------------------------------------------------------------
TARGET = {"ct_point_mm": [2.0, 2.0, 4.0], "mr_point_mm": [2.0, 2.0, 2.0], "level": "L1"}


@pytest.fixture(scope="module")
def reader_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    from sqlalchemy import update
    from test_study_support import FAST_HASHER, build_world, write_case

    from bcl_core.study import StudyDatabase
    from bcl_core.study.cases import study_folder
    from bcl_core.study.models import Case

    base = tmp_path_factory.mktemp("reader")
    data = base / "data"
    url = f"sqlite:///{base / 'study.sqlite'}"
    db = StudyDatabase(url=url, data_dir=data, password_hasher=FAST_HASHER)
    db.upgrade()
    world = build_world(db, n_cases=1)
    case_dir = write_case(data / study_folder(world.study_id) / "cases", "C0001", seed=1)
    db.run(lambda session: session.execute(update(Case).values(target_json=json.dumps(TARGET))),
           write=True)
    db.dispose()
    with streamlit_server({"BCL_DATABASE_URL": url, "BCL_STUDY_DIR": str(data)}) as server_url:
        yield server_url, case_dir


def test_reader_opens_at_the_target_and_enter_never_submits(
        reader_server: tuple[str, Path]) -> None:
    from test_study_support import PASSWORD

    url, case_dir = reader_server
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1500, "height": 1300})
        try:
            page.goto(f"{url}/reader_study")
            wait_idle(page)
            page.get_by_label("Username").fill("reader")
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            wait_idle(page)
            wait_viewers(page, 2)
            for index, name in enumerate(("ct", "mr")):
                volume = load_volume(case_dir / name)
                voxel = volume.nearest_voxel(TARGET[f"{name}_point_mm"])[::-1]
                assert viewer_lps(page, index) == pytest.approx(
                    volume.index_to_mm(voxel).tolist(), abs=0.01)  # on the target's voxel
                assert page.evaluate(
                    "i => window.__bclViewer.markerOn(window.__bclViewer.viewers()[i])", index)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "reader_target.png"), full_page=True)
            # Enter in a probability box submits nothing.
            box = page.get_by_label("Probability (0-100, optional)").first
            box.fill("55")
            box.press("Enter")
            wait_idle(page)
            assert page.get_by_text("Check your answers").count() == 0
            assert page.get_by_text("saved").count() == 0
            # Answer, review, then the explicit submit saves.
            radios = page.locator("[data-testid='stRadio']")
            for index in range(radios.count()):
                radios.nth(index).get_by_text("No", exact=True).click()
            page.get_by_role("button", name="Review answers").click()
            wait_idle(page)
            page.get_by_text("Check your answers").wait_for()
            page.get_by_role("button", name="Submit (locks the answer)").click()
            wait_idle(page)
            page.get_by_text("saved").first.wait_for(timeout=30_000)
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "reader_failure.png"), full_page=True)
            raise
        finally:
            browser.close()
