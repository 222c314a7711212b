"""The study key: the secret of the source-folder hashes, kept outside the database.

A case's source folder name (often a medical record number) is kept only as
HMAC-SHA-256 under this key, so that labels and predictions given by source id can still be
matched. Without the key, the database alone reveals nothing: trying every 8-digit number
against a plain salted hash takes minutes, against a keyed one it is impossible.

The key is, in order of precedence:

1. the text of ``BCL_STUDY_KEY`` (at least 32 characters, e.g. ``openssl rand -hex 32``);
2. the file named by ``BCL_STUDY_KEY_FILE``;
3. ``<study data folder>/study.key``.

``bcl study init`` creates the file (mode 0600, 64 hex characters) when no key is set. Back it
up apart from the database: a lost key cannot be recovered, and without it source ids no
longer match the cases already imported.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from bcl_core.errors import StudyError
from bcl_core.io.private_files import make_private_dir, open_private_file, restrict

logger = logging.getLogger(__name__)

KEY_ENV = "BCL_STUDY_KEY"
KEY_FILE_ENV = "BCL_STUDY_KEY_FILE"
KEY_FILENAME = "study.key"
#: Shortest key text accepted (32 characters: 128 bits as hex, more as random text).
MIN_KEY_CHARS = 32


def key_file_path(data_dir: str | Path) -> Path:
    """Where the key file is: ``BCL_STUDY_KEY_FILE`` or ``<data_dir>/study.key``."""
    configured = os.environ.get(KEY_FILE_ENV)
    return Path(configured) if configured else Path(data_dir) / KEY_FILENAME


def _checked(text: str, where: str) -> bytes:
    key = text.strip()
    if len(key) < MIN_KEY_CHARS:
        raise StudyError(
            f"The study key in {where} is too short ({len(key)} characters; at least "
            f"{MIN_KEY_CHARS} are needed). Use the key this study was created with, or make a "
            "new one for a new study with `openssl rand -hex 32`.")
    return key.encode("utf-8")


def load_study_key(data_dir: str | Path) -> bytes | None:
    """The study key, or ``None`` when none is configured or stored.

    Parameters
    ----------
    data_dir:
        The study data folder (holds ``study.key`` unless ``BCL_STUDY_KEY_FILE`` says otherwise).

    Returns
    -------
    bytes or None
        The key.

    Raises
    ------
    StudyError
        If the key is too short or the key file cannot be read.
    """
    text = os.environ.get(KEY_ENV)
    if text:
        return _checked(text, f"${KEY_ENV}")
    path = key_file_path(data_dir)
    if not path.exists():
        return None
    if path.stat().st_mode & 0o077:
        logger.warning("the study key file was readable by others; restricted to its owner")
        restrict(path)
    try:
        return _checked(path.read_text(encoding="utf-8"), "the study key file")
    except (OSError, UnicodeDecodeError) as exc:
        raise StudyError(f"The study key file {path} cannot be read ({type(exc).__name__}); "
                         f"check its owner, or set {KEY_ENV}.") from exc


def create_study_key(data_dir: str | Path) -> Path | None:
    """Create the key file (0600, 256 random bits as hex) unless a key exists already.

    Parameters
    ----------
    data_dir:
        The study data folder.

    Returns
    -------
    Path or None
        The new key file; ``None`` when a key was already set or stored (it is never replaced).
    """
    if load_study_key(data_dir) is not None:
        return None
    path = key_file_path(data_dir)
    if not path.parent.exists():  # an existing folder (a home directory, say) keeps its mode
        make_private_dir(path.parent)
    try:
        with open_private_file(path, exclusive=True) as handle:
            handle.write((secrets.token_hex(32) + "\n").encode("ascii"))
    except FileExistsError:
        return None  # created meanwhile by another process: keep that one
    logger.info("created a new study key file")
    return path


def require_study_key(data_dir: str | Path) -> bytes:
    """The study key, or a :class:`StudyError` that says how to create or restore it.

    Raises
    ------
    StudyError
        If no key is configured or stored.
    """
    key = load_study_key(data_dir)
    if key is None:
        raise StudyError(
            f"The study key was not found (looked for ${KEY_ENV}, then the file "
            f"{key_file_path(data_dir)}). It matches source case ids to imported cases and "
            "is kept apart from the database. Restore the key file from your backup (or set "
            f"${KEY_ENV} / ${KEY_FILE_ENV} to it); for a study without imported cases, "
            "`bcl study init` creates a new one.")
    return key
