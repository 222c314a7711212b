"""Staging folders of case imports, and the removal of those a killed import left behind.

An import de-identifies each case into ``<study>/staging/<owner>-<random>/`` before moving it
in place. A killed import leaves that folder behind (partial de-identified files). Each folder
is named after the host and process that owns it, so the next import can tell a dead import's
folder (its process is gone) from one that a concurrent import is still filling.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
import time
import uuid
from pathlib import Path

from bcl_core.io.private_files import make_private_dir

logger = logging.getLogger(__name__)

#: Folders whose owner cannot be told (other hosts, other systems) are removed after this long.
STALE_AFTER_S = 24 * 3600
_NAME = re.compile(r"^(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)-[0-9a-f]{32}$")


def _host_tag() -> str:
    """A short tag of this machine (a hash: host names are kept off disk)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def new_staging_dir(staging_root: Path) -> Path:
    """A fresh, not yet created staging folder owned by this process (its parent is made 0700).

    Parameters
    ----------
    staging_root:
        ``<study folder>/staging``.

    Returns
    -------
    Path
        ``staging_root/<host>-<pid>-<random>``.
    """
    make_private_dir(staging_root)
    return staging_root / f"{_host_tag()}-{os.getpid()}-{uuid.uuid4().hex}"


def _process_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # no safe liveness check here: left to the age rule
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another account's process
    return True


def _is_stale(folder: Path, now: float) -> bool:
    match = _NAME.match(folder.name)
    if match and match["host"] == _host_tag():
        return not _process_alive(int(match["pid"]))
    try:
        return now - folder.stat().st_mtime > STALE_AFTER_S
    except OSError:
        return False


def remove_stale_staging(staging_root: Path) -> int:
    """Remove the staging folders of imports that died; returns how many were removed.

    A folder of this host whose process is gone is removed at once; one of another host (a
    shared data folder) or of unknown owner only when older than :data:`STALE_AFTER_S`.
    Folders of running imports are left alone.
    """
    if not staging_root.is_dir():
        return 0
    now = time.time()
    removed = 0
    for folder in staging_root.iterdir():
        if folder.is_dir() and not folder.is_symlink() and _is_stale(folder, now):
            shutil.rmtree(folder, ignore_errors=True)
            removed += not folder.exists()
    if removed:
        logger.info("removed %d staging folder(s) left by interrupted imports", removed)
    return removed
