"""Closed-form Grad-CAM of the fusion model checked against MONAI's autograd GradCAM, and the
ONNX export checked against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from monai.visualize import GradCAM  # noqa: E402

from bcl_core.nets.fusion import (  # noqa: E402
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
    model = _model(seed, channels)
    torch.manual_seed(100 + seed)
    ct = torch.randn(1, 1, SIZE, SIZE, SIZE)
    mr = torch.randn(1, 1, SIZE, SIZE, SIZE)
    outputs = FusionWithCAM(model)(ct, mr)
    packed_model = _PackedInput(model)
    n_stages = len(model.encoders["ct"].stages)
    for modality, cams in zip(("ct", "mr"), outputs[2:], strict=True):
        cam = GradCAM(packed_model, target_layers=f"model.encoders.{modality}.stages.{n_stages - 1}",
                      postprocessing=lambda x: x)
        for head in range(len(HEAD_NAMES)):
            reference = cam(torch.cat([ct, mr], dim=1), class_idx=head)[0, 0].detach().numpy()
            ours = cams[0, head].detach().numpy()
            if reference.max() <= 1e-12:
                assert ours.max() <= 1e-6
                continue
            r = np.corrcoef(reference.ravel(), ours.ravel())[0, 1]
            assert r >= 0.99, (modality, head, r)


def test_cam_outputs_shapes_and_range() -> None:
    model = _model()
    ct = torch.randn(2, 1, SIZE, SIZE, SIZE)
    probabilities, logits, cam_ct, cam_mr = FusionWithCAM(model)(ct, ct)
    assert probabilities.shape == logits.shape == (2, len(HEAD_NAMES))
    torch.testing.assert_close(probabilities, torch.sigmoid(model(ct=ct, mr=ct)))
    assert cam_ct.shape == cam_mr.shape == (2, len(HEAD_NAMES), SIZE, SIZE, SIZE)
    assert float(cam_ct.min()) >= 0.0 and float(cam_ct.max()) <= 1.0 + 1e-6


def test_onnx_export_matches_torch(tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
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
    import json

    from bcl_core.inference import default_model_dir
    from bcl_core.train.fusion_data import phantom_case_crops

    folder = default_model_dir()
    if not (folder / "fusion.pt").is_file():
        pytest.skip("no shipped fusion checkpoint in models/")
    config = json.loads((folder / "fusion.json").read_text())["training"]["config"]
    model = FusionNet.from_config(config)
    model.load_state_dict(torch.load(folder / "fusion.pt", map_location="cpu"))
    model.eval()
    crops = phantom_case_crops("external", 4242, 0)  # a case no training set used
    ct = torch.from_numpy(crops["ct"])[None, None]
    mr = torch.from_numpy(crops["mr"])[None, None]
    outputs = FusionWithCAM(model)(ct, mr)
    packed_model = _PackedInput(model)
    n_stages = len(model.encoders["ct"].stages)
    compared = 0
    for modality, cams in zip(("ct", "mr"), outputs[2:], strict=True):
        cam = GradCAM(packed_model, target_layers=f"model.encoders.{modality}.stages.{n_stages - 1}",
                      postprocessing=lambda x: x)
        for head in range(len(HEAD_NAMES)):
            reference = cam(torch.cat([ct, mr], dim=1), class_idx=head)[0, 0].detach().numpy()
            if reference.max() <= 1e-12:
                continue
            r = np.corrcoef(reference.ravel(), cams[0, head].detach().numpy().ravel())[0, 1]
            assert r >= 0.99, (modality, head, r)
            compared += 1
    assert compared >= 5  # most maps have positive evidence on a real case
