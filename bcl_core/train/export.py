"""ONNX export of a trained network and the ONNX Runtime vs PyTorch parity check."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from bcl_core.predict.segment import dice_score

logger = logging.getLogger(__name__)

#: ONNX opset of exported models (ONNX Runtime 1.31 runs it on CPU and CUDA).
OPSET = 17


def export_onnx(model: torch.nn.Module, path: str | Path, input_shape: tuple[int, ...],
                input_name: str, output_name: str) -> Path:
    """Export ``model`` (eval mode, dynamic batch axis) and check the graph with ``onnx``.

    Uses the TorchScript-based exporter (``dynamo=False``): deterministic, no extra deps.
    """
    import onnx

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    dummy = torch.zeros(input_shape, dtype=torch.float32)
    with torch.no_grad(), warnings.catch_warnings():
        # Instance norm always uses the input's statistics; the exporter warns about it anyway.
        warnings.filterwarnings("ignore", message=".*instance_norm.*")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            model, (dummy,), str(target), input_names=[input_name], output_names=[output_name],
            dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
            opset_version=OPSET, dynamo=False,
        )
    onnx.checker.check_model(onnx.load(str(target)))
    logger.info("exported %s", target)
    return target


def parity(model: torch.nn.Module, onnx_path: str | Path, batch: NDArray[np.float32],
           threshold: float = 0.5) -> dict[str, float]:
    """Compare ONNX Runtime (CPU) and PyTorch eager on ``batch``.

    Returns
    -------
    dict
        ``max_abs_diff`` of the logits and the ``dice`` of the thresholded sigmoid masks.
    """
    import onnxruntime as ort

    model.eval()
    with torch.no_grad():
        reference = model(torch.from_numpy(batch)).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    output = session.run(None, {session.get_inputs()[0].name: batch})[0]
    logit = float(np.log(threshold / (1 - threshold)))
    return {"max_abs_diff": float(np.abs(reference - output).max()),
            "dice": dice_score(reference >= logit, output >= logit)}
