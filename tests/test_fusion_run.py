"""End-to-end `bcl train fusion` recipe on a handful of in-memory synthetic cases (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bcl_core.predict.sidecar import load_sidecar
from bcl_core.train.fusion import FusionTrainConfig
from bcl_core.train.fusion_run import DataSource, FusionRunConfig, run_fusion_training


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


def test_an_old_cache_gets_feature_maps_for_the_development_set(tmp_path: Path,
                                                                monkeypatch) -> None:
    from bcl_core.train import fusion_run
    from bcl_core.train.feature_maps import phantom_feature_masks
    from bcl_core.train.fusion_data import FUSION_INPUT_SETTINGS

    source = DataSource("dev", site="internal", seed=1000, n_cases=2)
    built = fusion_run.load_or_build(source, tmp_path, workers=1)
    assert built.maps.shape == (2, 3, 48, 48, 48)  # new caches carry the maps
    built.maps = np.zeros((0,), np.uint8)  # a cache from before the maps existed
    built.save(tmp_path / "dev.npz")
    assert len(fusion_run.load_or_build(source, tmp_path, workers=1).maps) == 0  # not asked
    first = DataSource("dev", site="internal", seed=1000, n_cases=1)
    with_maps = fusion_run.load_or_build(first, tmp_path, workers=1, with_maps=True)
    np.testing.assert_array_equal(
        with_maps.maps[0], phantom_feature_masks("internal", 1000, 0, FUSION_INPUT_SETTINGS))
    assert with_maps.maps[0, 1].any()  # case 0 has a posterior breach
    from bcl_core.train.fusion import CropSet

    # The cache holds a case this run did not ask for: it is kept, and the maps are not saved.
    assert len(CropSet.load(tmp_path / "dev.npz")) == 2
    assert len(CropSet.load(tmp_path / "dev.npz").maps) == 0
    fusion_run.load_or_build(source, tmp_path, workers=1, with_maps=True)
    assert len(CropSet.load(tmp_path / "dev.npz").maps) == 2  # all its cases: saved

    # A cache with the first two maps (made before the venous channels were mapped) gets only
    # the third computed, appended.
    full = CropSet.load(tmp_path / "dev.npz")
    older = full.subset([0, 1])
    older.maps = full.maps[:, :2].copy()
    older.save(tmp_path / "dev.npz")
    calls: list[tuple[str, ...]] = []
    real = fusion_run.build_feature_maps

    def spy(jobs, workers, progress, names):  # noqa: ANN001, ANN202
        calls.append(tuple(names))
        return real(jobs, workers, progress, names)

    monkeypatch.setattr(fusion_run, "build_feature_maps", spy)
    again = fusion_run.load_or_build(source, tmp_path, workers=1, with_maps=True)
    assert calls == [("vein_channels",)]
    np.testing.assert_array_equal(again.maps, full.maps)
    assert CropSet.load(tmp_path / "dev.npz").maps.shape[1] == 3


def test_fusion_export_rewrites_onnx_and_checksum_from_the_checkpoint(tmp_path: Path) -> None:
    import torch

    from bcl_core import SYNTHETIC_NOTICE
    from bcl_core.nets.fusion import FusionNet, FusionWithCAM
    from bcl_core.predict.runtime import sha256_file
    from bcl_core.predict.sidecar import write_sidecar
    from bcl_core.train.fusion import CropSet, config_dict
    from bcl_core.train.fusion_data import FUSION_INPUT_SETTINGS
    from bcl_core.train.fusion_run import reexport_fusion

    config = FusionTrainConfig(channels=(4, 8, 8), shared_features=8)
    torch.manual_seed(0)
    model = FusionNet.from_config(config_dict(config)).eval()
    with torch.no_grad():  # a trained direct term is not zero
        model.direct.weight.uniform_(-1.0, 1.0)  # type: ignore[union-attr]
    torch.save(model.state_dict(), tmp_path / "fusion.pt")
    (tmp_path / "fusion.onnx").write_bytes(b"stale")
    scale, bias = [1.5, 1.0, 1.0, 2.0, 1.0], [0.1, 0.0, 0.0, -0.2, 0.0]
    write_sidecar({"name": "fusion", "task": "classification", "version": "test",
                   "onnx_file": "fusion.onnx", "sha256": sha256_file(tmp_path / "fusion.onnx"),
                   "output_names": ["probabilities", "logits", "cam_ct", "cam_mr"],
                   "thresholds": dict.fromkeys(("type1", "type2", "type3", "type4", "any"), 0.5),
                   **FUSION_INPUT_SETTINGS,
                   "calibration": {"method": "platt", "scale": scale, "bias": bias},
                   "notice": SYNTHETIC_NOTICE,
                   "training": {"config": config_dict(config)}}, tmp_path / "fusion.json")
    rng = np.random.default_rng(0)
    sample = CropSet(["a", "b"], rng.normal(size=(2, 48, 48, 48)).astype(np.float32),
                     rng.normal(size=(2, 48, 48, 48)).astype(np.float32),
                     np.zeros((2, 5), np.uint8))
    exported = reexport_fusion(tmp_path, sample)
    assert exported["parity_max_abs_diff"] <= 1e-4
    sidecar = load_sidecar(tmp_path / "fusion.json")
    assert sidecar.sha256 == sha256_file(tmp_path / "fusion.onnx")
    # The ONNX graph is the current wrapper: its CT map includes the detector's Grad-CAM.
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "fusion.onnx"),
                                   providers=["CPUExecutionProvider"])
    got = session.run(None, {"ct": sample.ct[:1, None], "mr": sample.mr[:1, None]})
    wrapper = FusionWithCAM(model, torch.tensor(scale), torch.tensor(bias))
    expected = wrapper(torch.from_numpy(sample.ct[:1, None]), torch.from_numpy(sample.mr[:1, None]))
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_allclose(g, e.detach().numpy(), atol=1e-4)


def test_fusion_export_says_what_is_missing(tmp_path: Path, capsys) -> None:
    from bcl_core.cli import main

    assert main(["train", "fusion-export", "--models", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert "has no fusion.pt" in err and "Traceback" not in err


def test_train_fusion_options_reach_the_training_config(tmp_path: Path, monkeypatch,
                                                         capsys) -> None:
    from bcl_core.cli import main
    from bcl_core.predict import model_card
    from bcl_core.train import fusion_run

    seen = []

    def fake_run(config, progress=None):  # noqa: ANN001, ANN202
        seen.append(config)
        return {"export": {}, "total_seconds": 0.0}

    monkeypatch.setattr(fusion_run, "run_fusion_training", fake_run)
    monkeypatch.setattr(model_card, "write_model_card", lambda folder: folder)
    assert main(["train", "fusion", "--synthetic-cases", "4", "--out", str(tmp_path),
                 "--ct-thick-slice-p", "0.5", "--map-weight", "0"]) == 0
    assert seen[0].train.thick_slice_p == (0.5, 0.0) and seen[0].train.map_weight == 0.0
    assert main(["train", "fusion", "--synthetic-cases", "4", "--out", str(tmp_path)]) == 0
    defaults = FusionTrainConfig()
    assert seen[1].train.thick_slice_p == defaults.thick_slice_p
    assert seen[1].train.feature_maps == ("wall_defect", "posterior_breach")
    assert not seen[1].train.detector_counts and seen[1].train.detector_direct
    assert main(["train", "fusion", "--synthetic-cases", "4", "--out", str(tmp_path),
                 "--feature-maps", "wall_defect, vein_channels", "--detector-counts"]) == 0
    assert seen[2].train.feature_maps == ("wall_defect", "vein_channels")
    assert seen[2].train.detector_counts
    assert main(["train", "fusion", "--synthetic-cases", "4", "--out", str(tmp_path),
                 "--feature-maps", "none"]) == 0
    assert seen[3].train.feature_maps == ()
    for bad in ("veins", "wall_defect,wall_defect", ","):
        with pytest.raises(SystemExit) as exit_info:
            main(["train", "fusion", "--synthetic-cases", "4", "--out", str(tmp_path),
                  "--feature-maps", bad])
        assert exit_info.value.code == 2
        assert "give distinct names among wall_defect,posterior_breach,vein_channels" in (
            capsys.readouterr().err)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "fusion", "--synthetic-cases", "4", "--out", str(tmp_path),
              "--ct-thick-slice-p", "1.5"])
    assert exit_info.value.code == 2
    assert "a probability from 0 to 1" in capsys.readouterr().err


def test_load_checkpoint_names_the_folder_when_it_cannot(tmp_path: Path) -> None:
    from bcl_core.errors import ModelError
    from bcl_core.train.fusion import load_checkpoint

    with pytest.raises(ModelError, match="cannot load the fusion checkpoint"):
        load_checkpoint(tmp_path)
