"""Closed-form Grad-CAM of the fusion model checked against MONAI's autograd GradCAM, and the
ONNX export checked against PyTorch."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from monai.visualize import GradCAM

from bcl_core.nets.fusion import (
    DEFAULT_CHANNELS,
    HEAD_NAMES,
    FusionNet,
    FusionWithCAM,
    output_names,
)

SIZE = 24


class _PackedInput(torch.nn.Module):
    """MONAI's GradCAM takes one tensor: pack CT and MR as two channels."""

    def __init__(self, model: FusionNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        return self.model(ct=packed[:, :1], mr=packed[:, 1:])


def _gradcam_layers(model: FusionNet, modality: str) -> list[str]:
    """The layers whose Grad-CAM maps add up to a modality's map: the encoder's last stage and,
    for CT with a feature detector, the detector's last stage."""
    layers = [f"model.encoders.{modality}.stages.{len(model.encoders[modality].stages) - 1}"]
    if modality == "ct" and model.detector is not None:
        layers.append(f"model.detector.encoder.stages.{len(model.detector.encoder.stages) - 1}")
    return layers


def _monai_cams(model: FusionNet, ct: torch.Tensor, mr: torch.Tensor, modality: str,
                head: int) -> list[np.ndarray]:
    """MONAI's raw (unscaled, upsampled) Grad-CAM map per layer of :func:`_gradcam_layers`."""
    packed = _PackedInput(model)
    return [GradCAM(packed, target_layers=layer, postprocessing=lambda x: x)(
        torch.cat([ct, mr], dim=1), class_idx=head)[0, 0].detach().numpy()
        for layer in _gradcam_layers(model, modality)]


def _model(seed: int = 0, channels: tuple[int, ...] = (8, 16, 32)) -> FusionNet:
    torch.manual_seed(seed)
    model = FusionNet(channels=channels, shared_features=16, dropout=0.0)
    # Random weights give many dead ReLUs; widen the biases so every head has a gradient.
    with torch.no_grad():
        model.shared.bias.uniform_(0.0, 0.5)
    return model.eval()


@pytest.mark.parametrize(("seed", "channels"), [
    (0, (8, 16, 32)), (1, (8, 16, 32)), (2, (8, 16, 32)),
    (3, DEFAULT_CHANNELS),  # the shipped architecture: a fourth stage with stride 1
])
def test_closed_form_cam_matches_monai_gradcam(seed: int, channels: tuple[int, ...]) -> None:
    _assert_cams_match_monai(_model(seed, channels), 100 + seed)


def _assert_cams_match_monai(model: FusionNet, seed: int) -> int:
    """Every map of random crops correlates with MONAI's (r >= 0.99); returns how many CT maps
    show the detector's part at more than a tenth of the encoder's."""
    torch.manual_seed(seed)
    ct = torch.randn(1, 1, SIZE, SIZE, SIZE)
    mr = torch.randn(1, 1, SIZE, SIZE, SIZE)
    outputs = FusionWithCAM(model)(ct, mr)
    detector_shown = 0
    for modality, cams in zip(("ct", "mr"), outputs[2:], strict=True):
        for head in range(len(HEAD_NAMES)):
            parts = _monai_cams(model, ct, mr, modality, head)
            reference = sum(parts)
            ours = cams[0, head].detach().numpy()
            if reference.max() <= 1e-12:
                assert ours.max() <= 1e-6
                continue
            r = np.corrcoef(reference.ravel(), ours.ravel())[0, 1]
            assert r >= 0.99, (modality, head, r)
            detector_shown += len(parts) == 2 and parts[1].max() > 0.1 * parts[0].max()
    return detector_shown


def test_cam_outputs_shapes_and_range() -> None:
    model = _model()
    ct = torch.randn(2, 1, SIZE, SIZE, SIZE)
    probabilities, logits, cam_ct, cam_mr = FusionWithCAM(model)(ct, ct)
    assert probabilities.shape == logits.shape == (2, len(HEAD_NAMES))
    torch.testing.assert_close(probabilities, torch.sigmoid(model(ct=ct, mr=ct)))
    assert cam_ct.shape == cam_mr.shape == (2, len(HEAD_NAMES), SIZE, SIZE, SIZE)
    assert float(cam_ct.min()) >= 0.0 and float(cam_ct.max()) <= 1.0 + 1e-6


def test_onnx_export_matches_torch(tmp_path) -> None:
    model = _model()
    wrapper = FusionWithCAM(model).eval()
    example = (torch.randn(1, 1, SIZE, SIZE, SIZE), torch.randn(1, 1, SIZE, SIZE, SIZE))
    path = tmp_path / "fusion.onnx"
    torch.onnx.export(wrapper, example, str(path), input_names=["ct", "mr"],
                      output_names=output_names(model.modalities), opset_version=17,
                      dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    torch.manual_seed(7)
    for _ in range(3):
        ct = torch.randn(1, 1, SIZE, SIZE, SIZE)
        mr = torch.randn(1, 1, SIZE, SIZE, SIZE)
        expected = [t.detach().numpy() for t in wrapper(ct, mr)]
        got = session.run(None, {"ct": ct.numpy(), "mr": mr.numpy()})
        for e, g in zip(expected, got, strict=True):
            np.testing.assert_allclose(g, e, atol=1e-4)


def test_shipped_model_cam_matches_monai_gradcam_on_a_synthetic_case() -> None:
    """The closed form holds for the shipped weights on a real crop, not only random nets."""

    from bcl_core.predict.runtime import default_model_dir
    from bcl_core.train.fusion import load_checkpoint
    from bcl_core.train.fusion_data import phantom_case_crops

    folder = default_model_dir()
    if not (folder / "fusion.pt").is_file():
        pytest.skip("no shipped fusion checkpoint in models/")
    model, _ = load_checkpoint(folder)
    crops = phantom_case_crops("external", 4242, 0)  # a case no training set used
    ct = torch.from_numpy(crops["ct"])[None, None]
    mr = torch.from_numpy(crops["mr"])[None, None]
    outputs = FusionWithCAM(model)(ct, mr)
    compared = 0
    for modality, cams in zip(("ct", "mr"), outputs[2:], strict=True):
        for head in range(len(HEAD_NAMES)):
            reference = sum(_monai_cams(model, ct, mr, modality, head))
            if reference.max() <= 1e-12:
                continue
            r = np.corrcoef(reference.ravel(), cams[0, head].detach().numpy().ravel())[0, 1]
            assert r >= 0.99, (modality, head, r)
            compared += 1
    assert compared >= 5  # most maps have positive evidence on a real case


def _detector_model(seed: int, direct: bool = False, counts: bool = False) -> FusionNet:
    torch.manual_seed(seed)
    model = FusionNet(channels=(8, 16, 32), shared_features=16, dropout=0.0, feature_maps=2,
                      detector_counts=counts, detector_direct=direct)
    n_summaries = 4 if counts else 2
    with torch.no_grad():
        model.shared.bias.uniform_(0.0, 0.5)
        # 2-4 of the 130-132 pooled inputs: make them count, as a trained detector's do.
        model.shared.weight[:, -n_summaries:] *= 30.0
        if model.direct is not None:  # signed, so some heads' direct terms oppose the shared path
            model.direct.weight.uniform_(-3.0, 3.0)
        if counts:  # maps near 0 logits, where sigmoid' is not negligible
            model.detector.head.bias.fill_(0.0)  # type: ignore[union-attr]
            model.shared.weight[:, -n_summaries:-2] = 0.0  # only the counts reach the head
    return model.eval()


@pytest.mark.parametrize(("seed", "direct", "counts"), [
    (0, False, False), (1, False, False), (2, False, False),
    (0, True, False), (1, True, False), (2, True, False),
    (0, False, True), (1, True, True), (2, True, True),
])
def test_ct_cam_with_a_feature_detector_is_the_sum_of_both_branches_gradcams(
        seed: int, direct: bool, counts: bool) -> None:
    """The CT crop reaches the head through the encoder and the feature detector: the CT map is
    MONAI's raw Grad-CAM of the encoder's last stage plus that of the detector's last stage.
    With the detector's direct term, and with its soft counts, the gradient through the
    detector's summaries includes them (autograd in MONAI, the closed form here)."""
    model = _detector_model(seed, direct, counts)
    if counts and not direct:  # the counts alone carry the detector's part here
        assert model.shared.weight[:, -4:-2].abs().sum() == 0
    assert len(_gradcam_layers(model, "ct")) == 2 and len(_gradcam_layers(model, "mr")) == 1
    # The detector's part is not negligible in every map.
    assert _assert_cams_match_monai(model, 200 + seed) >= 1


def test_detector_direct_term_adds_the_peaks_to_the_logits() -> None:
    """Hand check: the logits with the direct term minus those without are ``W_direct`` times the
    detector's summaries (maxima and soft counts)."""
    model = _detector_model(0, direct=True, counts=True)
    ct, mr = torch.randn(2, 1, SIZE, SIZE, SIZE), torch.randn(2, 1, SIZE, SIZE, SIZE)
    activations = model.features({"ct": ct, "mr": mr})
    maps = model.feature_maps(activations)
    # Maxima, then sums of cell probabilities over DETECTOR_COUNT_CELLS (3), by hand.
    peaks = torch.cat([maps.flatten(2).max(dim=2).values,
                       (1 / (1 + torch.exp(-maps))).flatten(2).sum(dim=2) / 3.0], dim=1)
    with_direct, _ = model.head(activations)
    assert model.direct is not None
    weight, model.direct = model.direct.weight.detach().clone(), None
    without, _ = model.head(activations)
    torch.testing.assert_close(with_direct - without, peaks @ weight.T)


def test_direct_term_starts_at_zero_and_old_configs_load_without_it() -> None:
    fresh = FusionNet(channels=(8, 16, 32), feature_maps=2, detector_direct=True)
    assert fresh.direct is not None and float(fresh.direct.weight.abs().sum()) == 0.0
    config = {"modalities": ["ct", "mr"], "channels": [8, 16, 32], "shared_features": 16,
              "dropout": 0.0, "subunits": 1, "feature_maps": ["a", "b"]}
    assert FusionNet.from_config(config).direct is None  # a sidecar from before the term
    assert FusionNet.from_config({**config, "detector_direct": True}).direct is not None
    # No detector (MRI only): no direct term either.
    assert FusionNet(modalities=("mr",), channels=(8, 16, 32), feature_maps=2,
                     detector_direct=True).direct is None
    assert not FusionNet.from_config(config).detector_counts  # nor counts
    counted = FusionNet.from_config({**config, "detector_counts": True, "detector_direct": True})
    assert counted.direct is not None and counted.direct.weight.shape == (len(HEAD_NAMES), 4)
    assert counted.shared.in_features == FusionNet.from_config(config).shared.in_features + 2


@pytest.mark.parametrize("direct", [False, True])
def test_feature_detector_maps_and_onnx_export(tmp_path, direct: bool) -> None:
    model = _detector_model(0, direct, counts=direct)
    ct = torch.randn(2, 1, SIZE, SIZE, SIZE)
    maps = model.feature_maps(model.features({"ct": ct, "mr": ct}))
    assert maps.shape == (2, 2, SIZE // 4, SIZE // 4, SIZE // 4)  # 4-voxel cells
    wrapper = FusionWithCAM(model).eval()
    path = tmp_path / "fusion.onnx"
    torch.onnx.export(wrapper, (ct[:1], ct[:1]), str(path), input_names=["ct", "mr"],
                      output_names=output_names(model.modalities), opset_version=17,
                      dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    mr = torch.randn(1, 1, SIZE, SIZE, SIZE)
    expected = [t.detach().numpy() for t in wrapper(ct[:1], mr)]
    got = session.run(None, {"ct": ct[:1].numpy(), "mr": mr.numpy()})
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-4)


def test_mr_only_model_has_no_detector() -> None:
    model = FusionNet(modalities=("mr",), channels=(8, 16, 32), feature_maps=2)
    assert model.detector is None
    with pytest.raises(ValueError, match="no feature detector"):
        model.feature_maps({})
