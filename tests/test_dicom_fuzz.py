"""Damaged files of every kind: ``bcl inspect`` exits 0 or 2 and never shows an internal error."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import pydicom
import pytest
from dicom_factory import ramp, write_series
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.uid import RLELossless

from bcl_core.cli import main


@functools.cache
def _good_files() -> tuple[bytes, ...]:
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_series(Path(tmp), ramp((4, 8, 8)), shuffle=False, intercept=-1024)
        return tuple(path.read_bytes() for path in paths)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    victim=st.integers(0, 3),
    cut=st.one_of(st.none(), st.integers(0, 800)),
    flips=st.lists(st.tuples(st.integers(0, 700), st.integers(0, 255)), max_size=6),
)
def test_damaged_file_never_crashes(victim: int, cut: int | None, flips: list[tuple[int, int]],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    good_files = _good_files()
    data = bytearray(good_files[victim])
    for offset, value in flips:
        data[offset % len(data)] = value
    if cut is not None:
        data = data[:cut]
    with tempfile.TemporaryDirectory() as tmp:
        for index, original in enumerate(good_files):
            (Path(tmp) / f"{index}.dcm").write_bytes(bytes(data) if index == victim else original)
        code = main(["inspect", tmp])
    captured = capsys.readouterr()
    assert code in (0, 2)
    assert "unexpected internal error" not in captured.err
    if code == 2:
        assert captured.err.startswith("error: ") and captured.err.count("\n") == 1


def test_damaged_rle_data_gives_one_clean_line(tmp_path: Path,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    """The Rust RLE decoder panics on this damage and prints a backtrace: it must not be used."""
    for index, data in enumerate(_good_files()):
        path = tmp_path / f"{index}.dcm"
        path.write_bytes(data)
        ds = pydicom.dcmread(path)
        ds.compress(RLELossless)
        ds.save_as(path, enforce_file_format=True)
    damaged = bytearray((tmp_path / "0.dcm").read_bytes())
    # 100 bytes past the pixel data tag: a run length inside the first RLE segment that runs
    # past its end (found by the fuzz test above).
    damaged[damaged.find(b"\xe0\x7f\x10\x00") + 100] = 0x8E
    (tmp_path / "0.dcm").write_bytes(bytes(damaged))
    code = main(["inspect", str(tmp_path)])
    # capfd sees the file descriptors, where a Rust panic message would land.
    err = capfd.readouterr().err
    # pydicom's decoder may read the damage as (wrong) values or refuse it; either way the
    # terminal shows the table or one error line, never a panic backtrace.
    assert code in (0, 2)
    assert "panicked" not in err and "backtrace" not in err
    assert err.count("\n") <= 1
