"""``bcl demo``: finds or writes the demo case, then serves app.py with BCL_DEMO_CASE set."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from model_fixtures import write_small_case

from bcl_core.cli import main
from bcl_core.clinic.demo_case import demo_case_dir, demo_points
from bcl_core.commands import demo


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

    def record_serve(command, cwd, env):  # noqa: ANN001 - demo.serve stand-in
        calls.append((command, cwd, env))
        return 0

    monkeypatch.setenv("BCL_DEMO_CASE", str(small_case))
    monkeypatch.setenv("BCL_MODEL_DIR", str(tmp_path))
    monkeypatch.delenv("BCL_STUDY_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(demo, "serve", record_serve)
    port = _free_port()
    assert main(["demo", "--port", str(port)]) == 0
    (command, cwd, env), = calls
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith("app.py")
    assert command[command.index("--server.port") + 1] == str(port)
    assert Path(cwd) == Path(command[4]).parent  # so .streamlit/config.toml applies
    assert env["BCL_DEMO_CASE"] == str(small_case)
    # The app runs from the repository, but uses the study database `bcl study` would use
    # from the folder `bcl demo` was started in (./study_data there).
    assert Path(env["BCL_STUDY_DIR"]) == tmp_path / "study_data"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])


def test_without_a_configured_case_the_phantom_demo_is_used(
        monkeypatch: pytest.MonkeyPatch, small_case: Path) -> None:
    from bcl_core.phantom import demo as phantom_demo

    monkeypatch.delenv("BCL_DEMO_CASE", raising=False)
    monkeypatch.setattr(phantom_demo, "cached_demo_case", lambda: small_case)
    assert demo_case_dir() == small_case


def test_bad_case_folder_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    assert main(["demo", "--case", str(tmp_path), "--prepare-only"]) == 2
    assert "is not a case folder" in capsys.readouterr().err


def test_demo_points_come_from_truth(small_case: Path, tmp_path: Path) -> None:
    points = demo_points(small_case)
    assert points is not None and set(points) == {"ct", "mr"} and len(points["ct"]) == 3
    assert demo_points(tmp_path) is None
