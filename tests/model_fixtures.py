"""A toy model set (segmentation CT + MR, fusion classifier) for tests: no torch, no training.

:func:`write_toy_models` writes ``seg_ct``, ``seg_mr`` and ``fusion`` (ONNX + sidecar) into a
folder that tests point ``BCL_MODEL_DIR`` at. The graphs are built with ``onnx.helper``:

* segmentation: the band-threshold model of :func:`bcl_core.train.toy.write_band_model`, with
  bands that mark bone on the synthetic phantom and wide volume bounds;
* fusion: ``logits = weights @ [mean(ct crop), mean(mr crop)] + bias`` per head and
  ``probabilities = sigmoid(logits)``; each Grad-CAM map is the input clipped to [0, 1] times a
  per-head factor. With ``weights = 0`` the probabilities are exactly ``sigmoid(bias)``, which
  lets a test know the numbers the app must show without running the code under test.

Example
-------
>>> folder = write_toy_models(tmp_path)                       # doctest: +SKIP
>>> monkeypatch.setenv("BCL_MODEL_DIR", str(folder))          # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

HEADS = ("type1", "type2", "type3", "type4", "any")
#: Probabilities of the fixed (``weights=0``) toy fusion model, per head.
FIXED_PROBABILITIES = {"type1": 0.12, "type2": 0.34, "type3": 0.56, "type4": 0.78, "any": 0.9}
#: Thresholds written into the toy fusion sidecar.
TOY_THRESHOLDS = {"type1": 0.3, "type2": 0.3, "type3": 0.5, "type4": 0.2, "any": 0.5}
CROP_SIZE_IJK = (24, 24, 16)
CROP_SPACING_MM = (2.5, 2.5, 2.5)
TOY_VERSION = "toy-test-1"
CAM_FACTORS = (0.2, 0.4, 0.6, 1.0, 0.8)


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def write_fusion_model(out_dir: str | Path, weights: Sequence[Sequence[float]] | None = None,
                       bias: Sequence[float] | None = None) -> Path:
    """Write the toy fusion model and its sidecar; returns the sidecar path.

    Parameters
    ----------
    out_dir:
        Folder to write ``fusion.onnx`` and ``fusion.json`` into.
    weights:
        ``(2, 5)`` weights of [mean CT crop, mean MR crop] per head; zeros by default (the
        probabilities are then :data:`FIXED_PROBABILITIES`).
    bias:
        Logit bias per head; defaults to the logits of :data:`FIXED_PROBABILITIES`.
    """
    import onnx
    from onnx import TensorProto, helper

    from bcl_core.predict.runtime import sha256_file
    from bcl_core.predict.sidecar import write_sidecar

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    w = np.zeros((2, len(HEADS)), np.float32) if weights is None else np.asarray(weights,
                                                                                   np.float32)
    b = (np.array([_logit(FIXED_PROBABILITIES[h]) for h in HEADS], np.float32) if bias is None
         else np.asarray(bias, np.float32))
    i, j, k = CROP_SIZE_IJK
    shape = ["batch", 1, k, j, i]
    tensors = [
        helper.make_tensor("w", TensorProto.FLOAT, list(w.shape), w.reshape(-1).tolist()),
        helper.make_tensor("b", TensorProto.FLOAT, [len(HEADS)], b.tolist()),
        helper.make_tensor("flat", TensorProto.INT64, [2], [-1, 1]),
        helper.make_tensor("heads", TensorProto.INT64, [5], [1, len(HEADS), 1, 1, 1]),
        helper.make_tensor("factors", TensorProto.FLOAT, [1, len(HEADS), 1, 1, 1],
                           list(CAM_FACTORS)),
        helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["ct"], ["ct_mean5"], axes=[1, 2, 3, 4], keepdims=1),
        helper.make_node("ReduceMean", ["mr"], ["mr_mean5"], axes=[1, 2, 3, 4], keepdims=1),
        helper.make_node("Reshape", ["ct_mean5", "flat"], ["ct_mean"]),
        helper.make_node("Reshape", ["mr_mean5", "flat"], ["mr_mean"]),
        helper.make_node("Concat", ["ct_mean", "mr_mean"], ["features"], axis=1),
        helper.make_node("MatMul", ["features", "w"], ["weighted"]),
        helper.make_node("Add", ["weighted", "b"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["probabilities"]),
    ]
    for name in ("ct", "mr"):
        nodes += [
            helper.make_node("Clip", [name, "zero", "one"], [f"{name}_unit"]),
            helper.make_node("Expand", [f"{name}_unit", "heads"], [f"{name}_heads"]),
            helper.make_node("Mul", [f"{name}_heads", "factors"], [f"cam_{name}"]),
        ]
    outputs = [
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(HEADS)]),
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(HEADS)]),
        helper.make_tensor_value_info("cam_ct", TensorProto.FLOAT, ["batch", len(HEADS), k, j, i]),
        helper.make_tensor_value_info("cam_mr", TensorProto.FLOAT, ["batch", len(HEADS), k, j, i]),
    ]
    graph = helper.make_graph(
        nodes, "toy_fusion",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("ct", "mr")],
        outputs, initializer=tensors)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx_path = out / "fusion.onnx"
    onnx.save(model, str(onnx_path))
    sidecar_path = out / "fusion.json"
    size = list(CROP_SIZE_IJK)
    spacing = list(CROP_SPACING_MM)
    write_sidecar({
        "name": "fusion", "task": "classification", "version": TOY_VERSION,
        "onnx_file": onnx_path.name, "sha256": sha256_file(onnx_path),
        "input_names": ["ct", "mr"],
        "output_names": ["probabilities", "logits", "cam_ct", "cam_mr"],
        "thresholds": dict(TOY_THRESHOLDS),
        "inputs": {
            "ct": {"modality": "CT", "spacing_mm": spacing, "size_ijk": size,
                   "normalisation": {"kind": "window", "low": -250.0, "high": 1250.0}},
            "mr": {"modality": "MR", "spacing_mm": spacing, "size_ijk": size,
                   "normalisation": {"kind": "percentile", "low": 1.0, "high": 99.0}},
        },
        "roi_per_input": {"ct": {"margin_mm": [10.0, 10.0, 6.0], "plane": "axial", "centre": "box"},
                          "mr": {"margin_mm": [10.0, 10.0, 6.0], "plane": "sagittal",
                                 "centre": "box"}},
        "heads": list(HEADS),
        "training": {"note": "toy test model, not trained"},
    }, sidecar_path)
    return sidecar_path


def write_toy_models(out_dir: str | Path, weights: Sequence[Sequence[float]] | None = None
                     ) -> Path:
    """Write ``seg_ct``, ``seg_mr`` and ``fusion`` into ``out_dir``; returns the folder.

    The segmentation bands mark phantom bone: CT window -250..1250 HU, band 0.22..0.72
    (about 80..830 HU); MR percentile-normalised band 0.15..0.65. Volume bounds are wide
    (2-400 ml) so that the toy segmentation accepts whatever bone it finds at the click, while a
    click in air or fat still finds nothing.
    """
    from bcl_core.train.toy import write_band_model

    out = Path(out_dir)
    write_band_model(out, "seg_ct", "CT", centre=0.47, half_width=0.25, spacing_mm=2.0,
                     size=48, min_volume_ml=2.0, max_volume_ml=400.0)
    write_band_model(out, "seg_mr", "MR", centre=0.4, half_width=0.25, spacing_mm=2.0,
                     size=48, min_volume_ml=2.0, max_volume_ml=400.0)
    write_fusion_model(out, weights=weights)
    return out


def write_small_case(out_dir: str | Path) -> Path:
    """The demo case's phantom, compact (small field of view): a quick DICOM case for tests."""
    from bcl_core.clinic.demo_case import write_demo_case

    return write_demo_case(out_dir, compact=True)


def case_uploads(case_dir: str | Path, series: Sequence[str] = ("ct", "mr")
                 ) -> list[tuple[str, bytes, str]]:
    """The case's DICOM files as AppTest uploads ``(name, bytes, mime)``."""
    root = Path(case_dir)
    return [(f"{sub}/{path.name}", path.read_bytes(), "application/dicom")
            for sub in series for path in sorted((root / sub).glob("*.dcm"))]


def zip_bytes(files: Sequence[tuple[str, bytes, str]]) -> bytes:
    """A zip archive (in memory) holding ``files``."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data, _ in files:
            archive.writestr(name, data)
    return buffer.getvalue()
