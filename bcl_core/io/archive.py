"""Safe reading of zip archives (uploads and ``bcl`` inputs).

A zip from outside is untrusted: it may name paths that escape the extraction folder
(``../../etc``, ``/abs``, ``C:\\``), carry symbolic links, or expand to far more bytes than it
weighs (a zip bomb). :func:`open_zip` checks every entry and returns the members to be read
lazily, straight from the archive, so nothing is written to disk and a member is only
decompressed as far as a reader asks (a gigabyte of zeros is refused after its first bytes).
A member never yields more bytes than the size the archive declares for it, so the declared
sizes, checked against :class:`ZipLimits` before anything is read, bound what can come out.
:func:`extract_zip` writes the members to a private folder for callers that need files, with
a running byte budget that stops before writing past it.
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


#: Errors a damaged member raises while it is read (CRC mismatch, corrupt deflate stream,
#: a member cut short, an unsupported compression method).
MEMBER_READ_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError)
#: Errors extracting a member raises: a damaged member, or the file it is written to.
_EXTRACT_ERRORS: tuple[type[BaseException], ...] = (*MEMBER_READ_ERRORS, OSError)


@dataclass(frozen=True, eq=False)
class ZipMember:
    """One regular file inside an open archive, read on demand.

    Parameters
    ----------
    archive:
        The open archive (closed by whoever called :func:`open_zip`).
    info:
        The member's entry.
    relative:
        Its checked relative path inside the archive.
    """

    archive: zipfile.ZipFile
    info: zipfile.ZipInfo
    relative: PurePosixPath

    def open(self) -> BinaryIO:
        """A binary stream of the member's bytes, decompressed as they are read.

        Raises
        ------
        UnsafeArchiveError
            If the member's entry cannot be opened (damaged local header, unsupported method).
        """
        try:
            return self.archive.open(self.info)  # type: ignore[return-value]
        except MEMBER_READ_ERRORS as exc:
            raise UnsafeArchiveError(
                f"The zip archive is damaged (entry {self.info.filename!r} cannot be read); "
                "create it again from the images."
            ) from exc

    @property
    def size(self) -> int:
        """The member's size once decompressed, as the archive declares it."""
        return self.info.file_size


def _open_archive(source: str | Path | BinaryIO) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise UnsafeArchiveError(
            "The zip archive is damaged and cannot be opened; create it again from the images."
        ) from exc


def _check_members(archive: zipfile.ZipFile, limits: ZipLimits) -> list[ZipMember]:
    """Every regular file of the archive after checking all entries; raises on the first bad one.
    """
    entries = archive.infolist()
    if len(entries) > limits.max_entries:
        raise UnsafeArchiveError(
            f"The zip archive lists {len(entries)} entries, more than the {limits.max_entries} "
            "allowed; zip only the CT and MRI series of one patient."
        )
    members: list[ZipMember] = []
    declared = 0
    seen: set[PurePosixPath] = set()
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
        if relative in seen:
            raise UnsafeArchiveError(
                f"The zip archive holds the entry {info.filename!r} twice; create it again "
                "from the original folder."
            )
        seen.add(relative)
        members.append(ZipMember(archive=archive, info=info, relative=relative))
    return members


def open_zip(source: str | Path | BinaryIO,
             limits: ZipLimits | None = None) -> tuple[zipfile.ZipFile, list[ZipMember]]:
    """Open a zip archive and check every entry, without extracting anything.

    Parameters
    ----------
    source:
        Path of the archive or a seekable binary stream (an upload held in memory).
    limits:
        Entry-count and size caps; defaults to :class:`ZipLimits`.

    Returns
    -------
    (ZipFile, list of ZipMember)
        The open archive (the caller closes it once the members are no longer read) and its
        regular files, in archive order.

    Raises
    ------
    UnsafeArchiveError
        On absolute or ``..`` entry names, links, repeated entries, encryption, too many
        entries or more declared bytes than allowed; also when the archive is corrupt.

    Examples
    --------
    >>> import io, zipfile
    >>> buffer = io.BytesIO()
    >>> with zipfile.ZipFile(buffer, "w") as archive:
    ...     archive.writestr("series/1.dcm", b"x")
    >>> archive, members = open_zip(buffer)
    >>> [str(m.relative) for m in members], members[0].open().read()
    (['series/1.dcm'], b'x')
    >>> archive.close()
    """
    archive = _open_archive(source)
    try:
        members = _check_members(archive, limits or ZipLimits())
    except BaseException:
        archive.close()
        raise
    return archive, members


def extract_zip(
    source: str | Path | BinaryIO,
    destination: str | Path,
    limits: ZipLimits | None = None,
) -> list[Path]:
    """Extract a zip archive into ``destination`` after checking every entry.

    The bytes really written are counted against ``limits.max_total_bytes`` as they are
    written, and extraction stops before writing past it.

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
        As :func:`open_zip`, and when a member cannot be read or expands past the budget.

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
    archive, members = open_zip(source, limits)
    with archive:
        targets = [root.joinpath(*member.relative.parts) for member in members]
        for member, target in zip(members, targets, strict=True):
            if root not in target.resolve().parents:
                raise UnsafeArchiveError(
                    f"The zip archive holds an entry that points outside the archive "
                    f"({member.info.filename!r}); it was refused for safety."
                )
        total = 0
        for member, target in zip(members, targets, strict=True):
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with member.open() as reader, open(target, "xb") as writer:
                    while chunk := reader.read(_CHUNK_BYTES):
                        # Count real bytes and stop before writing past the budget.
                        total += len(chunk)
                        if total > limits.max_total_bytes:
                            raise _bomb_error(limits.max_total_bytes)
                        writer.write(chunk)
            except FileExistsError as exc:
                raise UnsafeArchiveError(
                    f"The zip archive holds the entry {member.info.filename!r} twice; create it "
                    "again from the original folder."
                ) from exc
            except _EXTRACT_ERRORS as exc:
                raise UnsafeArchiveError(
                    f"The zip archive is damaged (entry {member.info.filename!r} cannot be "
                    "read); create it again from the images."
                ) from exc
    logger.info("extracted %d files (%d bytes) from a zip archive", len(targets), total)
    return targets
