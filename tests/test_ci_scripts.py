"""The CI scripts: ``scripts/test.sh`` lints before it tests, ``scripts/lint.sh`` runs ruff and mypy.

Each script is copied into an empty folder (so no service helper is beside it) and run with a
stand-in ``python3`` first on ``PATH`` that records every call and fails the tool named in
``FAIL``: what the script does is then read from the record, nothing is installed or tested.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

FAKE_PYTHON = """#!/usr/bin/env bash
echo "$*" >> "$CALLS"
for tool in $FAIL; do
  if [ "$2" = "$tool" ]; then exit 1; fi
done
exit 0
"""


def _run(script: str, tmp_path: Path, fail: str) -> tuple[int, list[str]]:
    work = tmp_path / "repo"
    (work / "scripts").mkdir(parents=True)
    for name in (script, "lint.sh"):  # test.sh runs lint.sh
        shutil.copy(REPO_ROOT / "scripts" / name, work / "scripts" / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python3"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    calls = tmp_path / "calls.txt"
    calls.touch()
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "CALLS": str(calls), "FAIL": fail}
    result = subprocess.run(["bash", str(work / "scripts" / script)], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    return result.returncode, calls.read_text().splitlines()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("fail", ["ruff", "mypy"])
def test_a_lint_or_type_error_fails_the_test_run_before_pytest(tmp_path: Path, fail: str) -> None:
    rc, calls = _run("test.sh", tmp_path, fail=fail)
    assert rc != 0
    assert [call.split()[1] for call in calls] == ["pip", "ruff", "mypy"]
    assert calls[1] == "-m ruff check ."


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_clean_lint_goes_on_to_pytest(tmp_path: Path) -> None:
    rc, calls = _run("test.sh", tmp_path, fail="")
    assert rc == 0
    assert [call.split()[1] for call in calls] == ["pip", "ruff", "mypy", "pytest"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize(("fail", "expected_rc"), [("", 0), ("ruff", 1), ("mypy", 1),
                                                   ("ruff mypy", 1)])
def test_lint_script_runs_ruff_and_mypy_and_fails_if_either_fails(
        tmp_path: Path, fail: str, expected_rc: int) -> None:
    rc, calls = _run("lint.sh", tmp_path, fail=fail)
    assert rc == expected_rc
    assert calls == ["-m ruff check .",
                     "-m mypy --explicit-package-bases bcl_core app.py pages"]
