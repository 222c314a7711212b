"""Safe extraction of zip archives (uploads and ``bcl`` inputs).

A zip from outside is untrusted: it may name paths that escape the extraction folder
(``../../etc``, ``/abs``, ``C:\\``), carry symbolic links, or expand to far more bytes than it
weighs (a zip bomb). :func:`extract_zip` refuses all of these with an
:class:`~bcl_core.errors.UnsafeArchiveError` before anything lands outside the private folder it
was given, and it counts the bytes it really writes rather than trusting the sizes the archive
declares.
"""

from __future__ import annotations

import logging
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO

from bcl_core.errors import UnsafeArchiveError

logger = logging.getLogger(__name__)

#: Most entries one archive may hold (a 2,000-slice study fits many times over).
MAX_ZIP_ENTRIES = 20_000
#: Most bytes an archive may expand to (4 GiB: a whole-spine CT plus MRI is well under 1 GiB).
MAX_ZIP_TOTAL_BYTES = 4 * 1024**3
_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ZipLimits:
    """Caps applied while extracting one archive.

    Parameters
    ----------
    max_entries:
        Most entries (files and folders) the archive may list.
    max_total_bytes:
        Most bytes all entries together may expand to.
    """

    max_entries: int = MAX_ZIP_ENTRIES
    max_total_bytes: int = MAX_ZIP_TOTAL_BYTES


def is_zip(source: str | Path | BinaryIO) -> bool:
    """Whether ``source`` (a path or a seekable binary stream) is a zip archive."""
    try:
        return zipfile.is_zipfile(source)  # type: ignore[arg-type]
    except OSError:
        return False


def _safe_relative_path(name: str) -> PurePosixPath:
    """The entry name as a relative path that stays inside the extraction folder."""
    if "\x00" in name:
        raise UnsafeArchiveError(
            f"The zip archive holds an entry with a corrupt name ({name!r}); it was refused. "
            "Create the archive again from the original folder."
        )
    windows = PureWindowsPath(name)
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or windows.drive or windows.root:
        raise UnsafeArchiveError(
            f"The zip archive holds an entry with an absolute path ({name!r}); it was refused "
            "for safety. Create the archive from inside the folder with the images."
        )
    if ".." in posix.parts:
        raise UnsafeArchiveError(
            f"The zip archive holds an entry that points outside the archive ({name!r}); it "
            "was refused for safety. Create the archive again from the original folder."
        )
    return PurePosixPath(*[part for part in posix.parts if part not in ("", ".")])


def _is_link(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return stat.S_ISLNK(mode)


def _bomb_error(limit: int) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"The zip archive expands to more than {limit / 1024**3:.1f} GiB; it was refused as a "
        "possible zip bomb. Zip only the CT and MRI series of one patient."
    )


def extract_zip(
    source: str | Path | BinaryIO,
    destination: str | Path,
    limits: ZipLimits | None = None,
) -> list[Path]:
    """Extract a zip archive into ``destination`` after checking every entry.

    Parameters
    ----------
    source:
        Path of the archive or a seekable binary stream (an upload held in memory).
    destination:
        An existing private folder (see :func:`tempfile.mkdtemp`); nothing is written elsewhere.
    limits:
        Entry-count and size caps; defaults to :class:`ZipLimits`.

    Returns
    -------
    list of Path
        The regular files written, in archive order.

    Raises
    ------
    UnsafeArchiveError
        On absolute or ``..`` entry names, links, too many entries or too many bytes; also when
        the archive is corrupt or encrypted.

    Examples
    --------
    >>> import io, tempfile, zipfile
    >>> buffer = io.BytesIO()
    >>> with zipfile.ZipFile(buffer, "w") as archive:
    ...     archive.writestr("series/1.dcm", b"x")
    >>> [p.name for p in extract_zip(buffer, tempfile.mkdtemp())]
    ['1.dcm']
    """
    limits = limits or ZipLimits()
    root = Path(destination).resolve()
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnsafeArchiveError(
            "The zip archive is damaged and cannot be opened; create it again from the images."
        ) from exc
    with archive:
        entries = archive.infolist()
        if len(entries) > limits.max_entries:
            raise UnsafeArchiveError(
                f"The zip archive lists {len(entries)} entries, more than the {limits.max_entries} "
                "allowed; zip only the CT and MRI series of one patient."
            )
        # Check every entry before writing anything: a refusal leaves nothing behind.
        plan: list[tuple[zipfile.ZipInfo, Path]] = []
        declared = 0
        for info in entries:
            relative = _safe_relative_path(info.filename)
            if _is_link(info):
                raise UnsafeArchiveError(
                    f"The zip archive holds a link ({info.filename!r}); links are refused for "
                    "safety. Zip the image files themselves."
                )
            if info.flag_bits & 0x1:
                raise UnsafeArchiveError(
                    "The zip archive is password-protected; export it without encryption."
                )
            declared += info.file_size
            if declared > limits.max_total_bytes:
                raise _bomb_error(limits.max_total_bytes)
            if info.is_dir() or not relative.parts:
                continue
            target = root.joinpath(*relative.parts)
            if root not in target.resolve().parents:
                raise UnsafeArchiveError(
                    f"The zip archive holds an entry that points outside the archive "
                    f"({info.filename!r}); it was refused for safety."
                )
            plan.append((info, target))
        written: list[Path] = []
        total = 0
        for info, target in plan:
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as reader, open(target, "xb") as writer:
                    while chunk := reader.read(_CHUNK_BYTES):
                        # Count real bytes: declared sizes in a crafted archive can lie.
                        total += len(chunk)
                        if total > limits.max_total_bytes:
                            raise _bomb_error(limits.max_total_bytes)
                        writer.write(chunk)
            except FileExistsError as exc:
                raise UnsafeArchiveError(
                    f"The zip archive holds the entry {info.filename!r} twice; create it again "
                    "from the original folder."
                ) from exc
            except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError,
                    NotImplementedError) as exc:
                raise UnsafeArchiveError(
                    f"The zip archive is damaged (entry {info.filename!r} cannot be read); "
                    "create it again from the images."
                ) from exc
            written.append(target)
    logger.info("extracted %d files (%d bytes) from a zip archive", len(written), total)
    return written
