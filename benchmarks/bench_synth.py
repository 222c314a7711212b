"""Seconds per synthetic case (wall and CPU), full-size and compact, for each site.

Each case is written serially (one process) into a scratch folder: DICOM, masks and
truth.json, exactly what ``bcl synth`` does per case. Wall time depends on what else the
machine runs; CPU time less so.

Usage: python benchmarks/bench_synth.py [--full 3] [--compact 10] [--seed 100] [--generation 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pydicom

from bcl_core.phantom.sites import SITES
from bcl_core.phantom.writer import write_case


def _series_shape(folder: Path) -> str:
    files = sorted(folder.glob("*.dcm"))
    first = pydicom.dcmread(files[0], stop_before_pixels=True)
    return f"{first.Columns}x{first.Rows}x{len(files)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", type=int, default=3, help="full-size cases per site")
    parser.add_argument("--compact", type=int, default=10, help="compact cases per site")
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--generation", type=int, default=1, choices=(1, 2),
                        help="generator generation (docs/phantom.md)")
    args = parser.parse_args()
    print("| site | kind | cases | wall s/case (median, max) | CPU s/case (median) | "
          "CT size (last) | MR size (last) |")
    print("|---|---|---|---|---|---|---|")
    for site in SITES:
        for compact, count in ((False, args.full), (True, args.compact)):
            walls, cpus = [], []
            with tempfile.TemporaryDirectory() as tmp:
                for index in range(count):
                    wall, cpu = time.perf_counter(), time.process_time()
                    row = write_case(tmp, site, args.seed, index, compact=compact,
                                     generation=args.generation)
                    walls.append(time.perf_counter() - wall)
                    cpus.append(time.process_time() - cpu)
                case = Path(tmp) / row["case_id"]
                ct, mr = _series_shape(case / "ct"), _series_shape(case / "mr")
            kind = "compact" if compact else "full"
            print(f"| {site} | {kind} | {count} | {statistics.median(walls):.2f}, "
                  f"{max(walls):.2f} | {statistics.median(cpus):.2f} | {ct} | {mr} |")


if __name__ == "__main__":
    main()
