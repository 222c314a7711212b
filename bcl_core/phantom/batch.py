"""Generating many synthetic cases, in parallel over a process pool.

Each case depends only on ``(site, seed, index)``, so cases can be made in any order and on any
number of workers with byte-identical results.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from bcl_core.errors import PhantomError
from bcl_core.phantom.generation import DEFAULT_GENERATION, get_generation
from bcl_core.phantom.sites import get_site
from bcl_core.phantom.spec import MAX_SEED
from bcl_core.phantom.writer import write_case, write_labels_csv

logger = logging.getLogger(__name__)

#: Largest number of cases one run makes (a guard against typos such as ``--cases 1e9``).
MAX_CASES = 100_000


def default_workers(n_cases: int) -> int:
    """Worker processes for a run: one per CPU, never more than the cases."""
    return max(1, min(os.cpu_count() or 1, n_cases))


def synthesize(out_dir: str | Path, n_cases: int, site: str, seed: int,
               compact: bool = False, workers: int | None = None,
               on_case_done: Callable[[dict[str, Any]], None] | None = None,
               generation: int = DEFAULT_GENERATION) -> list[dict[str, Any]]:
    """Write ``n_cases`` cases of a site and ``DIR/labels.csv``.

    Parameters
    ----------
    out_dir:
        Output folder (created if missing).
    n_cases:
        Number of cases (case indices ``0 .. n_cases - 1``).
    site:
        ``internal``, ``prospective`` or ``external``.
    seed:
        Run seed; the same seed gives the same bytes.
    compact:
        Smaller field of view (fast training sets).
    workers:
        Worker processes; default one per CPU. 1 runs in this process.
    on_case_done:
        Called with each finished case's label row (e.g. to advance a progress bar).
    generation:
        Generator generation (:mod:`bcl_core.phantom.generation`); the default 1 is what the
        shipped models were trained on.

    Returns
    -------
    list of dict
        The ``labels.csv`` rows, sorted by case ID.

    Raises
    ------
    PhantomError
        For bad settings or an unwritable output folder.
    """
    get_site(site)
    get_generation(generation)
    if not 1 <= n_cases <= MAX_CASES:
        raise PhantomError(f"--cases must be between 1 and {MAX_CASES}, got {n_cases}.")
    if not 0 <= seed <= MAX_SEED:
        raise PhantomError(f"--seed must be between 0 and {MAX_SEED}, got {seed}.")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PhantomError(f"cannot create output folder {out}: {exc.strerror}.") from exc
    n_workers = default_workers(n_cases) if workers is None else max(1, min(workers, n_cases))
    rows: list[dict[str, Any]] = []

    def done(row: dict[str, Any]) -> None:
        rows.append(row)
        if on_case_done is not None:
            on_case_done(row)

    if n_workers == 1:
        for index in range(n_cases):
            done(write_case(out, site, seed, index, compact, generation))
    else:
        with ProcessPoolExecutor(max_workers=n_workers) as pool:
            futures = [pool.submit(write_case, out, site, seed, index, compact, generation)
                       for index in range(n_cases)]
            for future in as_completed(futures):
                done(future.result())
    write_labels_csv(rows, out)
    logger.info("wrote %d %s cases (generation %d) to %s", len(rows), site, generation, out)
    return sorted(rows, key=lambda r: str(r["case_id"]))
