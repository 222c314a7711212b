"""``bcl demo``: make (once) or find the synthetic demo case and open the app with it.

``bcl demo [--port N] [--case DIR] [--prepare-only]`` writes the demo case on first use (see
:mod:`bcl_core.clinic.demo_case`), then runs ``streamlit run app.py`` from the repository root (so
``.streamlit/config.toml`` applies) with ``BCL_DEMO_CASE`` set: the Consult page's "Load demo
case" button opens it at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from bcl_core import SYNTHETIC_NOTICE
from bcl_core.commands import command_help
from bcl_core.errors import InputError

logger = logging.getLogger(__name__)

#: The app's entry point, next to the ``bcl_core`` package.
APP_PATH = Path(__file__).resolve().parents[2] / "app.py"
DEFAULT_PORT = 8501
#: Signals that stop ``bcl demo``; each is passed on to the app so it stops too.
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: How long the app may take to shut down after a stop signal before it is killed.
STOP_GRACE_S = 10.0
#: How many ports above a busy one are tried for a suggestion.
_PORT_SUGGESTIONS = 50


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo", help=command_help("demo"),
        description="Create the synthetic demo case on first use (about 20 s) and start the "
        "app with it ready to load. " + SYNTHETIC_NOTICE)
    parser.add_argument("--port", type=port_number, default=DEFAULT_PORT,
                        help=f"port of the app (default {DEFAULT_PORT}); pick another when that "
                        "one is in use")
    parser.add_argument("--case", help="use this case folder (ct/, mr/, truth.json) instead")
    parser.add_argument("--prepare-only", action="store_true",
                        help="only create or find the demo case and print its folder")
    parser.set_defaults(func=run)


def port_number(text: str) -> int:
    """``--port`` value: an integer 1-65535.

    Raises
    ------
    argparse.ArgumentTypeError
        Anything else.
    """
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 1-65535, got {text!r}")
    return port


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now (on every interface, as the app does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the app's server does: a port left in TIME_WAIT by a stopped server is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError:
            return False
    return True


def check_port(port: int) -> None:
    """Refuse a busy port with a message that says how to pick another.

    Raises
    ------
    InputError
        If something already listens on ``port``.
    """
    if port_is_free(port):
        return
    free = next((p for p in range(port + 1, min(port + _PORT_SUGGESTIONS, 65535) + 1)
                 if port_is_free(p)), None)
    hint = f"`bcl demo --port {free}`" if free else "`bcl demo --port N` with a free port N"
    raise InputError(f"Port {port} is already in use (another app, or an earlier `bcl demo` "
                     f"still running); stop it, or start on another port with {hint}.")


def app_environment(case: Path) -> dict[str, str]:
    """The app's environment: ours, plus the demo case and the study database's location.

    The study location is resolved here, in the caller's folder, because the app runs from the
    repository: a relative ``./study_data`` would otherwise name another folder than the one
    ``bcl study`` uses from the same shell.
    """
    from bcl_core.clinic.demo_case import DEMO_CASE_ENV
    from bcl_core.study.db import DATA_DIR_ENV, resolve_location

    _url, study_dir = resolve_location()
    return {**os.environ, DEMO_CASE_ENV: str(case), DATA_DIR_ENV: str(study_dir)}


def serve(command: Sequence[str], cwd: Path, env: Mapping[str, str],
          grace_s: float = STOP_GRACE_S) -> int:
    """Run the app server until it ends or ``bcl demo`` is told to stop.

    The server runs in its own process group; SIGTERM, SIGINT (Ctrl+C) and SIGHUP sent to
    ``bcl demo`` are passed on to it and the server is waited for (killed after ``grace_s``),
    so stopping ``bcl demo`` never leaves the app holding its port.

    Parameters
    ----------
    command
        The server command line.
    cwd
        Its working folder.
    env
        Its environment.
    grace_s
        Seconds the server gets to shut down after a stop signal.

    Returns
    -------
    int
        0 when stopped by a signal, else the server's exit code.
    """
    stop_requested: list[float] = []
    children: list[subprocess.Popen[Any]] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        if not stop_requested:
            stop_requested.append(time.monotonic())
        for started in children:
            if started.returncode is None:
                _signal_group(started, signum)

    previous = {sig: signal.signal(sig, forward) for sig in STOP_SIGNALS}
    try:
        child = subprocess.Popen(list(command), cwd=cwd, env=dict(env), start_new_session=True)
        children.append(child)
        if stop_requested:  # a stop signal came while the server was being started
            _signal_group(child, signal.SIGTERM)
        while True:
            try:
                code = child.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if stop_requested and time.monotonic() - stop_requested[0] > grace_s:
                    logger.warning("the app did not stop within %.0f s; killing it", grace_s)
                    _signal_group(child, signal.SIGKILL)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for started in children:
            if started.poll() is None:  # an error in this process: leave nothing behind
                _signal_group(started, signal.SIGKILL)
                started.wait()
    return 0 if stop_requested else code


def _signal_group(child: subprocess.Popen[Any], signum: int) -> None:
    try:
        os.killpg(child.pid, signum)
    except ProcessLookupError:
        pass  # already gone


def streamlit_command(port: int) -> list[str]:
    """The command that serves the app on ``port``."""
    return [sys.executable, "-m", "streamlit", "run", str(APP_PATH), "--server.port", str(port),
            "--server.headless", "true"]


def run(args: argparse.Namespace) -> int:
    """Prepare the case, then serve the app until stopped; returns the exit code."""
    from bcl_core.clinic.demo_case import DEMO_CASE_ENV, demo_case_dir
    from bcl_core.clinic.model_status import model_status

    if not args.prepare_only:
        check_port(args.port)  # before the 20 s of preparing the case
    if args.case:
        os.environ[DEMO_CASE_ENV] = str(Path(args.case).resolve())
    if not args.prepare_only and not APP_PATH.is_file():
        raise InputError(f"The app is not next to the package ({APP_PATH} is missing); run "
                         "`bcl demo` from a source checkout (pip install -e .).")
    sys.stderr.write("Preparing the synthetic demo case (the first time takes about 20 s) ...\n")
    case = demo_case_dir()
    sys.stdout.write(f"demo case: {case}\n")
    if args.prepare_only:
        return 0
    status = model_status()
    if not status.ready:
        sys.stdout.write("note: no trained model installed; the app opens and shows the case, "
                         "predictions need the models in models/.\n")
    sys.stdout.write(f"open http://localhost:{args.port} (Ctrl+C stops the app)\n")
    sys.stdout.flush()
    return serve(streamlit_command(args.port), APP_PATH.parent, app_environment(case))
