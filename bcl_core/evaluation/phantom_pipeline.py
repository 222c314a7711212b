"""The whole pipeline on synthetic cases made in memory: for regression floors and benchmarks.

Each case is rendered by the generator ``bcl synth`` uses, then predicted exactly as in the app
(ONNX segmentation on CT and MRI from the truth click -> ROI -> ONNX fusion classifier). The
labels come from the generator, never from the code under test.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
from numpy.typing import NDArray

from bcl_core.leakage import LEAKAGE_TYPES


def pipeline_on_phantoms(site: str, seed: int, n_cases: int
                         ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Probabilities and labels ``(n_cases, 4)`` (types I-IV) of the shipped models.

    Parameters
    ----------
    site, seed:
        Generator site profile and seed (use a seed no training set used).
    n_cases:
        How many cases (indices ``0..n_cases-1``).
    """
    from bcl_core.phantom.ct import render_ct
    from bcl_core.phantom.mr import render_mr
    from bcl_core.phantom.spec import sample_case_spec
    from bcl_core.phantom.writer import truth_record
    from bcl_core.predict.pipeline import PipelineModels, predict_case

    models = PipelineModels.load()
    probabilities, labels = [], []
    for index in range(n_cases):
        spec = sample_case_spec(site, seed, index)
        truth = truth_record(spec, compact=True)
        ct, _ = render_ct(spec, compact=True)
        mr, _ = render_mr(spec, compact=True)
        result = predict_case(ct, mr, truth["ct_point_mm"], truth["mr_point_mm"],
                              models=models, with_maps=False)
        probabilities.append([result.probabilities[t] for t in LEAKAGE_TYPES])
        labels.append([truth["labels"][t] for t in LEAKAGE_TYPES])
    return np.asarray(probabilities, dtype=float), np.asarray(labels, dtype=np.int64)


def script_arguments(description: str, seed: int, cases: int,
                     site: str = "external") -> argparse.Namespace:
    """``--site``/``--seed``/``--cases`` of a benchmark script on in-memory synthetic cases.

    Also quiets the library's per-case log lines (warnings and errors still show).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--site", default=site)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--cases", type=int, default=cases)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    return args
