"""Regression test of the shipped models: the full pipeline (ONNX segmentation on CT and MRI from
the truth click -> ROI -> ONNX fusion classifier) on freshly generated synthetic cases keeps a
documented AUROC floor per type (docs/models.md, "Regression floors").

The cases are made in memory by the same generator `bcl synth` uses (site and seed never used in
training), so the test needs no data on disk. Labels come from the generator, not from the code
under test.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from bcl_core.leakage import LEAKAGE_TYPES
from bcl_core.predict.runtime import default_model_dir

N_CASES = 80
SITE, SEED = "external", 5151  # seed chosen for 6 Type IV cases among 80 (labels only)
#: Floors documented in docs/models.md ("Regression floors"): 0.07-0.08 below what the shipped
#: models measured on these exact cases (`python benchmarks/pipeline_auroc.py`: 0.772, 0.769,
#: 0.815, 0.822 for fusion 0.1.0+fusion.s1000.e30, whose detector also reaches the logits
#: directly; 0.771, 0.670, 0.812, 0.842 for 0.1.0+fusion.s1000.e28; 0.775, 0.583, 0.851, 0.626
#: for 0.1.0+fusion.s1000.e26), so a change that degrades the
#: pipeline or the model fails here while ONNX Runtime's numerical differences between machines
#: do not.
AUROC_FLOORS = {"type1": 0.70, "type2": 0.69, "type3": 0.74, "type4": 0.75}

pytestmark = pytest.mark.skipif(
    not (default_model_dir() / "fusion.json").is_file(),
    reason="no shipped fusion model in models/ (train it with `bcl train fusion`)")


@pytest.fixture(scope="module")
def predictions() -> tuple[np.ndarray, np.ndarray]:
    from bcl_core.evaluation.phantom_pipeline import pipeline_on_phantoms

    return pipeline_on_phantoms(SITE, SEED, N_CASES)


@pytest.mark.parametrize("index", range(len(LEAKAGE_TYPES)), ids=list(LEAKAGE_TYPES))
def test_auroc_floor(predictions: tuple[np.ndarray, np.ndarray], index: int) -> None:
    probabilities, labels = predictions
    name = LEAKAGE_TYPES[index]
    assert 0 < labels[:, index].sum() < len(labels), f"{name}: one class only in {N_CASES} cases"
    auroc = roc_auc_score(labels[:, index], probabilities[:, index])
    assert auroc >= AUROC_FLOORS[name], f"{name}: AUROC {auroc:.3f} < floor {AUROC_FLOORS[name]}"
