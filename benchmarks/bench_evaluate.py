"""Benchmark: ``bcl evaluate`` on 1,000 cases x 4 types x 5 readers, 2,000 bootstrap resamples.

Bar (issue 8): <= 20 s wall time on the project's 2-core machine. Runs the real command in a
fresh process (import time included) on example tables written to a temporary folder.

    python benchmarks/bench_evaluate.py [--cases 1000] [--readers 5] [--bootstrap 2000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bcl_core.evaluation.example import make_example_tables

BAR_SECONDS = 20.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--readers", type=int, default=5)
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tables = make_example_tables(args.cases, args.readers, seed=0)
        tables.predictions.to_csv(folder / "predictions.csv", index=False)
        tables.labels.to_csv(folder / "labels.csv", index=False)
        tables.reads.to_csv(folder / "reads.csv", index=False)
        command = [sys.executable, "-m", "bcl_core.cli", "evaluate", "--pred", str(folder / "predictions.csv"),
                   "--labels", str(folder / "labels.csv"), "--reads", str(folder / "reads.csv"),
                   "--out", str(folder / "report"), "--bootstrap", str(args.bootstrap)]
        timings = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            timings.append(time.perf_counter() - start)
    best = min(timings)
    print(f"bcl evaluate: {args.cases} cases x 4 types x {args.readers} readers, B={args.bootstrap}: "
          f"{best:.2f} s (best of {args.repeat}; bar {BAR_SECONDS:.0f} s) -> {'PASS' if best <= BAR_SECONDS else 'FAIL'}")
    return 0 if best <= BAR_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
