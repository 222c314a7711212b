"""Folders and files only their owner can read (0700 / 0600), whatever the process umask.

Everything the reader study writes (database, key file, staging and stored DICOM) goes through
these helpers, so a de-identified copy is still not readable by other accounts on the machine.
The modes are set at creation (not by a later ``chmod``), so no file is ever briefly readable
by others. On Windows only the read-only bit exists and the calls change nothing there.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_dir(path: str | Path) -> Path:
    """Create ``path`` and any missing parent as 0700; an existing ``path`` is set to 0700.

    Parameters
    ----------
    path:
        The folder.

    Returns
    -------
    Path
        The folder.

    Raises
    ------
    OSError
        If the folder cannot be created.
    """
    folder = Path(path)
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for component in reversed(missing):
        try:
            component.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            pass  # created meanwhile by another import
        os.chmod(component, PRIVATE_DIR_MODE)  # mkdir's mode is masked by the umask
    if not missing:
        restrict(folder)
    return folder


def restrict(path: str | Path) -> None:
    """Set an existing file to 0600 or folder to 0700 (best effort: logged when refused)."""
    target = Path(path)
    mode = PRIVATE_DIR_MODE if target.is_dir() else PRIVATE_FILE_MODE
    try:
        if target.stat().st_mode & 0o777 != mode:
            os.chmod(target, mode)
    except OSError as exc:
        logger.warning("could not restrict the permissions of a study path (%s)",
                       type(exc).__name__)


def open_private_file(path: str | Path, exclusive: bool = False) -> BinaryIO:
    """Open ``path`` for writing bytes, created as 0600 (an existing file is set to 0600).

    Parameters
    ----------
    path:
        The file.
    exclusive:
        Fail with :class:`FileExistsError` when the file exists already.

    Returns
    -------
    BinaryIO
        The open file; the caller closes it.
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    descriptor = os.open(path, flags | getattr(os, "O_BINARY", 0), PRIVATE_FILE_MODE)
    if hasattr(os, "fchmod"):
        os.fchmod(descriptor, PRIVATE_FILE_MODE)  # an existing file keeps its mode otherwise
    return os.fdopen(descriptor, "wb")


def create_private_file(path: str | Path) -> None:
    """Create an empty 0600 file at ``path`` unless it exists (then only its mode is set)."""
    try:
        with open_private_file(path, exclusive=True):
            pass
    except FileExistsError:
        restrict(path)
