"""Training smoke run on toy data (seconds), sampling rules, and the train command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bcl_core.cli import main
from bcl_core.predict.runtime import clear_model_cache, load_model
from bcl_core.predict.sidecar import load_sidecar
from bcl_core.train.augment import AugmentConfig
from bcl_core.train.cases import SegCase
from bcl_core.train.seg_dataset import SamplingConfig, build_region, sample_patch
from bcl_core.train.toy import make_toy_case

SAMPLING = SamplingConfig(margin_voxels=6, negative_distance_mm=(12.0, 16.0))
TINY = {"size_ijk": (24, 24, 24), "spacing_mm": (3.0, 3.0, 3.0), "offset_mm": (0.0, 6.0, 0.0),
        "architecture": {"channels": [4, 8, 16], "strides": [2, 2]}}


def toy_cases(n: int = 4) -> list[SegCase]:
    cases = []
    for seed in range(n):
        toy = make_toy_case(size_ijk=(40, 40, 36), spacing=(2.5, 2.5, 2.5), noise=10, seed=seed,
                            centre_mm=(seed, -2.0 * seed, 100.0 + seed))
        cases.append(SegCase(f"toy{seed}", toy.image, toy.mask, toy.point_mm))
    return cases


def tiny_config(out: Path, **changes: object):
    from bcl_core.train.seg_train import SegTrainConfig

    settings = {"modality": "ct", "data_dir": out, "out_dir": out, "steps": 4, "batch_size": 2,
                "val_every": 2, "sampling": SAMPLING, "schedule_by_time": False, "threads": 1, **TINY, **changes}
    return SegTrainConfig(**settings)  # type: ignore[arg-type]


def test_smoke_training_writes_a_loadable_model(tmp_path: Path) -> None:
    from bcl_core.train.seg_train import train_segmentation

    metrics = train_segmentation(tiny_config(tmp_path), toy_cases())
    for suffix in (".pt", ".onnx", ".json", ".metrics.json"):
        assert (tmp_path / f"seg_ct{suffix}").is_file()
    assert metrics["steps_done"] == 4 and len(metrics["history"]) == 2
    assert metrics["parity_random"]["max_abs_diff"] <= 1e-4
    sidecar = load_sidecar(tmp_path / "seg_ct.json")
    assert sidecar.input.size_ijk == (24, 24, 24) and sidecar.input.modality == "CT"
    seg = sidecar.require_segmentation()
    assert seg.min_volume_ml < seg.max_volume_ml
    clear_model_cache()
    model = load_model(tmp_path / "seg_ct.json", provider="cpu")  # sha256 checked here
    out = model.run({"image": np.zeros((1, 2, 24, 24, 24), np.float32)})["logits"]
    assert out.shape == (1, 1, 24, 24, 24)
    saved = json.loads((tmp_path / "seg_ct.metrics.json").read_text())
    assert saved["n_train_cases"] + saved["n_val_cases"] == 4
    assert saved["augment"]["thick_slice_p"] == 0.5  # the CT default, recorded
    # Inference reads no ROI block from a segmentation sidecar, so training writes none.
    assert "roi" not in json.loads((tmp_path / "seg_ct.json").read_text())


def test_training_is_seeded(tmp_path: Path) -> None:
    from bcl_core.train.seg_train import train_segmentation

    runs = []
    for name in ("a", "b"):
        train_segmentation(tiny_config(tmp_path / name, steps=2, val_every=2), toy_cases(3))
        runs.append(load_sidecar(tmp_path / name / "seg_ct.json").sha256)
    assert runs[0] == runs[1]


def test_sampling_clicks_and_targets() -> None:
    from bcl_core.train.seg_train import SegTrainConfig

    config = SegTrainConfig(modality="ct", data_dir=Path("."), out_dir=Path("."), **TINY)
    spec = config.input_spec()
    region = build_region(toy_cases(1)[0], spec, SAMPLING)
    rng = np.random.default_rng(0)
    plain_x, plain_y = sample_patch(region, spec, 3.0, rng, SAMPLING, None, "ct")
    assert plain_x.shape == (2, 24, 24, 24) and plain_y.shape == (1, 24, 24, 24)
    # Plain pair: the guidance peak sits at the click + offset-free patch position.
    peak = np.unravel_index(np.argmax(plain_x[1]), plain_x[1].shape)
    assert abs(peak[1] - (11.5 - 2)) <= 1  # 6 mm offset = 2 voxels anterior of the centre row
    negatives = 0
    # Toy body half-sizes 20 x 15 mm: 23-28 mm anterior/lateral is clear of it by > 4 mm
    # most of the time; the region margin (10 voxels of 3 mm) lets the patch follow the click.
    always_neg = SamplingConfig(margin_voxels=10, negative_distance_mm=(23.0, 28.0),
                                negative_fraction=1.0)
    region = build_region(toy_cases(1)[0], spec, always_neg)
    for _ in range(20):
        x, y = sample_patch(region, spec, 3.0, rng, always_neg, AugmentConfig(), "ct")
        assert np.isfinite(x).all()
        negatives += int(y.sum() == 0)
    assert negatives >= 15  # a clear spot beside the toy vertebra exists nearly always
    positives = [sample_patch(region, spec, 3.0, rng, SamplingConfig(margin_voxels=10), AugmentConfig(flip_lr_p=0.0),
                              "ct") for _ in range(10)]
    for x, y in positives:
        if y.sum() == 0:
            continue
        centre = np.unravel_index(np.argmax(x[1]), x[1].shape)
        assert y[(0, *centre)] == 1  # the click lies inside the vertebra


def test_soft_targets_are_the_masks_partial_volume_fraction() -> None:
    """Hand calculation: a 1 mm slab mask sampled linearly at 2 mm patch voxels."""
    from bcl_core.predict.sidecar import InputSpec, Normalisation
    from bcl_core.volume import Volume

    # Mask voxels x = 0..40 mm (1 mm grid) are inside for x <= 20 mm: the boundary lies between
    # the voxel centres at 20 and 21 mm, so linear sampling gives 1.0 at x <= 20, 0.5 at 20.5,
    # 0.25 at 20.75, 0 at >= 21.
    inside = np.zeros((41, 41, 41), np.uint8)
    inside[:, :, :21] = 1
    mask = Volume(inside, spacing=(1.0, 1.0, 1.0))
    image = Volume(np.zeros_like(inside, dtype=np.int16), modality="CT")
    # Patch voxel centres at x = 12.75 + 2 * i: i = 4 -> 20.75 (0.25), i = 3 -> 18.75 (1.0).
    spec = InputSpec(name="image", modality="CT", spacing_mm=(2.0, 2.0, 2.0),
                     size_ijk=(8, 8, 8), offset_mm=(0.0, 0.0, 0.0),
                     normalisation=Normalisation(kind="window", low=0.0, high=1.0))
    point = np.array([19.75, 20.0, 20.0])
    case = SegCase("slab", image, mask, point)
    soft = build_region(case, spec, SamplingConfig(margin_voxels=0))
    binary = build_region(case, spec, SamplingConfig(margin_voxels=0, soft_targets=False))
    row_soft = soft.target[4, 4, :] / 255.0
    np.testing.assert_allclose(row_soft, [1, 1, 1, 1, 0.25, 0, 0, 0], atol=1 / 255)
    np.testing.assert_array_equal(binary.target[4, 4, :] / 255.0, [1, 1, 1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(soft.mask, binary.mask)  # clicks use the thresholded mask
    _, target = sample_patch(soft, spec, 3.0, np.random.default_rng(0),
                             SamplingConfig(margin_voxels=0), None, "ct")
    np.testing.assert_allclose(target[0, 4, 4, :], row_soft)


def test_train_command_reports_a_missing_folder(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "seg", "--modality", "ct", "--data", str(tmp_path / "no"),
                 "--out", str(tmp_path)])
    assert code == 2 and "Data folder not found" in capsys.readouterr().err


@pytest.mark.parametrize("channels", ["8,a", "8", "8,0"])
def test_train_command_refuses_bad_channels(channels: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["train", "seg", "--modality", "ct", "--data", str(tmp_path), "--out",
              str(tmp_path), "--channels", channels])
    assert stop.value.code == 2 and "--channels" in capsys.readouterr().err


def test_train_command_passes_channels_and_target_choice(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import bcl_core.train.seg_train as seg_train

    seen = {}

    def fake_train(config):  # type: ignore[no-untyped-def]
        seen["config"] = config
        return {"val_dice_best": 0.0, "steps_done": 0, "train_seconds": 0.0,
                "n_train_cases": 0, "n_val_cases": 0, "parity_random": {}}

    monkeypatch.setattr(seg_train, "train_segmentation", fake_train)
    assert main(["train", "seg", "--modality", "mr", "--data", str(tmp_path), "--out",
                 str(tmp_path), "--channels", "16,32,64", "--binary-targets"]) == 0
    config = seen["config"]
    assert config.architecture["channels"] == [16, 32, 64]
    assert config.architecture["strides"] == [2, 2]
    assert config.sampling.soft_targets is False and config.mirror_average is True
    assert config.augment_config().thick_slice_p == 0.0  # the MRI default

    assert main(["train", "seg", "--modality", "ct", "--data", str(tmp_path), "--out",
                 str(tmp_path)]) == 0
    assert seen["config"].augment_config().thick_slice_p == 0.5  # the CT default
    assert main(["train", "seg", "--modality", "ct", "--data", str(tmp_path), "--out",
                 str(tmp_path), "--thick-slice-p", "0.25"]) == 0
    assert seen["config"].augment_config().thick_slice_p == 0.25


@pytest.mark.parametrize("value", ["x", "-0.1", "1.5", "nan"])
def test_train_command_refuses_a_bad_thick_slice_share(value: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["train", "seg", "--modality", "ct", "--data", str(tmp_path), "--out",
              str(tmp_path), "--thick-slice-p", value])
    assert stop.value.code == 2 and "--thick-slice-p" in capsys.readouterr().err


def test_second_leg_starts_from_a_checkpoint(tmp_path: Path) -> None:
    from bcl_core.errors import InputError
    from bcl_core.train.seg_train import train_segmentation

    train_segmentation(tiny_config(tmp_path / "a", steps=2), toy_cases(3))
    checkpoint = tmp_path / "a" / "seg_ct.pt"
    metrics = train_segmentation(tiny_config(tmp_path / "b", steps=2, init_checkpoint=checkpoint),
                                 toy_cases(3))
    assert metrics["initialised_from"] == str(checkpoint)
    assert load_sidecar(tmp_path / "b" / "seg_ct.json").raw["training"]["initialised_from"]
    with pytest.raises(InputError, match="another input spec"):
        train_segmentation(tiny_config(tmp_path / "c", steps=2, init_checkpoint=checkpoint,
                                       spacing_mm=(2.0, 2.0, 2.0)), toy_cases(3))
