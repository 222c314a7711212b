"""ONNX Runtime vs PyTorch parity of the segmentation network: logits and masks.

Random weights on fresh random inputs here; the shipped checkpoints on real (generated) cases in
``test_onnx_parity_shipped.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bcl_core.nets.seg_unet import build_seg_unet
from bcl_core.train.export import export_onnx, parity


@pytest.mark.parametrize("seed", [0, 1])
def test_exported_unet_matches_pytorch_on_random_inputs(tmp_path: Path, seed: int) -> None:
    import onnxruntime as ort

    torch.manual_seed(seed)
    model = build_seg_unet().eval()  # the shipped architecture, random weights
    shape = (2, 2, 32, 40, 48)  # another shape than the export's: the batch axis is dynamic
    onnx_path = export_onnx(model, tmp_path / "m.onnx", (1, 2, 32, 40, 48), "image", "logits")
    batch = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(batch)).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(["logits"], {"image": batch})[0]
    assert got.shape == (2, 1, 32, 40, 48)
    assert float(np.abs(got - expected).max()) <= 1e-4
    a, b = expected > 0, got > 0
    assert 2 * (a & b).sum() / (a.sum() + b.sum()) >= 0.999
    figures = parity(model, onnx_path, batch)
    assert figures["max_abs_diff"] <= 1e-4 and figures["dice"] >= 0.999
