"""The loader benchmark script runs, and both readers agree on what it writes (tiny size)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def test_benchmark_script_runs_small(repo_root: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "bench_dicom_load", repo_root / "benchmarks" / "bench_dicom_load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for signed in (False, True):
        figures = module.run(slices=12, size=32, repeats=1, signed=signed)
        assert figures["bcl_median_s"] > 0 and figures["sitk_median_s"] > 0
        assert figures["ratio_bcl_over_sitk"] == pytest.approx(
            figures["bcl_median_s"] / figures["sitk_median_s"])
