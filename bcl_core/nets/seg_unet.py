"""Click-guided vertebra segmentation network: a small MONAI 3D U-Net.

Input ``(N, 2, k, j, i)``: the normalised image patch and the click guidance channel.
Output ``(N, 1, k, j, i)``: logits of "voxel belongs to the clicked vertebra".
The architecture is described by a plain dict (:data:`DEFAULT_ARCHITECTURE`) that training
stores in the checkpoint and the sidecar, so a checkpoint can always be rebuilt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from monai.networks.nets import UNet

#: Channels 16-32-64-128 with one residual unit (the shipped models): ~0.4 s per batch-4 CT step
#: on one core here, only ~1.3x the step time of 8-16-32-64, whose 8 full-resolution channels
#: placed the boundary far worse (docs/segmentation.md has the side-by-side figures).
DEFAULT_ARCHITECTURE: dict[str, Any] = {
    "name": "monai.UNet",
    "channels": [16, 32, 64, 128],
    "strides": [2, 2, 2],
    "num_res_units": 1,
    "norm": "instance",
    "in_channels": 2,
    "out_channels": 1,
}


def build_seg_unet(architecture: Mapping[str, Any] | None = None) -> torch.nn.Module:
    """Build the segmentation U-Net from an architecture dict (defaults to the shipped one).

    Examples
    --------
    >>> net = build_seg_unet({"channels": [4, 8], "strides": [2]})
    >>> net(torch.zeros(1, 2, 8, 8, 8)).shape
    torch.Size([1, 1, 8, 8, 8])
    """
    config = {**DEFAULT_ARCHITECTURE, **(architecture or {})}
    return UNet(
        spatial_dims=3,
        in_channels=int(config["in_channels"]),
        out_channels=int(config["out_channels"]),
        channels=tuple(int(c) for c in config["channels"]),
        strides=tuple(int(s) for s in config["strides"]),
        num_res_units=int(config["num_res_units"]),
        norm=str(config["norm"]),
    )
