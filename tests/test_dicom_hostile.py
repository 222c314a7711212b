"""Small inputs that claim to be huge: refused from their headers, in bounded memory, no disk.

Each hostile archive is written by the generators of ``benchmarks/bench_hostile_input.py`` and
run through ``bcl inspect`` and the app's upload path in a fresh process whose peak resident
memory comes from ``os.wait4`` and whose files are capped at 16 MiB (so extracting a bomb to
disk fails instead of passing unnoticed). The bar is the issue's: under 1 GB.
"""

from __future__ import annotations

import gc
import os
import weakref
from pathlib import Path

import numpy as np
import pytest
from conftest import load_benchmark
from dicom_factory import SAGITTAL, ramp, write_series

import bcl_core.io
from bcl_core.clinic.consult import ConsultCase, load_case, new_consult
from bcl_core.errors import InputLimitError, NoImagesError
from bcl_core.io import inspect_input
from bcl_core.io.limits import MAX_SERIES_SIZE_ENV, SeriesSizeLimit, series_size_limit

bench = load_benchmark("bench_hostile_input")

#: The issue's bar for peak resident memory (1 GB, in MiB as ``ru_maxrss`` / 1024 gives).
PEAK_RSS_BAR_MIB = 1e9 / 2**20


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    return {name: write(folder / name) for name, write in bench.HOSTILE_INPUTS.items()}


@pytest.fixture()
def private_env(tmp_path: Path) -> dict[str, str]:
    """The environment with TMPDIR pointing at an empty folder checked afterwards."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return {**os.environ, "TMPDIR": str(tmp)}


def _nothing_written(env: dict[str, str]) -> bool:
    return not any(Path(env["TMPDIR"]).rglob("*"))


# --- item: decoded size from the headers, before decoding or extracting ---------------------
def test_huge_matrix_zip_is_refused_by_inspect_in_bounded_memory(
        hostile: dict[str, Path], private_env: dict[str, str]) -> None:
    archive = hostile["huge_matrix.zip"]
    assert archive.stat().st_size < 1_000_000  # the "0.87 MB zip"
    run = bench.run_measured(bench.inspect_argv(archive), env=private_env)
    assert run.returncode == 2, run.stderr
    # 6144 x 6144 x 12 x 2 bytes = 905,969,664 B = 0.84375 GiB (by hand).
    assert "0.84 GiB" in run.stderr and "6144 x 6144 pixels" in run.stderr
    assert MAX_SERIES_SIZE_ENV in run.stderr and "Traceback" not in run.stderr
    assert run.peak_rss_mib < PEAK_RSS_BAR_MIB, run.peak_rss_mib
    assert _nothing_written(private_env)


def test_huge_matrix_zip_is_refused_by_the_app_upload_path_in_bounded_memory(
        hostile: dict[str, Path], private_env: dict[str, str]) -> None:
    run = bench.run_measured(bench.app_load_argv(hostile["huge_matrix.zip"]), env=private_env)
    assert run.stdout.startswith("loaded: "), run.stdout + run.stderr
    assert "no axial CT" in run.stdout and "0.84 GiB" in run.stdout
    assert run.peak_rss_mib < PEAK_RSS_BAR_MIB, run.peak_rss_mib
    assert _nothing_written(private_env)


@pytest.mark.parametrize("path", ["inspect", "app"])
def test_zip_of_zeros_is_refused_without_writing_to_disk(
        hostile: dict[str, Path], private_env: dict[str, str], path: str) -> None:
    archive = hostile["zeros.zip"]
    argv = bench.inspect_argv(archive) if path == "inspect" else bench.app_load_argv(archive)
    run = bench.run_measured(argv, env=private_env)
    # Extracting it would hit the 16 MiB file cap and read as a damaged zip instead.
    assert "1 not DICOM" in run.stdout + run.stderr, run.stdout + run.stderr
    assert "damaged" not in run.stdout + run.stderr
    assert run.peak_rss_mib < PEAK_RSS_BAR_MIB
    assert _nothing_written(private_env)


def test_file_declaring_millions_of_frames_is_set_aside(
        hostile: dict[str, Path], private_env: dict[str, str]) -> None:
    run = bench.run_measured(bench.inspect_argv(hostile["many_frames.zip"]), env=private_env,
                             timeout_s=120)
    assert run.returncode == 2, run.stderr
    assert "more frames than the size limit" in run.stderr
    assert run.peak_rss_mib < PEAK_RSS_BAR_MIB


def test_huge_header_element_is_skipped_not_read(
        hostile: dict[str, Path], private_env: dict[str, str]) -> None:
    run = bench.run_measured(bench.inspect_argv(hostile["big_element.zip"]), env=private_env)
    assert run.returncode == 0, run.stderr
    assert "8x8x1" in run.stdout
    assert run.peak_rss_mib < PEAK_RSS_BAR_MIB, run.peak_rss_mib


def test_size_limit_is_one_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert series_size_limit() == SeriesSizeLimit(1024, 1024, 2000)
    write_series(tmp_path / "wide", ramp((12, 8, 16)))
    write_series(tmp_path / "fits", ramp((12, 8, 8)))
    monkeypatch.setenv(MAX_SERIES_SIZE_ENV, "8x8x12")
    by_columns = {info.columns: info for info in inspect_input(tmp_path).series}
    assert by_columns[8].fit_for_prediction and by_columns[8].decoded
    wide = by_columns[16]
    assert wide.refused and wide.decoded is None  # refused from the header, never decoded
    assert [p.code for p in wide.problems if p.outcome == "refused"] == ["too_large"]
    assert "each slice has 16 x 8 pixels" in wide.unfit_reason  # type: ignore[operator]
    monkeypatch.setenv(MAX_SERIES_SIZE_ENV, "8x8x11")
    assert "it has 12 slices" in inspect_input(tmp_path / "fits").series[0].unfit_reason  # type: ignore[operator]
    monkeypatch.setenv(MAX_SERIES_SIZE_ENV, "big")
    with pytest.raises(InputLimitError, match="not a size like 1024x1024x2000"):
        inspect_input(tmp_path)


# --- item: at most one decoded volume per modality per session ------------------------------
def test_new_load_releases_the_previous_volumes_before_decoding(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_series(tmp_path / "ct", ramp((12, 8, 8)), intercept=-1024, SeriesDescription="ct")
    write_series(tmp_path / "mr", ramp((6, 8, 8)), modality="MR", direction=SAGITTAL,
                 SeriesDescription="T2_TSE_SAG")
    consult: ConsultCase = new_consult(load_case(tmp_path), "first")
    assert consult.case is not None and consult.case.ready
    previous = {role: weakref.ref(volume.array)
                for role, volume in consult.case.volumes.items()}
    alive_at_decode: list[bool] = []
    read_series = bcl_core.io.read_series

    def watching_read_series(info: object) -> object:
        gc.collect()
        alive_at_decode.append(any(ref() is not None for ref in previous.values()))
        return read_series(info)  # type: ignore[arg-type]

    monkeypatch.setattr(bcl_core.io, "read_series", watching_read_series)
    second = load_case(tmp_path, replacing=consult)
    assert alive_at_decode == [False, False]
    assert consult.case is None and consult.result is None
    assert all(mark.mask is None for mark in consult.marks.values())
    assert second.ready
    np.testing.assert_array_equal(second.volumes["ct"].array.shape, (12, 8, 8))


def test_refused_input_keeps_the_current_case(tmp_path: Path) -> None:
    write_series(tmp_path / "ct", ramp((12, 8, 8)), intercept=-1024)
    consult = new_consult(load_case(tmp_path / "ct"), "first")
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(NoImagesError, match="No DICOM images"):
        load_case(tmp_path / "notes.txt", replacing=consult)
    assert consult.case is not None and "ct" in consult.case.volumes
