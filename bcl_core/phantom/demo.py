"""The demo case behind the app's "Load demo case" and ``bcl demo``.

One full-size internal case (an L1 crush fracture with a posterior-wall breach: Type II and IV
leakage in its labels) is generated on first use into a cache folder and reused afterwards. It
is deterministic: every installation gets the same pixels.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from bcl_core import __version__
from bcl_core.errors import PhantomError
from bcl_core.phantom.sites import get_site
from bcl_core.phantom.spec import case_id_for
from bcl_core.phantom.writer import write_case, write_labels_csv

logger = logging.getLogger(__name__)

DEMO_SITE = "internal"
DEMO_SEED = 7
DEMO_INDEX = 4
#: Environment variable that moves the cache (default ``~/.cache/bcl_predict``).
CACHE_ENV = "BCL_CACHE_DIR"


def cache_root() -> Path:
    """Folder for generated data that can be rebuilt at any time."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "bcl_predict"


def cached_demo_case(cache_dir: str | Path | None = None) -> Path:
    """The demo case folder (``ct/``, ``mr/``, masks, ``truth.json``), generated if missing.

    Parameters
    ----------
    cache_dir:
        Where to keep it; default :func:`cache_root` ``/demo-<version>``.

    Returns
    -------
    Path
        ``<cache>/<case_id>``; its parent also holds ``labels.csv``.

    Raises
    ------
    PhantomError
        If the cache folder cannot be written.
    """
    root = Path(cache_dir) if cache_dir is not None else cache_root() / f"demo-{__version__}"
    case_id = case_id_for(get_site(DEMO_SITE), DEMO_SEED, DEMO_INDEX)
    case_dir = root / case_id
    if (case_dir / "truth.json").is_file():
        return case_dir
    try:
        root.mkdir(parents=True, exist_ok=True)
        # Build in a scratch folder and move it in whole, so that two sessions starting at
        # once never see (or leave) a half-written case.
        scratch = Path(tempfile.mkdtemp(prefix=".demo-", dir=root))
        try:
            row = write_case(scratch, DEMO_SITE, DEMO_SEED, DEMO_INDEX, compact=False)
            write_labels_csv([row], scratch)
            if not (case_dir / "truth.json").is_file():
                if case_dir.exists():
                    shutil.rmtree(case_dir)
                (scratch / case_id).rename(case_dir)
                (scratch / "labels.csv").replace(root / "labels.csv")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    except OSError as exc:
        raise PhantomError(f"cannot write the demo case under {root}: {exc.strerror}; set "
                           f"{CACHE_ENV} to a writable folder.") from exc
    logger.info("demo case ready in %s", case_dir)
    return case_dir
