"""Write docs/phantom_montage.png: one full-size internal synthetic case, as a surgeon sees it.

Usage: python research/make_montage.py [--seed 7] [--index 0] [--out docs/phantom_montage.png]
       [--generation 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bcl_core.phantom.montage import make_montage
from bcl_core.phantom.writer import write_case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--site", default="internal")
    parser.add_argument("--out", default="docs/phantom_montage.png")
    parser.add_argument("--generation", type=int, default=1, choices=(1, 2))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        row = write_case(tmp, args.site, args.seed, args.index, compact=False,
                         generation=args.generation)
        print(f"generated {row['case_id']} in {time.perf_counter() - start:.1f} s")
        print(make_montage(Path(tmp) / row["case_id"], args.out))


if __name__ == "__main__":
    main()
