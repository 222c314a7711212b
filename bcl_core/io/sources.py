"""Turn what a user hands over (a folder, files, uploads, a zip) into a flat list of files.

:func:`open_input` is a context manager. Nothing is copied to disk: zips are opened in place and
each member is read from the archive when it is needed (the archive stays open until the block
ends), uploads held in memory are read from memory, and folders are searched without recursion
(a limit on depth and on path length gives a clear refusal instead of a crash).
"""

from __future__ import annotations

import errno
import io
import logging
import os
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from bcl_core.errors import InputError, InputLimitError, UnsafeArchiveError
from bcl_core.io.archive import ZipLimits, ZipMember, is_zip, open_zip
from bcl_core.io.limits import MAX_FOLDER_DEPTH

logger = logging.getLogger(__name__)

#: File names that are never images (operating-system litter).
_IGNORED_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
#: Longest path (bytes) the system opens when it does not say (Linux PATH_MAX).
_DEFAULT_PATH_MAX = 4096


@runtime_checkable
class Upload(Protocol):
    """An in-memory upload, such as Streamlit's ``UploadedFile``: a name and its bytes."""

    name: str

    def getvalue(self) -> bytes:  # pragma: no cover - protocol
        """The uploaded bytes."""
        ...


@dataclass(frozen=True)
class FileRef:
    """One input file: on disk, in memory, or a member of an open zip archive.

    Parameters
    ----------
    name:
        Display name, relative to the input that was given (for messages).
    path:
        Location on disk, or ``None``.
    data:
        The bytes of an in-memory upload, or ``None``.
    member:
        A member of a zip archive opened by :func:`open_input`, or ``None``; it can be read
        only inside that ``with`` block.
    """

    name: str
    path: Path | None = None
    data: bytes | None = field(default=None, repr=False)
    member: ZipMember | None = field(default=None, repr=False)

    def open(self) -> BinaryIO:
        """A binary stream positioned at the start of the file."""
        if self.data is not None:
            return io.BytesIO(self.data)
        if self.member is not None:
            return self.member.open()
        assert self.path is not None
        return open(self.path, "rb")

    @property
    def size(self) -> int:
        """Size in bytes."""
        if self.data is not None:
            return len(self.data)
        if self.member is not None:
            return self.member.size
        assert self.path is not None
        return self.path.stat().st_size


InputSource = str | os.PathLike[str] | Upload | tuple[str, bytes] | Sequence["InputSource"]


def _starts_like_zip(path: Path) -> bool:
    with open(path, "rb") as stream:
        return stream.read(4) == b"PK\x03\x04"


def _shown(path: Path | str, keep: int = 80) -> str:
    """A path short enough for a message (the start and the end of a very long one)."""
    text = str(path)
    return text if len(text) <= keep else f"{text[:keep // 2]}...{text[-keep // 2:]}"


def _path_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_PATH_MAX"))
    except (OSError, ValueError, AttributeError):
        return _DEFAULT_PATH_MAX


def _too_long(folder: Path, limit: int) -> InputLimitError:
    return InputLimitError(
        f"{_shown(folder)} holds files whose full path is longer than this system allows "
        f"({limit} characters), so they cannot be opened; copy the CT and MRI series into a "
        "folder with a shorter path and choose that folder."
    )


def walk_files(folder: Path, max_depth: int = MAX_FOLDER_DEPTH) -> list[Path]:
    """Every regular file under ``folder`` (symbolic links are not followed), sorted.

    The search uses an explicit stack, not recursion, so no depth of nesting can crash it; it
    stops with a clear refusal below ``max_depth`` levels or at a path the system cannot open.

    Parameters
    ----------
    folder:
        An existing folder.
    max_depth:
        Most levels of sub-folders searched below ``folder``.

    Returns
    -------
    list of Path
        Sorted as :class:`~pathlib.Path` objects sort (folder by folder).

    Raises
    ------
    InputLimitError
        If folders nest deeper than ``max_depth`` or a path is too long for the system.
    """
    path_max = _path_max(folder)
    found: list[Path] = []
    stack: list[tuple[Path, int]] = [(folder, 0)]
    while stack:
        current, depth = stack.pop()
        try:
            with os.scandir(current) as entries:
                listed = list(entries)
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise _too_long(folder, path_max) from exc
            # An unreadable sub-folder is skipped, as a file browser would.
            logger.info("a sub-folder could not be read (%s); skipped", exc.strerror)
            continue
        for entry in listed:
            if len(os.fsencode(entry.path)) >= path_max:
                raise _too_long(folder, path_max)
            if entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                if depth + 1 > max_depth:
                    raise InputLimitError(
                        f"{_shown(folder)} holds folders nested more than {max_depth} levels "
                        "deep; copy the CT and MRI series into a simpler folder (one folder "
                        "per series is enough) and choose that folder."
                    )
                stack.append((Path(entry.path), depth + 1))
            elif entry.is_file(follow_symlinks=False):
                found.append(Path(entry.path))
    return sorted(found)


class _Collector:
    """Gathers files from heterogeneous inputs; zips are opened in place and read lazily."""

    def __init__(self, limits: ZipLimits) -> None:
        self.files: list[FileRef] = []
        self.limits = limits
        self._archives: list[zipfile.ZipFile] = []

    def add_zip(self, source: Path | BinaryIO, label: str) -> None:
        archive, members = open_zip(source, self.limits)
        self._archives.append(archive)
        # No names in logs: archive and file names often carry the patient's name.
        logger.info("zip archive %d opened: %d files, read from the archive as needed",
                    len(self._archives), len(members))
        for member in members:
            relative = member.relative.as_posix()
            if member.relative.name not in _IGNORED_NAMES and not relative.startswith("__MACOSX/"):
                self.files.append(FileRef(name=f"{label}/{relative}", member=member))

    def add_path(self, path: Path) -> None:
        try:
            exists, is_dir = path.exists(), path.is_dir()
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise InputLimitError(
                    f"The path {_shown(path)} is longer than this system allows "
                    f"({len(str(path))} characters); copy the series into a folder with a "
                    "shorter path and choose that folder."
                ) from exc
            raise InputError(f"{_shown(path)} cannot be read ({exc.strerror or exc}); check "
                             "the path and your permissions.") from exc
        if not exists:
            raise InputError(f"{path} does not exist; check the path and try again.")
        if is_dir:
            for file in walk_files(path):
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
        for archive in self._archives:
            archive.close()
        self._archives = []


@contextmanager
def open_input(source: InputSource, limits: ZipLimits | None = None) -> Iterator[list[FileRef]]:
    """Collect every file of an input; zip members are read from the archive while the block runs.

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
    InputLimitError
        If a folder nests too deep or holds a path too long to open (see :func:`walk_files`).
    UnsafeArchiveError
        If a zip is refused (see :func:`~bcl_core.io.archive.open_zip`).

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
