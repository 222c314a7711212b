"""Example evaluation tables (synthetic numbers, no images) for benchmarks, tests and demos.

The tables have exactly the formats of docs/evaluation.md; the numbers are drawn from a simple
latent-score model (labels from an oracle probability, the model and readers noisy views of the
same latent risk). They say nothing about any real model or reader.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bcl_core.evaluation import schema

#: Incidence per type, roughly as reported (type IV the rarest).
EXAMPLE_PREVALENCE: tuple[float, ...] = (0.25, 0.3, 0.2, 0.08)


@dataclass(frozen=True)
class ExampleTables:
    """predictions, labels (with oracle columns) and reads as DataFrames in the file formats."""

    predictions: pd.DataFrame
    labels: pd.DataFrame
    reads: pd.DataFrame


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def make_example_tables(n_cases: int = 200, n_readers: int = 3, seed: int = 0) -> ExampleTables:
    """Draw example predictions, labels and reads for ``n_cases`` cases and ``n_readers`` readers."""
    rng = np.random.default_rng(seed)
    case_ids = [f"case{idx:05d}" for idx in range(n_cases)]
    predictions: dict[str, list[str] | NDArray[np.generic]] = {schema.CASE_ID: case_ids}
    labels: dict[str, list[str] | NDArray[np.generic]] = {schema.CASE_ID: case_ids}
    oracle = {}
    reads = []
    for t, prevalence in zip(schema.TYPES, EXAMPLE_PREVALENCE, strict=True):
        latent = rng.normal(0.0, 1.6, n_cases) + np.log(prevalence / (1 - prevalence))
        p_true = _sigmoid(latent)
        y = (rng.random(n_cases) < p_true).astype(int)
        prob = _sigmoid(latent + rng.normal(0, 0.9, n_cases))
        labels[t] = y
        oracle[f"oracle_{t}"] = np.round(p_true, 6)
        predictions[f"prob_{t}"] = np.round(prob, 6)
        predictions[f"call_{t}"] = (prob >= 0.5).astype(int)
        for r in range(n_readers):
            view = _sigmoid(latent + rng.normal(0, 1.4, n_cases))
            reads.append(pd.DataFrame({
                "reader_id": f"reader{r + 1}", schema.CASE_ID: case_ids, "type": t[-1],
                "call": (view >= 0.5).astype(int), "confidence": np.round(100 * view),
            }))
    pred = pd.DataFrame(predictions)[list(schema.PREDICTION_COLUMNS)]
    lab = pd.DataFrame({**labels, **oracle})[[*schema.LABEL_COLUMNS, *schema.ORACLE_COLUMNS]]
    return ExampleTables(pred, lab, pd.concat(reads, ignore_index=True))
