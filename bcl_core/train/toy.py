"""A tiny analytic "spine" for smoke tests: three vertebrae (body + arch) in soft tissue.

Not the synthetic-case generator (``bcl_core.phantom``): this is a shape whose exact target mask
is known in closed form, on any grid, in milliseconds. Tests use it to check geometry handling
(axial vs sagittal series, resampling back to the series grid) and the training loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bcl_core.volume import Volume

#: Distance between vertebra centres along z (mm) and the body's half-sizes (x, y, z) in mm.
LEVEL_STEP_MM = 30.0
BODY_HALF_MM = (20.0, 15.0, 11.0)
#: Intensity per tissue: (soft tissue, bone, canal fluid) for each modality.
TISSUE_VALUES = {"CT": (40.0, 500.0, 10.0), "MR": (120.0, 320.0, 700.0)}


@dataclass(frozen=True)
class ToyCase:
    """A toy image, its target-vertebra mask on the same grid, and the body centre (LPS mm)."""

    image: Volume
    mask: Volume
    point_mm: NDArray[np.float64]


def _vertebra(rel: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Body and posterior arch of one vertebra centred at the origin (``rel``: (..., 3) mm)."""
    x, y, z = rel[..., 0], rel[..., 1], rel[..., 2]
    hx, hy, hz = BODY_HALF_MM
    body = ((x / hx) ** 2 + (y / hy) ** 2 <= 1.0) & (np.abs(z) <= hz)
    ring = (np.abs(x) <= 14) & (y >= hy - 1) & (y <= hy + 20) & (np.abs(z) <= 8)
    canal = (np.abs(x) <= 8) & (y > hy) & (y < hy + 14)
    spine = (np.abs(x) <= 3) & (y >= hy + 19) & (y <= hy + 34) & (np.abs(z) <= 6)
    return body | (ring & ~canal) | spine


def make_toy_case(size_ijk: Sequence[int] = (48, 48, 48),
                  spacing: Sequence[float] = (2.0, 2.0, 2.0),
                  direction: NDArray[np.float64] | None = None, modality: str = "CT",
                  centre_mm: Sequence[float] = (0.0, 0.0, 0.0), noise: float = 0.0,
                  seed: int = 0) -> ToyCase:
    """Sample the toy spine on a grid centred at ``centre_mm``.

    Parameters
    ----------
    size_ijk, spacing, direction:
        The series grid (``direction`` defaults to identity: an axial series). A sagittal series
        has its slice axis along LPS x.
    modality:
        ``"CT"`` or ``"MR"``: picks the tissue intensities.
    centre_mm:
        LPS mm of the target vertebral body centre, placed at the grid centre.
    noise:
        Standard deviation of added Gaussian noise.
    seed:
        Noise seed.
    """
    direction = np.eye(3) if direction is None else np.asarray(direction, dtype=float)
    size = np.asarray(size_ijk, dtype=int)
    spacing_arr = np.asarray(spacing, dtype=float)
    centre = np.asarray(centre_mm, dtype=float)
    origin = centre - direction @ ((size - 1) / 2 * spacing_arr)
    grid = Volume(np.zeros(tuple(size[::-1]), np.uint8), spacing=tuple(spacing_arr),
                  origin=tuple(origin), direction=direction)
    kk, jj, ii = np.meshgrid(*(np.arange(n) for n in size[::-1]), indexing="ij")
    points = grid.index_to_mm(np.stack([ii, jj, kk], axis=-1).reshape(-1, 3))
    rel = (points - centre).reshape(*size[::-1], 3)
    soft, bone, fluid = TISSUE_VALUES[modality]
    target = _vertebra(rel)
    any_bone = target.copy()
    for level in (-1, 1):
        any_bone |= _vertebra(rel - np.array([0.0, 0.0, level * LEVEL_STEP_MM]))
    canal = (np.abs(rel[..., 0]) <= 8) & (rel[..., 1] > BODY_HALF_MM[1]) & (
        rel[..., 1] < BODY_HALF_MM[1] + 14)
    image = np.full(target.shape, soft, dtype=np.float32)
    image[canal] = fluid
    image[any_bone] = bone
    if noise > 0:
        image += np.random.default_rng(seed).normal(0, noise, image.shape).astype(np.float32)
    return ToyCase(image=grid.with_array(image, modality=modality),
                   mask=grid.with_array(target.astype(np.uint8), modality="SEG"),
                   point_mm=centre)


def write_band_model(out_dir: str | Path, name: str = "toy_seg", modality: str = "CT",
                     centre: float = 0.5, half_width: float = 0.15, gain: float = 40.0,
                     spacing_mm: float = 2.0, size: int = 48,
                     min_volume_ml: float = 10.0, max_volume_ml: float = 60.0) -> Path:
    """Write a tiny ONNX "segmentation model" plus its sidecar, without torch or training.

    The model computes ``logits = gain * (half_width - |image - centre|)`` on the image channel:
    it marks voxels whose normalised intensity lies in a band (toy bone). With the toy spine the
    expected mask is known exactly, which lets tests check the segmentation step independently
    of any trained network. Returns the sidecar path.
    """
    import onnx
    from onnx import TensorProto, helper

    from bcl_core.predict.runtime import sha256_file
    from bcl_core.predict.sidecar import write_sidecar

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shape: list[str | int] = ["batch", 2, size, size, size]
    constants = [helper.make_tensor(n, TensorProto.FLOAT, [], [v]) for n, v in
                 (("centre", centre), ("half_width", half_width), ("gain", gain))]
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    starts = helper.make_tensor("starts", TensorProto.INT64, [1], [0])
    ends = helper.make_tensor("ends", TensorProto.INT64, [1], [1])
    nodes = [
        helper.make_node("Slice", ["image", "starts", "ends", "axes"], ["channel"]),
        helper.make_node("Sub", ["channel", "centre"], ["shifted"]),
        helper.make_node("Abs", ["shifted"], ["distance"]),
        helper.make_node("Sub", ["half_width", "distance"], ["margin"]),
        helper.make_node("Mul", ["margin", "gain"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1, size, size,
                                                                     size])],
        initializer=[*constants, axes, starts, ends])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx_path = out / f"{name}.onnx"
    onnx.save(model, str(onnx_path))
    normalisation = ({"kind": "window", "low": -250.0, "high": 1250.0} if modality == "CT"
                     else {"kind": "percentile", "low": 1.0, "high": 99.0})
    sidecar_path = out / f"{name}.json"
    write_sidecar({
        "name": name, "task": "segmentation", "version": "toy", "onnx_file": onnx_path.name,
        "sha256": sha256_file(onnx_path), "input_names": ["image"], "output_names": ["logits"],
        "thresholds": {"mask": 0.5},
        "inputs": {"image": {"modality": modality, "spacing_mm": [spacing_mm] * 3,
                             "size_ijk": [size] * 3, "offset_mm": [0.0, 12.0, 0.0],
                             "normalisation": normalisation}},
        "segmentation": {"guidance_sigma_mm": 3.0, "min_volume_ml": min_volume_ml,
                         "max_volume_ml": max_volume_ml, "click_search_mm": 4.0},
    }, sidecar_path)
    return sidecar_path
