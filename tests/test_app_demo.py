"""``bcl demo``: finds or writes the demo case, then serves app.py with BCL_DEMO_CASE set."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from model_fixtures import write_small_case

from bcl_core.cli import main
from bcl_core.commands import demo
from bcl_core.demo_case import demo_case_dir, demo_points


@pytest.fixture(scope="module")
def small_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_small_case(tmp_path_factory.mktemp("case"))


def test_prepare_only_prints_the_case(small_case: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BCL_DEMO_CASE", raising=False)
    assert main(["demo", "--case", str(small_case), "--prepare-only"]) == 0
    assert f"demo case: {small_case}" in capsys.readouterr().out


def test_serves_the_app_with_the_case(small_case: Path, monkeypatch: pytest.MonkeyPatch,
                                      tmp_path: Path) -> None:
    calls = []

    def fake_run(command, cwd, env, check):  # noqa: ANN001 - subprocess.run stand-in
        calls.append((command, cwd, env))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setenv("BCL_DEMO_CASE", str(small_case))
    monkeypatch.setenv("BCL_MODEL_DIR", str(tmp_path))
    monkeypatch.setattr(demo.subprocess, "run", fake_run)
    assert main(["demo", "--port", "8765"]) == 0
    (command, cwd, env), = calls
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith("app.py")
    assert command[command.index("--server.port") + 1] == "8765"
    assert Path(cwd) == Path(command[4]).parent  # so .streamlit/config.toml applies
    assert env["BCL_DEMO_CASE"] == str(small_case)


def test_without_a_configured_case_the_phantom_demo_is_used(
        monkeypatch: pytest.MonkeyPatch, small_case: Path) -> None:
    from bcl_core.phantom import demo as phantom_demo

    monkeypatch.delenv("BCL_DEMO_CASE", raising=False)
    monkeypatch.setattr(phantom_demo, "demo_case_dir", lambda: small_case)
    assert demo_case_dir() == small_case


def test_bad_case_folder_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    assert main(["demo", "--case", str(tmp_path), "--prepare-only"]) == 2
    assert "is not a case folder" in capsys.readouterr().err


def test_demo_points_come_from_truth(small_case: Path, tmp_path: Path) -> None:
    points = demo_points(small_case)
    assert points is not None and set(points) == {"ct", "mr"} and len(points["ct"]) == 3
    assert demo_points(tmp_path) is None
