"""The app frame (app.py): navigation, sidebar on every page, About page, torch never imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from model_fixtures import TOY_VERSION, write_small_case, write_toy_models
from streamlit.testing.v1 import AppTest

from bcl_core import SYNTHETIC_NOTICE
from bcl_core.clinic.model_status import (
    CPU_FORCED_WORDS,
    CPU_WORDS,
    GPU_WORDS,
    clear_status_cache,
    model_status,
    provider_words,
)
from bcl_core.predict.runtime import clear_model_cache

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
PAGES = ["pages/consult.py", "pages/patient_view.py", "pages/reader_study.py",
         "pages/study_admin.py", "pages/evaluation.py", "pages/about.py"]


@pytest.fixture(scope="module")
def toy_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_models(tmp_path_factory.mktemp("models"))


@pytest.fixture()
def with_models(monkeypatch: pytest.MonkeyPatch, toy_models: Path) -> Path:
    monkeypatch.setenv("BCL_MODEL_DIR", str(toy_models))
    monkeypatch.setenv("BCL_ORT_PROVIDER", "cpu")
    clear_model_cache()
    clear_status_cache()
    return toy_models


def _sidebar_text(app: AppTest) -> str:
    parts = [str(getattr(e, "value", "")) for e in app.sidebar.markdown]
    parts += [str(e.value) for e in app.sidebar.caption] + [str(e.value) for e in
                                                            app.sidebar.warning]
    return "\n".join(parts)


def test_every_page_runs_with_the_sidebar(with_models: Path, monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    monkeypatch.setenv("BCL_STUDY_DIR", str(tmp_path))
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.run()
    assert not app.exception
    assert app.title[0].value.startswith("Consult")  # the default page
    # The frame writes the sidebar before any page runs, so every page has it. (AppTest does not
    # capture the sidebar after switch_page, so it is checked on the first run; the browser test
    # sees it on the results page.)
    text = _sidebar_text(app)
    assert SYNTHETIC_NOTICE in text
    assert f"Model {TOY_VERSION}" in text
    assert f"Runs on: {CPU_FORCED_WORDS}" in text
    titles = {}
    for page in PAGES:
        app.switch_page(page).run()
        assert not app.exception, page
        titles[page] = app.title[0].value if app.title else ""
        # Every page of ours states the synthetic-data notice in its own body too.
        if page in ("pages/consult.py", "pages/patient_view.py", "pages/about.py"):
            assert any(SYNTHETIC_NOTICE in w.value for w in app.warning), page
    assert titles["pages/about.py"] == "About BCL Predict"
    assert titles["pages/patient_view.py"].startswith("Cement leakage")


def test_sidebar_says_no_trained_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BCL_MODEL_DIR", str(tmp_path))
    clear_status_cache()
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.run()
    assert not app.exception
    assert "Model: no trained model installed" in _sidebar_text(app)
    app.switch_page("pages/about.py").run()
    assert not app.exception
    assert any("No trained model installed" in e.value for e in app.error)
    assert any("No model card installed" in i.value for i in app.info)


def test_about_shows_the_model_card(with_models: Path) -> None:
    (with_models / "model_card.json").write_text(json.dumps(
        {"name": "fusion", "intended_use": "research on synthetic data", "metrics":
         {"auroc_type4": 0.812}}))
    try:
        app = AppTest.from_file(str(APP), default_timeout=60)
        app.run()
        app.switch_page("pages/about.py").run()
        text = "\n".join(m.value for m in app.markdown)
        assert "research on synthetic data" in text and "auroc_type4: 0.812" in text
    finally:
        (with_models / "model_card.json").unlink()


def test_provider_in_plain_words(monkeypatch: pytest.MonkeyPatch, with_models: Path) -> None:
    import onnxruntime as ort

    assert provider_words("CUDA") == GPU_WORDS == "GPU (CUDA)"
    assert provider_words("CPU") == CPU_FORCED_WORDS  # BCL_ORT_PROVIDER=cpu here
    monkeypatch.delenv("BCL_ORT_PROVIDER")
    clear_model_cache()
    clear_status_cache()
    status = model_status()
    assert status.ready and status.version == TOY_VERSION
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert status.provider == CPU_WORDS == "CPU: no GPU found"
    else:
        assert status.provider in (GPU_WORDS, CPU_WORDS)


_FLOW = textwrap.dedent("""
    import json, sys
    from streamlit.testing.v1 import AppTest
    truth = json.load(open(sys.argv[2]))
    app = AppTest.from_file(sys.argv[1], default_timeout=120)
    app.run()
    app.button(key="consult_load_demo").click().run()
    for index, role in enumerate(("ct", "mr")):
        for axis, value in zip("xyz", truth[role + "_point_mm"]):
            app.number_input(key=f"consult_point_{role}_{axis}").set_value(value)
        [b for b in app.button if b.label == "Mark this point"][index].click().run()
    app.button(key="consult_predict").click().run()
    metrics = [m.value for m in app.metric]
    app.switch_page("pages/patient_view.py").run()
    app.switch_page("pages/about.py").run()
    print(json.dumps({"torch": "torch" in sys.modules, "metrics": metrics,
                      "exception": bool(app.exception)}))
""")


def test_the_app_process_never_imports_torch(toy_models: Path, tmp_path: Path) -> None:
    case = write_small_case(tmp_path)
    env = {**os.environ, "BCL_MODEL_DIR": str(toy_models), "BCL_DEMO_CASE": str(case),
           "BCL_ORT_PROVIDER": "cpu"}
    done = subprocess.run([sys.executable, "-c", _FLOW, str(APP), str(case / "truth.json")],
                          env=env, capture_output=True, text=True, timeout=300, cwd=ROOT,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["metrics"] == ["12.0 %", "34.0 %", "56.0 %", "78.0 %"]
    assert not report["exception"]
    assert report["torch"] is False
