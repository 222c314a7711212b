"""Turn what a user hands over (a folder, files, uploads, a zip) into a flat list of files.

:func:`open_input` is a context manager: zips are extracted into a private temporary folder
(mode 0700) that is removed when the block ends, so the files stay readable while a series is
decoded and nothing is left behind. Uploads held in memory are read from memory and never
written to disk.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from bcl_core.errors import InputError, UnsafeArchiveError
from bcl_core.io.archive import ZipLimits, extract_zip, is_zip

logger = logging.getLogger(__name__)

#: File names that are never images (operating-system litter).
_IGNORED_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


@runtime_checkable
class Upload(Protocol):
    """An in-memory upload, such as Streamlit's ``UploadedFile``: a name and its bytes."""

    name: str

    def getvalue(self) -> bytes:  # pragma: no cover - protocol
        """The uploaded bytes."""
        ...


@dataclass(frozen=True)
class FileRef:
    """One input file, on disk or in memory.

    Parameters
    ----------
    name:
        Display name, relative to the input that was given (for messages).
    path:
        Location on disk, or ``None`` for an in-memory upload.
    data:
        The bytes of an in-memory upload, or ``None`` for a file on disk.
    """

    name: str
    path: Path | None = None
    data: bytes | None = field(default=None, repr=False)

    def open(self) -> BinaryIO:
        """A binary stream positioned at the start of the file."""
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return open(self.path, "rb")

    @property
    def size(self) -> int:
        """Size in bytes."""
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        return self.path.stat().st_size


InputSource = str | os.PathLike[str] | Upload | tuple[str, bytes] | Sequence["InputSource"]


def _starts_like_zip(path: Path) -> bool:
    with open(path, "rb") as stream:
        return stream.read(4) == b"PK\x03\x04"


class _Collector:
    """Gathers files from heterogeneous inputs, extracting zips into one private folder."""

    def __init__(self, limits: ZipLimits) -> None:
        self.files: list[FileRef] = []
        self.limits = limits
        self._tmp: Path | None = None
        self._zips = 0

    def _zip_folder(self, label: str) -> Path:
        if self._tmp is None:
            # mkdtemp creates the folder readable by this user only (0700).
            self._tmp = Path(tempfile.mkdtemp(prefix="bcl-input-"))
        self._zips += 1
        folder = self._tmp / f"zip{self._zips}"
        folder.mkdir()
        # No names in logs: archive and file names often carry the patient's name.
        logger.info("extracting zip archive %d into a private temporary folder", self._zips)
        return folder

    def add_zip(self, source: Path | BinaryIO, label: str) -> None:
        folder = self._zip_folder(label)
        for path in extract_zip(source, folder, self.limits):
            relative = path.relative_to(folder).as_posix()
            if path.name not in _IGNORED_NAMES and not relative.startswith("__MACOSX/"):
                self.files.append(FileRef(name=f"{label}/{relative}", path=path))

    def add_path(self, path: Path) -> None:
        if not path.exists():
            raise InputError(f"{path} does not exist; check the path and try again.")
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
            for file in found:
                if file.name not in _IGNORED_NAMES:
                    self.files.append(FileRef(name=file.relative_to(path).as_posix(), path=file))
            return
        if is_zip(path):
            self.add_zip(path, path.name)
        elif path.suffix.lower() == ".zip" or _starts_like_zip(path):
            raise UnsafeArchiveError(
                f"{path.name} looks like a zip archive but is damaged (it may not have been "
                "fully copied or downloaded); create or copy it again."
            )
        else:
            self.files.append(FileRef(name=path.name, path=path))

    def add_bytes(self, name: str, data: bytes) -> None:
        buffer = io.BytesIO(data)
        if data[:4] == b"PK\x03\x04" or name.lower().endswith(".zip"):
            if not is_zip(buffer):
                raise UnsafeArchiveError(
                    f"{name} looks like a zip archive but is damaged (it may not have been "
                    "fully uploaded); create or upload it again."
                )
            buffer.seek(0)
            self.add_zip(buffer, name)
        else:
            self.files.append(FileRef(name=name, data=data))

    def add(self, source: object) -> None:
        if isinstance(source, str | os.PathLike):
            self.add_path(Path(source))
        elif isinstance(source, tuple) and len(source) == 2 and isinstance(source[1], bytes):
            self.add_bytes(str(source[0]), source[1])
        elif isinstance(source, Upload):
            self.add_bytes(source.name, source.getvalue())
        elif isinstance(source, Iterable) and not isinstance(source, bytes | bytearray):
            for item in source:
                self.add(item)
        else:
            raise InputError(
                f"Cannot read input of type {type(source).__name__}; give a folder, files, a zip "
                "or uploaded files."
            )

    def cleanup(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


@contextmanager
def open_input(source: InputSource, limits: ZipLimits | None = None) -> Iterator[list[FileRef]]:
    """Collect every file of an input; zips are extracted privately and removed afterwards.

    Parameters
    ----------
    source:
        A folder (searched recursively), a file, a zip, an upload (``name`` + ``getvalue()``), a
        ``(name, bytes)`` pair, or a list of any of these.
    limits:
        Caps for zip archives; defaults to :class:`~bcl_core.io.archive.ZipLimits`.

    Yields
    ------
    list of FileRef
        Every file found (not yet checked to be DICOM), in a stable order.

    Raises
    ------
    InputError
        If a path does not exist or the input kind is not supported.
    UnsafeArchiveError
        If a zip is refused (see :func:`~bcl_core.io.archive.extract_zip`).

    Examples
    --------
    >>> with open_input([("a.txt", b"hello")]) as files:
    ...     [f.name for f in files]
    ['a.txt']
    """
    collector = _Collector(limits or ZipLimits())
    try:
        collector.add(source)
        yield collector.files
    finally:
        collector.cleanup()
