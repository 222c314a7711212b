"""The synthetic demo case the consult page and ``bcl demo`` open.

Where it comes from: ``$BCL_DEMO_CASE`` (a case folder with ``ct/``, ``mr/``, ``truth.json``,
set by ``bcl demo --case`` or by tests that want a small case), else the phantom's cached demo
case (:func:`bcl_core.phantom.demo.cached_demo_case`, written once, full size as a scanner writes
it). The demo case is synthetic: no patient. Its ``truth.json`` holds the target vertebra's
centre in each series, which the page offers as "mark it for me".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from bcl_core.errors import InputError

if TYPE_CHECKING:
    from bcl_core.predict.case import Role

DEMO_CASE_ENV = "BCL_DEMO_CASE"


def write_demo_case(out_dir: str | Path, compact: bool = False) -> Path:
    """Write the demo case's phantom into ``out_dir`` (``compact``: small, for tests).

    Raises
    ------
    PhantomError
        If the folder cannot be written.
    """
    from bcl_core.phantom.demo import DEMO_INDEX, DEMO_SEED, DEMO_SITE
    from bcl_core.phantom.writer import write_case

    out = Path(out_dir)
    row = write_case(out, DEMO_SITE, DEMO_SEED, DEMO_INDEX, compact=compact)
    return out / str(row["case_id"])


def demo_case_dir() -> Path:
    """The demo case folder: ``$BCL_DEMO_CASE``, else the phantom's (written on first use).

    Raises
    ------
    InputError
        If ``$BCL_DEMO_CASE`` names a folder without ``ct/`` and ``mr/``.
    PhantomError
        If the demo case cannot be written.
    """
    from bcl_core.io.case_folder import is_case_folder  # bcl_core.io is heavy: on first use

    configured = os.environ.get(DEMO_CASE_ENV)
    if configured:
        folder = Path(configured)
        if not is_case_folder(folder):
            raise InputError(f"{DEMO_CASE_ENV}={configured} is not a case folder (it needs ct/ "
                             "and mr/); unset it or run `bcl synth --cases 1`.")
        return folder
    from bcl_core.phantom import demo

    return Path(demo.cached_demo_case())


def demo_points(case_dir: str | Path) -> dict[Role, tuple[float, float, float]] | None:
    """The target vertebra's centre per series (``ct``, ``mr``) from ``truth.json``.

    ``None`` when the folder has no usable ``truth.json`` (the page then offers no
    "mark it for me").
    """
    from bcl_core.io.case_folder import find_truth

    try:
        truth = find_truth(case_dir)
    except InputError:
        return None
    if truth is None:
        return None
    return {"ct": truth.ct_point_mm, "mr": truth.mr_point_mm}
