"""Per-type AUROC of the shipped models through the whole pipeline on in-memory synthetic cases.

    python benchmarks/pipeline_auroc.py --site external --seed 5151 --cases 80

With these defaults it measures exactly the cases of tests/test_model_regression.py, whose
floors are set below what this prints for the shipped model.
"""

from __future__ import annotations

import json
import logging

from sklearn.metrics import roc_auc_score

from bcl_core.evaluation.phantom_pipeline import pipeline_on_phantoms, script_arguments
from bcl_core.leakage import LEAKAGE_TYPES

logger = logging.getLogger("pipeline_auroc")


def main() -> None:
    """Print one JSON line: AUROC and positives per type."""
    args = script_arguments(__doc__.splitlines()[0], seed=5151, cases=80)
    logger.setLevel(logging.INFO)
    probabilities, labels = pipeline_on_phantoms(args.site, args.seed, args.cases)
    out = {"site": args.site, "seed": args.seed, "cases": args.cases}
    for h, name in enumerate(LEAKAGE_TYPES):
        positives = int(labels[:, h].sum())
        out[name] = {"positives": positives,
                     "auroc": (round(float(roc_auc_score(labels[:, h], probabilities[:, h])), 4)
                               if 0 < positives < len(labels) else None)}
    logger.info(json.dumps(out))


if __name__ == "__main__":
    main()
