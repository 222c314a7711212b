"""End-to-end `bcl train fusion` recipe on a handful of in-memory synthetic cases (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from bcl_core.sidecar import load_sidecar  # noqa: E402
from bcl_core.train.fusion import FusionTrainConfig  # noqa: E402
from bcl_core.train.fusion_run import DataSource, FusionRunConfig, run_fusion_training  # noqa: E402


@pytest.mark.slow
def test_fusion_recipe_writes_a_loadable_model(tmp_path: Path) -> None:
    config = FusionRunConfig(
        out_dir=tmp_path / "models", cache_dir=tmp_path / "cache",
        development=DataSource("dev", site="internal", seed=5, n_cases=24),
        tests=(DataSource("external", site="external", seed=6, n_cases=8),),
        train=FusionTrainConfig(epochs=1, batch_size=8, channels=(4, 8, 8),
                                shared_features=8),
        ablations=False, validation_fraction=0.25,
    )
    metrics = run_fusion_training(config)
    sidecar = load_sidecar(tmp_path / "models" / "fusion.json")
    assert sidecar.input_names == ("ct", "mr")
    assert set(sidecar.thresholds) == {"type1", "type2", "type3", "type4", "any"}
    assert metrics["export"]["parity_max_abs_diff"] <= 1e-4
    written = json.loads((tmp_path / "models" / "fusion.metrics.json").read_text())
    assert written["data"]["n_train"] == 18 and written["data"]["n_validation"] == 6
    assert np.isfinite(written["total_seconds"])
    # A second run reuses the crop caches.
    assert (tmp_path / "cache" / "dev.npz").is_file()
