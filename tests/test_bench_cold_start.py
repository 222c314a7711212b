"""benchmarks/bench_cold_start.py runs the three commands side by side and judges the targets."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import load_benchmark
from model_fixtures import write_small_case, write_toy_models

bench = load_benchmark("bench_cold_start")


@pytest.mark.slow
def test_cold_start_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCL_MODEL_DIR", str(write_toy_models(tmp_path / "models")))
    report = bench.measure(write_small_case(tmp_path / "case"), repeats=5)
    for name in ("sitk_read_s", "bcl_predict_s", "bcl_help_s", "roi_s"):
        assert len(report["runs"][name]) == 5
        assert report["median"][name] == pytest.approx(
            sorted(report["runs"][name])[2], abs=1e-3)  # the middle of five
    assert report["predict_minus_sitk_s"] == pytest.approx(
        report["median"]["bcl_predict_s"] - report["median"]["sitk_read_s"], abs=2e-3)
    assert len(report["targets_met"]) == 3


def test_fewer_than_five_repeats_is_refused(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.argv", ["bench_cold_start.py", "--repeats", "3"])
    with pytest.raises(SystemExit):
        bench.main()
    assert "at least 5" in capsys.readouterr().err
