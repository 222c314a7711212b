"""Peak memory and disk use of ``bcl inspect`` and the app's upload path on hostile inputs.

Each input is small on disk and claims to be huge (issue 16):

* ``huge_matrix.zip``: 12 CT slices whose headers declare 6144 x 6144 pixels (zeros, so the zip
  weighs under 1 MB); decoded it would need 0.84 GiB at 16 bits, and more while converting;
* ``zeros.zip``: one member of 1 GiB of zeros (about 1 MB zipped);
* ``many_frames.zip``: one small image file whose header declares 5,000,000 frames;
* ``big_element.zip``: an image whose header carries a 1 GiB private element of zeros before
  its 8 x 8 pixels.

Every input is run in a fresh process through ``bcl inspect`` and through the upload path of
the app (:func:`bcl_core.clinic.consult.load_case` on the uploaded bytes, as the Consult page calls it),
with the largest file it may write capped at 16 MiB (``RLIMIT_FSIZE``): a run that tries to
extract the archive to disk fails there (Python ignores ``SIGXFSZ``, so the write raises
``EFBIG`` and the zip is reported damaged) instead of filling the disk. The peak resident memory
of each process comes from ``os.wait4``.

Usage::

    python benchmarks/bench_hostile_input.py [--out DIR]

The generators are also used by ``tests/test_dicom_hostile.py``; they write DICOM with pydicom
directly (no ``bcl_core``), so the loader is checked against what was planted.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import NamedTuple

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

#: Largest file a measured process may write (bytes): logs fit, an extracted bomb does not.
MAX_WRITTEN_FILE_BYTES = 16 * 1024**2
_CHUNK = 1024**2
_PIXEL_TAG = b"\xe0\x7f\x10\x00"


def ct_header(rows: int, columns: int, position_z: float, series_uid: str, instance: int,
              frames: int = 1) -> Dataset:
    """A CT image dataset without pixel data (16-bit, axial, 0.7 mm pixels, 1.25 mm apart)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Modality = "CT"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [0.0, 0.0, position_z]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [0.7, 0.7]
    ds.Rows, ds.Columns = rows, columns
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    return ds


def _header_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _write_zeros(writer: io.BufferedIOBase, n_bytes: int) -> None:
    zeros = bytes(_CHUNK)
    while n_bytes > 0:
        writer.write(zeros[:min(n_bytes, _CHUNK)])
        n_bytes -= _CHUNK


def _element(tag: bytes, vr: bytes, length: int) -> bytes:
    return tag + vr + b"\x00\x00" + length.to_bytes(4, "little")


def write_huge_matrix_zip(path: Path, rows: int = 6144, columns: int = 6144,
                          slices: int = 12) -> Path:
    """A zip of ``slices`` CT images of ``rows x columns`` zeros, streamed (little memory)."""
    uid = generate_uid()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for k in range(slices):
            n_bytes = rows * columns * 2
            with archive.open(f"ct/im{k:04d}.dcm", "w") as writer:
                writer.write(_header_bytes(ct_header(rows, columns, 1.25 * k, uid, k + 1)))
                writer.write(_element(_PIXEL_TAG, b"OW", n_bytes))
                _write_zeros(writer, n_bytes)  # type: ignore[arg-type]
    return path


def write_zeros_zip(path: Path, n_bytes: int = 1024**3) -> Path:
    """A zip holding one member of ``n_bytes`` zeros (a classic zip bomb)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, \
            archive.open("scan/zeros.dcm", "w") as writer:
        _write_zeros(writer, n_bytes)  # type: ignore[arg-type]
    return path


def write_many_frames_zip(path: Path, frames: int = 5_000_000) -> Path:
    """A zip holding one 8 x 8 image file whose header declares ``frames`` frames."""
    ds = ct_header(8, 8, 0.0, generate_uid(), 1, frames=frames)
    ds.PixelData = bytes(8 * 8 * 2)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("frames.dcm", _header_bytes(ds))
    return path


def write_big_element_zip(path: Path, n_bytes: int = 1024**3) -> Path:
    """A zip holding an 8 x 8 image with a private ``n_bytes`` element of zeros before it."""
    ds = ct_header(8, 8, 0.0, generate_uid(), 1)
    header = _header_bytes(ds)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, \
            archive.open("big.dcm", "w") as writer:
        writer.write(header)
        # (0029,1010) OB: a private element (group 0029 follows every public one written).
        writer.write(_element(b"\x29\x00\x10\x00", b"OB", n_bytes))
        _write_zeros(writer, n_bytes)  # type: ignore[arg-type]
        writer.write(_element(_PIXEL_TAG, b"OW", 128) + bytes(128))
    return path


#: Each hostile input: file name and generator.
HOSTILE_INPUTS = {
    "huge_matrix.zip": write_huge_matrix_zip,
    "zeros.zip": write_zeros_zip,
    "many_frames.zip": write_many_frames_zip,
    "big_element.zip": write_big_element_zip,
}


class Measured(NamedTuple):
    """What one process did: exit code (minus the signal if killed), output, peak memory."""

    returncode: int
    stdout: str
    stderr: str
    peak_rss_mib: float


def _cap_written_files() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_WRITTEN_FILE_BYTES, MAX_WRITTEN_FILE_BYTES))


def run_measured(argv: list[str], timeout_s: float = 300.0, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> Measured:
    """Run ``argv`` in a fresh process with written files capped; its own peak RSS from wait4.

    A process still running after ``timeout_s`` is killed (it then shows as ``-9``).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(argv, stdout=out, stderr=err, preexec_fn=_cap_written_files,
                                   env=env, cwd=cwd)
        timer = threading.Timer(timeout_s, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(process.returncode, out.read().decode(errors="replace"),
                        err.read().decode(errors="replace"), usage.ru_maxrss / 1024)


def inspect_argv(path: Path) -> list[str]:
    """``bcl inspect PATH`` as a fresh Python process."""
    return [sys.executable, "-m", "bcl_core.cli", "inspect", str(path)]


def app_load_argv(path: Path) -> list[str]:
    """The app's upload path on the bytes of ``path`` (see :func:`app_load`), in a process."""
    return [sys.executable, str(Path(__file__).resolve()), "--app-load", str(path)]


def app_load(path: Path) -> int:
    """Load ``path``'s bytes as the Consult page loads an upload; print what the page shows.

    Prints ``loaded: ...`` with the missing-series message when the case loaded (refused
    series are simply not picked), or ``refused: <message>`` when loading failed.
    """
    from bcl_core.clinic.consult import load_case, user_message

    try:
        case = load_case([(path.name, path.read_bytes())])
    except Exception as exc:  # noqa: BLE001 - the page turns every failure into a message
        sys.stdout.write(f"refused: {user_message(exc)}\n")
        return 1
    notes = "; ".join(f"[{row.index}] {row.notes}" for row in case.rows)
    sys.stdout.write(f"loaded: {case.missing_message or 'ready'} | series: {notes}\n")
    return 0


def _first_line(measured: Measured) -> str:
    text = (measured.stdout + measured.stderr).strip()
    return text.splitlines()[0][:160] if text else ""


def main(argv: list[str] | None = None) -> int:
    """Build each hostile input, run both paths on it, print one line per run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="folder for the inputs (default: temporary)")
    parser.add_argument("--app-load", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.app_load is not None:
        return app_load(args.app_load)
    folder = args.out or Path(tempfile.mkdtemp(prefix="bcl_hostile_"))
    folder.mkdir(parents=True, exist_ok=True)
    sys.stdout.write(f"{'input':<18} {'zip MB':>7} {'path':<8} {'exit':>5} "
                     f"{'peak RSS MiB':>12}  message\n")
    for name, write in HOSTILE_INPUTS.items():
        path = write(folder / name)
        size_mb = path.stat().st_size / 1e6
        for label, command in (("inspect", inspect_argv(path)), ("app", app_load_argv(path))):
            measured = run_measured(command)
            sys.stdout.write(f"{name:<18} {size_mb:>7.2f} {label:<8} {measured.returncode:>5} "
                             f"{measured.peak_rss_mib:>12.0f}  {_first_line(measured)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
