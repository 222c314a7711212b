"""``bcl demo``: make (once) or find the synthetic demo case and open the app with it.

``bcl demo [--port N] [--case DIR] [--prepare-only]`` writes the demo case on first use (see
:mod:`bcl_core.demo_case`), then runs ``streamlit run app.py`` from the repository root (so
``.streamlit/config.toml`` applies) with ``BCL_DEMO_CASE`` set: the Consult page's "Load demo
case" button opens it at once.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bcl_core import SYNTHETIC_NOTICE
from bcl_core.errors import InputError

#: The app's entry point, next to the ``bcl_core`` package.
APP_PATH = Path(__file__).resolve().parents[2] / "app.py"
DEFAULT_PORT = 8501


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo", help="open the app with a synthetic demo case",
        description="Create the synthetic demo case on first use (about 20 s) and start the "
        "app with it ready to load. " + SYNTHETIC_NOTICE)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port of the app")
    parser.add_argument("--case", help="use this case folder (ct/, mr/, truth.json) instead")
    parser.add_argument("--prepare-only", action="store_true",
                        help="only create or find the demo case and print its folder")
    parser.set_defaults(func=run)


def streamlit_command(port: int) -> list[str]:
    """The command that serves the app on ``port``."""
    return [sys.executable, "-m", "streamlit", "run", str(APP_PATH), "--server.port", str(port),
            "--server.headless", "true"]


def run(args: argparse.Namespace) -> int:
    """Prepare the case, then serve the app until interrupted; returns the exit code."""
    from bcl_core.app_status import model_status
    from bcl_core.demo_case import DEMO_CASE_ENV, demo_case_dir

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
    env = {**os.environ, DEMO_CASE_ENV: str(case)}
    try:
        return subprocess.run(streamlit_command(args.port), cwd=APP_PATH.parent, env=env,
                              check=False).returncode
    except KeyboardInterrupt:
        return 0
