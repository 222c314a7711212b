"""`bcl demo` as a process: a stop signal stops the app too, and a busy port is named.

Runs the real command in a subprocess (the real streamlit server, on a free port) and checks
the operating system's view afterwards: the port can be bound again and no child survives.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from model_fixtures import write_small_case

from bcl_core.cli import main

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc (Linux)")


@pytest.fixture(scope="module")
def small_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_small_case(tmp_path_factory.mktemp("case"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])


def _port_can_be_bound(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError:
            return False
    return True


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc/<n>/stat)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def _wait_healthy(port: int, process: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"bcl demo ended early with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health",
                                        timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail("the app did not become healthy")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_stops_the_app_and_frees_the_port(stop: signal.Signals, small_case: Path,
                                                      tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "BCL_MODEL_DIR": str(tmp_path / "no-models"),
           "BCL_STUDY_DIR": str(tmp_path / "study")}
    env.pop("BCL_DEMO_CASE", None)
    demo = subprocess.Popen(
        [sys.executable, "-m", "bcl_core.cli", "demo", "--port", str(port), "--case",
         str(small_case)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    children: list[int] = []
    try:
        _wait_healthy(port, demo)
        children = _children(demo.pid)
        assert children, "the app should run as a child of bcl demo"
        demo.send_signal(stop)
        assert demo.wait(timeout=30) == 0
        assert not [pid for pid in children if _alive(pid)], "the app outlived bcl demo"
        assert _port_can_be_bound(port)
    finally:
        for pid in [demo.pid, *children]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        demo.wait(timeout=10)


def test_busy_port_names_the_option_that_picks_another(small_case: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    with socket.socket() as holder:
        holder.bind(("", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert main(["demo", "--port", str(port), "--case", str(small_case)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: Port {port} is already in use")
    assert "--port" in err and "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize("value", ["0", "70000", "http"])
def test_port_out_of_range_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["demo", "--port", value])
    assert stopped.value.code == 2
    assert "port number 1-65535" in capsys.readouterr().err
