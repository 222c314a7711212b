"""The synthetic demo case the consult page and ``bcl demo`` open.

Where it comes from, first match wins:

1. ``$BCL_DEMO_CASE``: a case folder (``ct/``, ``mr/``, ``truth.json``), e.g. set by
   ``bcl demo`` or by tests that want a small case;
2. :func:`bcl_core.phantom.demo.demo_case_dir` when the phantom package provides it;
3. a case written once by the phantom's case writer into the user's cache folder
   (``$XDG_CACHE_HOME/bcl-predict/demo``), full size as a scanner writes it.

The demo case is synthetic: no patient. Its ``truth.json`` holds the target vertebra's centre in
each series, which the page offers as "mark it for me".
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from bcl_core.errors import InputError

logger = logging.getLogger(__name__)

DEMO_CASE_ENV = "BCL_DEMO_CASE"
#: Phantom settings of the fallback demo case (fixed: the same case every time).
DEMO_SITE = "internal"
DEMO_SEED = 2026


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bcl-predict" / "demo"


def _is_case(folder: Path) -> bool:
    return (folder / "ct").is_dir() and (folder / "mr").is_dir()


def write_demo_case(out_dir: str | Path, compact: bool = False) -> Path:
    """Write the fixed synthetic demo case into ``out_dir``; returns the case folder.

    Raises
    ------
    PhantomError
        If the folder cannot be written.
    """
    from bcl_core.phantom.writer import write_case

    out = Path(out_dir)
    row = write_case(out, DEMO_SITE, DEMO_SEED, 0, compact=compact)
    return out / str(row["case_id"])


def demo_case_dir(generate: bool = True) -> Path:
    """The demo case folder (see the module notes for where it is looked for).

    Parameters
    ----------
    generate:
        Write the case into the cache when no other is found (about 20 s once).

    Raises
    ------
    InputError
        If ``$BCL_DEMO_CASE`` names a folder without ``ct/`` and ``mr/``, or no case exists and
        ``generate`` is false.
    """
    configured = os.environ.get(DEMO_CASE_ENV)
    if configured:
        folder = Path(configured)
        if not _is_case(folder):
            raise InputError(f"{DEMO_CASE_ENV}={configured} is not a case folder (it needs ct/ "
                             "and mr/); unset it or run `bcl synth --cases 1`.")
        return folder
    try:
        from bcl_core.phantom import demo as phantom_demo  # provided by the phantom package
    except ImportError:
        phantom_demo = None
    if phantom_demo is not None and hasattr(phantom_demo, "demo_case_dir"):
        return Path(phantom_demo.demo_case_dir())
    root = _cache_root()
    existing = sorted(p for p in root.glob("*") if _is_case(p)) if root.is_dir() else []
    if existing:
        return existing[0]
    if not generate:
        raise InputError("No demo case yet; run `bcl demo` once to create it.")
    logger.info("writing the synthetic demo case into the cache folder")
    return write_demo_case(root)


def demo_points(case_dir: str | Path) -> dict[str, tuple[float, float, float]] | None:
    """The target vertebra's centre per series (``ct``, ``mr``) from ``truth.json``, if any."""
    truth = Path(case_dir) / "truth.json"
    try:
        data = json.loads(truth.read_text(encoding="utf-8"))
        return {role: tuple(float(v) for v in data[f"{role}_point_mm"])  # type: ignore[misc]
                for role in ("ct", "mr")}
    except (OSError, ValueError, KeyError, TypeError):
        return None
