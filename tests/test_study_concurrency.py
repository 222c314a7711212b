"""The concurrency and crash benchmark, small, so its checks themselves stay tested."""

from __future__ import annotations

import sys

import pytest


@pytest.mark.slow  # spawns processes; about 30 s
def test_small_concurrency_and_crash_run_passes(repo_root, tmp_path):
    sys.path.insert(0, str(repo_root / "benchmarks"))
    import study_concurrency

    load = study_concurrency.concurrency(f"sqlite:///{tmp_path / 'load.sqlite'}", tmp_path,
                                         processes=4, reads=15)
    assert (load["stored_reads"], load["lost"], load["duplicated"], load["errors_surfaced"]) == (
        60, 0, 0, 0)
    killed = study_concurrency.crash(f"sqlite:///{tmp_path / 'crash.sqlite'}",
                                     tmp_path / "crash", kills=1, seed=1)
    assert killed["all_ok"], killed
