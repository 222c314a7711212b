"""Cold start of the ``bcl`` command, side by side with SimpleITK reading the same series.

Each run is a new process, as a user starts it. In one loop, alternating so that a busy machine
slows all three alike, the script times:

* ``sitk_read``: a new Python process that imports SimpleITK and reads both DICOM series of the
  case (``ImageSeriesReader``): the floor any DICOM tool pays;
* ``bcl_predict``: ``bcl predict CASE --ct-point .. --mr-point .. --json`` (the shipped models,
  CPU provider); its ``timings_s.roi`` is collected too;
* ``bcl_help``: ``bcl --help``.

It reports the median of ``--repeats`` runs (at least 5) of each and checks the targets of
issue 17: ``bcl predict`` <= SimpleITK read + 1.5 s, ``bcl --help`` <= 0.3 s, ROI <= 0.1 s.

Usage::

    python benchmarks/bench_cold_start.py [--case DIR] [--repeats 7]

Without ``--case`` it writes a full-size case first (``bcl synth --out DIR --cases 1 --site
internal --seed 1``: 512x512 CT as a scanner writes it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: Targets of issue 17 (seconds).
PREDICT_OVER_SITK_S = 1.5
HELP_S = 0.3
ROI_S = 0.1

SITK_READ = """
import sys
import SimpleITK as sitk
for folder in sys.argv[1:]:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder))
    reader.Execute()
"""


def bcl_argv() -> list[str]:
    """The ``bcl`` console script beside this Python, else ``python -m bcl_core.cli``."""
    script = Path(sys.executable).with_name("bcl")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "bcl_core.cli"]


def full_size_case(out: Path) -> Path:
    """Write one full-size internal case with ``bcl synth``; returns its folder."""
    subprocess.run([*bcl_argv(), "synth", "--out", str(out), "--cases", "1", "--site",
                    "internal", "--seed", "1"], check=True, stdout=subprocess.DEVNULL)
    return next(path.parent for path in out.glob("*/truth.json"))


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds of one process and its standard output."""
    start = time.perf_counter()
    done = subprocess.run(argv, check=True, capture_output=True, text=True, env=env)
    return time.perf_counter() - start, done.stdout


def measure(case: Path, repeats: int) -> dict[str, Any]:
    """Alternate the three runs ``repeats`` times; the medians and the targets' verdicts."""
    truth = json.loads((case / "truth.json").read_text(encoding="utf-8"))
    env = {**os.environ, "BCL_ORT_PROVIDER": os.environ.get("BCL_ORT_PROVIDER", "cpu")}
    predict = [*bcl_argv(), "predict", str(case),
               "--ct-point=" + ",".join(str(v) for v in truth["ct_point_mm"]),
               "--mr-point=" + ",".join(str(v) for v in truth["mr_point_mm"]), "--json"]
    sitk = [sys.executable, "-c", SITK_READ, str(case / "ct"), str(case / "mr")]
    runs: dict[str, list[float]] = {"sitk_read_s": [], "bcl_predict_s": [], "bcl_help_s": [],
                                    "roi_s": []}
    timed(predict, env)  # one unmeasured run: the files and libraries into the page cache
    for _ in range(repeats):
        runs["sitk_read_s"].append(timed(sitk, env)[0])
        seconds, out = timed(predict, env)
        runs["bcl_predict_s"].append(seconds)
        runs["roi_s"].append(float(json.loads(out)["timings_s"]["roi"]))
        runs["bcl_help_s"].append(timed([*bcl_argv(), "--help"], env)[0])
    median = {name: round(statistics.median(values), 3) for name, values in runs.items()}
    return {
        "case": case.name,
        "repeats": repeats,
        "median": median,
        "runs": {name: [round(v, 3) for v in values] for name, values in runs.items()},
        "predict_minus_sitk_s": round(median["bcl_predict_s"] - median["sitk_read_s"], 3),
        "targets_met": {
            f"bcl predict <= sitk read + {PREDICT_OVER_SITK_S} s":
                median["bcl_predict_s"] <= median["sitk_read_s"] + PREDICT_OVER_SITK_S,
            f"bcl --help <= {HELP_S} s": median["bcl_help_s"] <= HELP_S,
            f"roi <= {ROI_S} s": median["roi_s"] <= ROI_S,
        },
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=None,
                        help="full-size case folder (default: write one with bcl synth)")
    parser.add_argument("--repeats", type=int, default=7, help="runs of each (at least 5)")
    args = parser.parse_args()
    if args.repeats < 5:
        parser.error("--repeats must be at least 5 (medians of five or more runs)")
    scratch = None
    case = args.case
    if case is None:
        scratch = Path(tempfile.mkdtemp(prefix="bcl_cold_"))
        case = full_size_case(scratch)
    try:
        report = measure(case, args.repeats)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
