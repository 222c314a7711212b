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


def test_crop_cache_is_extended_and_rebuilt_on_new_settings(tmp_path: Path, monkeypatch) -> None:
    from bcl_core.train import fusion_run

    built: list[list[str]] = []
    real_build = fusion_run.build_crop_set

    def counting_build(jobs, **kwargs):  # noqa: ANN001, ANN003
        built.append([fusion_run.job_case_id(job) for job in jobs])
        return real_build(jobs, **kwargs)

    monkeypatch.setattr(fusion_run, "build_crop_set", counting_build)
    small = fusion_run.load_or_build(DataSource("dev", site="internal", seed=5, n_cases=2),
                                     tmp_path, workers=1)
    assert small.case_ids == ["INT-S5-0001", "INT-S5-0002"]
    assert small.latent.shape == (2, 10)
    larger = fusion_run.load_or_build(DataSource("dev", site="internal", seed=5, n_cases=3),
                                      tmp_path, workers=1)
    assert built == [["INT-S5-0001", "INT-S5-0002"], ["INT-S5-0003"]]  # only the new case
    np.testing.assert_allclose(larger.ct[:2], small.ct, atol=1e-2)  # cached as float16
    again = fusion_run.load_or_build(DataSource("dev", site="internal", seed=5, n_cases=2),
                                     tmp_path, workers=1)
    assert again.case_ids == small.case_ids and len(built) == 2  # a subset: nothing built
    # A cache made with other input settings is never reused.
    monkeypatch.setattr(fusion_run, "settings_key", lambda: "other settings")
    fusion_run.load_or_build(DataSource("dev", site="internal", seed=5, n_cases=2), tmp_path,
                             workers=1)
    assert built[-1] == ["INT-S5-0001", "INT-S5-0002"]
