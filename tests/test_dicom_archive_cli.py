"""Zip safety and the ``bcl inspect`` command on good and malformed inputs."""

from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from dicom_factory import SAGITTAL, ramp, write_series
from pydicom.data import get_testdata_file

from bcl_core.cli import main
from bcl_core.errors import UnsafeArchiveError
from bcl_core.io import load_volume
from bcl_core.io.archive import ZipLimits, extract_zip


def _zip(entries: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# --- zip safety -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("entries", "links", "message"),
    [
        ({"../evil.txt": b"x"}, None, "outside the archive"),
        ({"a/../../evil.txt": b"x"}, None, "outside the archive"),
        ({"/etc/evil.txt": b"x"}, None, "absolute path"),
        ({"C:\\evil.txt": b"x"}, None, "absolute path"),
        ({"ok.dcm": b"x"}, {"link.dcm": "/etc/passwd"}, "link"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "windows-drive", "symlink"],
)
def test_unsafe_entries_are_refused_and_nothing_is_written(
        tmp_path: Path, entries: dict[str, bytes], links: dict[str, str] | None,
        message: str) -> None:
    destination = tmp_path / "private"
    destination.mkdir()
    with pytest.raises(UnsafeArchiveError, match=message):
        extract_zip(io.BytesIO(_zip(entries, links)), destination)
    assert _tree(tmp_path) == {"private"}


def test_entry_count_cap(tmp_path: Path) -> None:
    data = _zip({f"f{n}.dcm": b"x" for n in range(11)})
    with pytest.raises(UnsafeArchiveError, match="11 entries, more than the 10"):
        extract_zip(io.BytesIO(data), tmp_path, ZipLimits(max_entries=10))


def test_zip_bomb_cap_counts_real_bytes(tmp_path: Path) -> None:
    # 2 MB of zeros deflate to a few kB: a small bomb against a 1 MB cap.
    data = _zip({"zeros.dcm": bytes(2_000_000)})
    assert len(data) < 20_000
    with pytest.raises(UnsafeArchiveError, match="zip bomb"):
        extract_zip(io.BytesIO(data), tmp_path, ZipLimits(max_total_bytes=1_000_000))
    # A crafted archive whose headers under-declare the size is refused too (zipfile stops at
    # the declared size and the CRC check fails; the real-byte count is a second guard).
    lying = bytearray(data)
    header = zipfile.ZipFile(io.BytesIO(data)).infolist()[0]
    central = lying.rfind(b"PK\x01\x02")
    lying[central + 24:central + 28] = (100).to_bytes(4, "little")  # uncompressed size
    lying[header.header_offset + 22:header.header_offset + 26] = (100).to_bytes(4, "little")
    with pytest.raises(UnsafeArchiveError):
        extract_zip(io.BytesIO(bytes(lying)), tmp_path / "x", ZipLimits(max_total_bytes=1_000))


def test_damaged_zip_is_refused(tmp_path: Path) -> None:
    data = _zip({"a.dcm": b"x" * 1000})
    with pytest.raises(UnsafeArchiveError, match="damaged"):
        extract_zip(io.BytesIO(data[:-30]), tmp_path)


def test_series_in_zip_loads_and_temporary_folder_is_removed(tmp_path: Path) -> None:
    stored = ramp((4, 5, 5))
    paths = write_series(tmp_path / "ct", stored)
    archive = tmp_path / "case.zip"
    archive.write_bytes(_zip({f"study/ct/{p.name}": p.read_bytes() for p in paths}))
    before = set(os.listdir(os.environ.get("TMPDIR", "/tmp")))
    np.testing.assert_array_equal(load_volume(archive).array, stored)
    np.testing.assert_array_equal(load_volume([("case.zip", archive.read_bytes())]).array, stored)
    after = set(os.listdir(os.environ.get("TMPDIR", "/tmp")))
    assert not {name for name in after - before if name.startswith("bcl-input-")}


# --- bcl inspect ----------------------------------------------------------------------------
def test_inspect_lists_series(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_series(tmp_path / "ct", ramp((12, 8, 8)), intercept=-1024, SeriesDescription="CT ax")
    write_series(tmp_path / "mr", ramp((6, 8, 8)), modality="MR", direction=SAGITTAL,
                 SeriesDescription="T2_TSE_SAG")
    (tmp_path / "notes.txt").write_text("x")
    assert main(["inspect", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ct_axial" in out and "mr_sagittal (T2)" in out and "1 not DICOM" in out
    assert "DOE" not in out and "PID-12345" not in out
    assert main(["inspect", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [s["role"] for s in report["series"]] == ["ct_axial", "mr_sagittal"]
    assert all(s["fit_for_prediction"] for s in report["series"])
    assert report["series"][0]["size"] == [8, 8, 12]


def test_inspect_single_slice_exits_zero(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    write_series(tmp_path, ramp((1, 4, 4)))
    assert main(["inspect", str(tmp_path)]) == 0
    assert "only 1 slice" in capsys.readouterr().out


def _malformed(tmp_path: Path, kind: str) -> Path:
    """Inputs of which no series can be read; each must end in one ``error:`` line."""
    target = tmp_path / "input"
    if kind == "missing-path":
        return target
    if kind == "empty-folder":
        target.mkdir()
    elif kind == "text-file":
        target.write_text("not an image")
    elif kind == "random-bytes":
        target.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "report-only":
        target.mkdir()
        (target / "sr.dcm").write_bytes(Path(get_testdata_file("test-SR.dcm")).read_bytes())
    elif kind == "zip-traversal":
        target = tmp_path / "input.zip"
        target.write_bytes(_zip({"../x.dcm": b"x"}))
    elif kind == "zip-damaged":
        target = tmp_path / "input.zip"
        target.write_bytes(_zip({"a.dcm": b"x" * 500})[:-40])
    elif kind == "truncated-only-series":
        paths = write_series(target, ramp((3, 8, 8)))
        for path in paths:
            path.write_bytes(path.read_bytes()[:-50])
    elif kind == "missing-geometry":
        write_series(target, ramp((3, 4, 4)), ImageOrientationPatient=None)
    elif kind == "missing-slices":
        paths = write_series(target, ramp((6, 4, 4)), shuffle=False)
        paths[2].unlink()
    elif kind == "duplicate-positions":
        write_series(target, ramp((3, 4, 4)), series_uid="1.2.3", prefix="a")
        write_series(target, ramp((3, 4, 4), seed=1), series_uid="1.2.3", prefix="b")
    elif kind == "corrupt-pixels":
        paths = write_series(target, ramp((3, 64, 64)))
        from pydicom import dcmread
        from pydicom.uid import RLELossless
        ds = dcmread(paths[0])
        ds.compress(RLELossless)
        ds.PixelData = ds.PixelData[:200] + bytes(64) + ds.PixelData[264:]
        ds.save_as(paths[0], enforce_file_format=True)
    return target


#: Each malformed input and the words its one error line must contain.
MALFORMED = {
    "missing-path": "does not exist",
    "empty-folder": "holds no files",
    "text-file": r"No DICOM images found .*1 not DICOM",
    "random-bytes": r"No DICOM images found .*1 not DICOM",
    "report-only": "1 DICOM without an image",
    "zip-traversal": "points outside the archive",
    "zip-damaged": "looks like a zip archive but is damaged",
    "truncated-only-series": "im0000.dcm is truncated",
    "missing-geometry": "lack the position, orientation or pixel spacing",
    "missing-slices": "1 slice.s. are missing",
    "duplicate-positions": "share a slice position",
    "corrupt-pixels": r"im0000.dcm \(RLE Lossless\) is damaged or cannot be decoded",
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_inspect_malformed_inputs_give_one_error_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    assert main(["inspect", str(_malformed(tmp_path, kind))]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert re.search(MALFORMED[kind], lines[0]), lines[0]
    assert "Traceback" not in captured.err and "unexpected internal error" not in captured.err
    assert captured.out == ""


def test_bcl_inspect_process_never_shows_a_traceback(tmp_path: Path) -> None:
    target = _malformed(tmp_path, "random-bytes")
    result = subprocess.run([sys.executable, "-m", "bcl_core.cli", "inspect", str(target)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: No DICOM images found")
    assert "Traceback" not in result.stderr


# --- folders too deep or paths too long (issue 16) ------------------------------------------
def _nest(root: Path, names: list[str], leaf: bytes | None = None) -> None:
    """Folders ``root/names[0]/names[1]/...`` made through directory handles (no path limit)."""
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        for name in names:
            os.mkdir(name, dir_fd=fds[-1])
            fds.append(os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))
        if leaf is not None:
            fd = os.open("leaf.dcm", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fds[-1])
            os.write(fd, leaf)
            os.close(fd)
    finally:
        for fd in fds:
            os.close(fd)


def _unnest(root: Path, names: list[str]) -> None:
    """Remove what :func:`_nest` made, deepest first, without recursion or long paths."""
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        for name in names:
            fds.append(os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))
        for entry in os.listdir(fds[-1]):
            os.unlink(entry, dir_fd=fds[-1])
        for depth in range(len(names), 0, -1):
            os.close(fds.pop())
            os.rmdir(names[depth - 1], dir_fd=fds[-1])
    finally:
        for fd in fds:
            os.close(fd)


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "unexpected internal error" not in captured.err and captured.out == ""
    return lines[0]


def test_folders_nested_1000_deep_are_refused(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    names = ["d"] * 1000
    leaf = write_series(tmp_path / "one", ramp((1, 4, 4)))[0].read_bytes()
    _nest(tmp_path, names, leaf)
    try:
        assert main(["inspect", str(tmp_path / "d")]) == 2
        line = _one_error_line(capsys)
        assert "nested more than 32 levels deep" in line and "simpler folder" in line
    finally:
        _unnest(tmp_path, names)


def test_paths_longer_than_the_system_allows_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = ["n" * 250] * 20  # 20 x 251 = 5020 characters below tmp_path: over 4096
    leaf = write_series(tmp_path / "one", ramp((1, 4, 4)))[0].read_bytes()
    _nest(tmp_path, names, leaf)
    try:
        assert main(["inspect", str(tmp_path)]) == 2
        line = _one_error_line(capsys)
        assert "longer than this system allows (4096 characters)" in line
        assert main(["inspect", str(tmp_path.joinpath(*names, "leaf.dcm"))]) == 2
        line = _one_error_line(capsys)
        assert "is longer than this system allows" in line and len(line) < 600
    finally:
        _unnest(tmp_path, names)
