"""The loader benchmark script runs, and both readers agree on what it writes (tiny size)."""

from __future__ import annotations

import pytest
from conftest import load_benchmark


def test_benchmark_script_runs_small() -> None:
    module = load_benchmark("bench_dicom_load")
    for signed in (False, True):
        figures = module.run(slices=12, size=32, repeats=1, signed=signed)
        assert figures["bcl_median_s"] > 0 and figures["sitk_median_s"] > 0
        assert figures["ratio_bcl_over_sitk"] == pytest.approx(
            figures["bcl_median_s"] / figures["sitk_median_s"])
