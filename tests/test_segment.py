"""Click-guided segmentation step on the toy spine with a band-threshold ONNX model.

The toy spine's target mask is known in closed form and the band model marks toy bone, so the
expected mask is independent of the code under test.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from bcl_core.cli import main
from bcl_core.commands.segment import parse_point
from bcl_core.errors import ModelError, SegmentationError
from bcl_core.predict.runtime import OnnxModel, clear_model_cache, load_model
from bcl_core.predict.segment import segment_vertebra
from bcl_core.train.toy import make_toy_case, write_band_model
from bcl_core.volume import Volume

#: Sagittal series: columns run anterior->posterior (+y), rows superior->inferior (-z),
#: slices left-right (+x).
SAGITTAL = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
CENTRE = (3.0, -20.0, 400.0)


@pytest.fixture(scope="module")
def band_model(tmp_path_factory: pytest.TempPathFactory) -> OnnxModel:
    clear_model_cache()
    return load_model(write_band_model(tmp_path_factory.mktemp("band")), provider="cpu")


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


@pytest.mark.parametrize(("direction", "spacing", "size"), [
    (None, (0.8, 0.8, 1.25), (120, 120, 72)),      # axial CT-like
    (SAGITTAL, (0.9, 0.9, 4.0), (110, 110, 24)),   # sagittal MRI-like, thick slices
])
def test_mask_on_series_grid_matches_the_known_vertebra(band_model: OnnxModel, direction,
                                                        spacing, size) -> None:
    case = make_toy_case(size_ijk=size, spacing=spacing, direction=direction, noise=10,
                         centre_mm=CENTRE)
    mask = segment_vertebra(case.image, case.point_mm, band_model)
    assert mask.same_grid(case.image) and mask.modality == "SEG"
    assert mask.array.dtype == np.uint8 and set(np.unique(mask.array)) <= {0, 1}
    assert dice(mask.array, case.mask.array) >= 0.9
    # The neighbouring vertebrae (also "bone" to the band model) are not included.
    assert mask.metadata["volume_ml"] < 45
    assert mask.metadata["provider"] == "ONNX Runtime on the CPU"


def test_click_anywhere_in_the_body_gives_the_same_vertebra(band_model: OnnxModel) -> None:
    case = make_toy_case(size_ijk=(96, 96, 64), spacing=(1.0, 1.0, 1.5), centre_mm=CENTRE)
    reference = segment_vertebra(case.image, case.point_mm, band_model).array
    moved = segment_vertebra(case.image, case.point_mm + np.array([5.0, -4.0, 3.0]),
                             band_model).array
    assert dice(reference, moved) >= 0.97


def test_click_off_the_image_is_refused(band_model: OnnxModel) -> None:
    case = make_toy_case(centre_mm=CENTRE)
    with pytest.raises(SegmentationError, match="outside the image"):
        segment_vertebra(case.image, case.point_mm + np.array([0.0, 0.0, 500.0]), band_model)


def test_click_in_soft_tissue_is_refused(band_model: OnnxModel) -> None:
    case = make_toy_case(size_ijk=(64, 64, 48), spacing=(1.5, 1.5, 2.0), centre_mm=CENTRE)
    with pytest.raises(SegmentationError, match="No vertebra found"):
        segment_vertebra(case.image, case.point_mm + np.array([0.0, -35.0, 0.0]), band_model)


def test_implausibly_sized_structure_is_refused(tmp_path: Path) -> None:
    model = load_model(write_band_model(tmp_path, max_volume_ml=5.0), provider="cpu")
    case = make_toy_case(size_ijk=(64, 64, 48), spacing=(1.5, 1.5, 2.0), centre_mm=CENTRE)
    with pytest.raises(SegmentationError, match="not the size of a vertebra"):
        segment_vertebra(case.image, case.point_mm, model)


def test_bad_point_and_unknown_modality(band_model: OnnxModel) -> None:
    case = make_toy_case(centre_mm=CENTRE)
    with pytest.raises(SegmentationError, match="three numbers"):
        segment_vertebra(case.image, [1.0, 2.0], band_model)
    other = Volume(np.zeros((4, 4, 4)), modality="US")
    with pytest.raises(ModelError, match="No segmentation model for modality 'US'"):
        segment_vertebra(other, [1.0, 1.0, 1.0])


def test_model_of_the_other_modality_is_refused(band_model: OnnxModel) -> None:
    case = make_toy_case(modality="MR", centre_mm=CENTRE)  # the band model is a CT model
    with pytest.raises(ModelError, match="segments CT series; this series is MR"):
        segment_vertebra(case.image, case.point_mm, band_model)


def test_parse_point() -> None:
    assert parse_point(" 1, -2.5 ,3e1") == (1.0, -2.5, 30.0)
    for bad in ("1,2", "a,b,c", "1,2,nan", "1,2,3,4"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_point(bad)


def test_cli_reports_a_missing_series_in_one_line(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["segment", str(tmp_path / "none"), "--point", "0,0,0",
                 "--out", str(tmp_path / "m.nii.gz")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    code = main(["segment", str(tmp_path), "--point", "0,0,0", "--out", str(tmp_path / "m.png")])
    assert code == 2 and "--out must end in .nii" in capsys.readouterr().err


class _RampModel:
    """Stand-in model whose logits are the image channel plus a ramp along x (asymmetric)."""

    def __init__(self, sidecar) -> None:  # type: ignore[no-untyped-def]
        self.sidecar = sidecar

    def run(self, inputs):  # type: ignore[no-untyped-def]
        image = inputs[self.sidecar.input_names[0]][:, :1]
        ramp = np.arange(image.shape[-1], dtype=np.float32)
        return {self.sidecar.output_names[0]: image + 0.5 * ramp}


def test_mirror_average_is_the_mean_of_the_patch_and_its_mirror(band_model: OnnxModel) -> None:
    from bcl_core.predict.segment import _probability

    model = _RampModel(band_model.sidecar)
    rng = np.random.default_rng(3)
    batch = rng.normal(size=(1, 2, 3, 4, 5)).astype(np.float32)
    image, ramp = batch[0, 0].astype(np.float64), 0.5 * np.arange(5.0)
    plain = 1 / (1 + np.exp(-(image + ramp)))
    # The mirrored patch's logits at mirrored column i' = 4 - i are image[..., i] + 0.5 * (4 - i).
    mirrored = 1 / (1 + np.exp(-(image + ramp[::-1])))
    np.testing.assert_allclose(_probability(model, batch, False), plain, rtol=1e-6)  # type: ignore[arg-type]
    np.testing.assert_allclose(_probability(model, batch, True),  # type: ignore[arg-type]
                               0.5 * (plain + mirrored), rtol=1e-6)


def test_sidecar_mirror_average_defaults_off_and_is_type_checked(tmp_path: Path) -> None:
    import json

    from bcl_core.predict.sidecar import load_sidecar
    from bcl_core.train.toy import write_band_model

    path = write_band_model(tmp_path)
    assert load_sidecar(path).require_segmentation().mirror_average is False
    data = json.loads(path.read_text())
    data["segmentation"]["mirror_average"] = True
    path.write_text(json.dumps(data))
    assert load_sidecar(path).require_segmentation().mirror_average is True
    data["segmentation"]["mirror_average"] = "yes"
    path.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="mirror_average"):
        load_sidecar(path)
