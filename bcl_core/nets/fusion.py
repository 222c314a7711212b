"""Intermediate-fusion CNN for bone cement leakage types I-IV (training side; imports torch).

One 3D residual encoder per modality (MONAI ``ResidualUnit`` blocks), global average pooling,
a shared representation layer fed by both, and multi-task logits: one per leakage type plus
"any leakage". The same class builds the CT-only and MRI-only ablation models. Optionally a
small CT feature detector (:class:`FeatureDetector`) maps small features (the wall defect,
the posterior breach, the venous channels) on 5 mm cells; each map's highest cell (and,
optionally, its soft count of cells) joins the pooled features and can also reach the logits
through a direct linear term.

:class:`FusionWithCAM` wraps a trained model for ONNX export: one call returns the
probabilities, the logits and a Grad-CAM map per type and modality. The head after the last
convolutional stage is pooling (average and max) -> linear -> ReLU -> linear (plus the
detector's direct term), so the Grad-CAM weights (the spatial mean of each logit's gradient with
respect to the last stage's activations) are written out in closed form (the ReLU gate times the
weights, divided by the voxel count); no autograd is needed at run time, and ONNX Runtime
computes the maps without torch. The detector's maxima and counts get the same treatment, and
its Grad-CAM map adds to the CT encoder's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from monai.networks.blocks import ResidualUnit
from torch import nn

from bcl_core.leakage import HEAD_NAMES

MODALITIES: tuple[str, ...] = ("ct", "mr")


#: Default encoder: four residual stages, the first three with stride 2 and the last with
#: stride 1, so Grad-CAM maps are 1/8 of the crop size (6^3 cells of 10 mm on the 48^3, 1.25 mm
#: crop). Narrow first stages keep full-resolution training affordable on a 2-core CPU.
DEFAULT_CHANNELS: tuple[int, ...] = (8, 16, 32, 64)
#: At most three halvings (later stages keep stride 1): maps stay 1/8 of the crop.
MAX_HALVINGS = 3


def default_strides(n_stages: int) -> tuple[int, ...]:
    """Stride 2 for the first :data:`MAX_HALVINGS` stages, 1 after."""
    return tuple(2 if stage < MAX_HALVINGS else 1 for stage in range(n_stages))


DEFAULT_STRIDES: tuple[int, ...] = default_strides(len(DEFAULT_CHANNELS))
#: Batch, not instance, normalisation: instance norm re-centres every channel of every case
#: before global average pooling, which erases exactly the per-case differences the heads need
#: (a fusion net with instance norm did not learn at all on the synthetic crops).
NORM = "BATCH"


class ModalityEncoder(nn.Module):
    """Residual stages (MONAI ``ResidualUnit``) mapping ``(B, 1, D, H, W)`` to a feature map."""

    def __init__(self, channels: Sequence[int] = DEFAULT_CHANNELS,
                 strides: Sequence[int] = DEFAULT_STRIDES, subunits: int = 1,
                 dropout: float = 0.0) -> None:
        super().__init__()
        stages: list[nn.Module] = []
        in_channels = 1
        for out_channels, stride in zip(channels, strides, strict=True):
            stages.append(ResidualUnit(3, in_channels, out_channels, strides=stride,
                                       subunits=subunits, norm=NORM, act="PRELU",
                                       dropout=dropout))
            in_channels = out_channels
        self.stages = nn.Sequential(*stages)
        self.out_channels = in_channels

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Last-stage activations ``(B, C, d, h, w)``."""
        return self.stages(image)


#: Feature detector (on the CT crop): three residual stages, two halvings, then a 1x1x1
#: convolution to one logit map per mapped feature on cells of 4 voxels (5 mm at 1.25 mm): fine
#: enough for a 5 mm wall defect, which a 10 mm cell of the encoder averages away.
DETECTOR_CHANNELS: tuple[int, ...] = (8, 16, 32)
DETECTOR_STRIDES: tuple[int, ...] = (2, 2, 1)
#: Crop voxels per detector cell along each axis (the product of the detector's strides).
DETECTOR_CELL = 4
#: The detector's soft count of a map: the sum of its cells' probabilities divided by this, about
#: the cells one venous channel (a 10-15 mm tube) covers, so the count reads roughly in features.
DETECTOR_COUNT_CELLS = 3.0
#: Keys of the detector's last-stage activations and of its logit maps in
#: :meth:`FusionNet.features`.
DETECTOR_KEY = "ct_detector"
MAPS_KEY = "ct_feature_maps"


class FeatureDetector(nn.Module):
    """``(B, 1, D, H, W)`` CT crop -> ``(B, K, D/4, H/4, W/4)`` logit maps, one per feature.

    ``encoder`` gives the last-stage activations (the Grad-CAM layer), ``head`` the maps.
    """

    def __init__(self, n_maps: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.encoder = ModalityEncoder(DETECTOR_CHANNELS, DETECTOR_STRIDES, dropout=dropout)
        self.head = nn.Conv3d(self.encoder.out_channels, n_maps, kernel_size=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logit maps on :data:`DETECTOR_CELL`-voxel cells."""
        return self.head(self.encoder(image))


class FusionNet(nn.Module):
    """Encoders per modality -> pooled features -> shared layer -> one logit per head.

    Parameters
    ----------
    modalities:
        ``("ct", "mr")`` for fusion, ``("ct",)`` or ``("mr",)`` for the ablations.
    channels, strides, subunits:
        Encoder channels and stride per stage; convolutions per stage.
    shared_features:
        Width of the shared representation layer.
    dropout:
        Dropout before the shared layer and inside the encoders (training only).
    input_pool:
        Average-pool the input crops by this factor before the encoders (1: none).
    feature_maps:
        With CT among the modalities, a :class:`FeatureDetector` with this many maps (0: none)
        runs on the CT crop; each map's highest logit joins the pooled features. Training can
        supervise the maps where it knows the features' footprints (synthetic data).
    detector_counts:
        With a detector, each map's soft count (the sum of its cells' probabilities over
        :data:`DETECTOR_COUNT_CELLS`) joins the pooled features after the maxima: a maximum says
        whether a feature is there, a count how many there are (venous channels).
    detector_direct:
        With a detector, its summaries (maxima, and counts when used) also reach every head's
        logit through a direct linear term (:attr:`direct`), beside the shared layer: a found
        defect then raises its leakage type's logit in proportion, as in the generator's risk
        model. Without it the head read the wall-defect peak weakly (Type II logit vs defect
        presence, Spearman 0.27-0.31) although the peak alone ranked Type II better than the
        head did.
    """

    def __init__(self, modalities: Sequence[str] = MODALITIES,
                 channels: Sequence[int] = DEFAULT_CHANNELS, shared_features: int = 64,
                 dropout: float = 0.1, strides: Sequence[int] | None = None,
                 subunits: int = 1, input_pool: int = 1, feature_maps: int = 0,
                 detector_counts: bool = False, detector_direct: bool = False) -> None:
        super().__init__()
        if input_pool < 1:
            raise ValueError("input_pool must be a positive integer")
        # Average pooling of the input crop before the encoders (2: a 2 mm crop is read at 4 mm).
        self.input_pool: nn.Module = nn.AvgPool3d(input_pool) if input_pool > 1 else nn.Identity()
        unknown = set(modalities) - set(MODALITIES)
        if unknown or not modalities:
            raise ValueError(f"modalities must be a non-empty subset of {MODALITIES}")
        self.modalities = tuple(m for m in MODALITIES if m in modalities)
        stage_strides = tuple(strides) if strides is not None else default_strides(len(channels))
        encoders = {m: ModalityEncoder(channels, stage_strides, subunits, dropout=dropout / 2)
                    for m in self.modalities}
        self.encoders = nn.ModuleDict(encoders)
        # Average and max pooling per channel: leakage risk often sits in a small structure
        # (a cortical defect, a vein channel) that an average alone dilutes.
        pooled = 2 * sum(encoder.out_channels for encoder in encoders.values())
        self.detector: FeatureDetector | None = None
        self.detector_counts = bool(detector_counts and feature_maps)
        #: Detector summaries per case (maxima, then counts when used): the last pooled slots.
        self.n_summaries = feature_maps * (2 if self.detector_counts else 1)
        if feature_maps and "ct" in self.modalities:
            self.detector = FeatureDetector(feature_maps, dropout=dropout / 2)
            pooled += self.n_summaries
        self.dropout = nn.Dropout(dropout)
        self.shared = nn.Linear(pooled, shared_features)
        self.heads = nn.Linear(shared_features, len(HEAD_NAMES))
        self.direct: nn.Linear | None = None
        if detector_direct and self.detector is not None:
            # Starts at zero: the term grows only as the detector's peaks become informative.
            self.direct = nn.Linear(self.n_summaries, len(HEAD_NAMES), bias=False)
            nn.init.zeros_(self.direct.weight)

    def features(self, images: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Last-stage activations per modality; with a detector, also its last-stage
        activations (:data:`DETECTOR_KEY`) and logit maps (:data:`MAPS_KEY`)."""
        out = {m: self.encoders[m](self.input_pool(images[m])) for m in self.modalities}
        if self.detector is not None:
            out[DETECTOR_KEY] = self.detector.encoder(self.input_pool(images["ct"]))
            out[MAPS_KEY] = self.detector.head(out[DETECTOR_KEY])
        return out

    def feature_maps(self, activations: dict[str, torch.Tensor]) -> torch.Tensor:
        """The feature detector's logit maps ``(B, K, d, h, w)`` from :meth:`features`."""
        if self.detector is None:
            raise ValueError("this model has no feature detector")
        return activations[MAPS_KEY]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FusionNet:
        """The network a training config describes (the sidecar's ``training.config``)."""
        return cls(config["modalities"], config["channels"], config["shared_features"],
                   config["dropout"], subunits=config["subunits"],
                   input_pool=config.get("input_pool", 1),
                   feature_maps=len(config.get("feature_maps", ())),
                   detector_counts=bool(config.get("detector_counts", False)),
                   detector_direct=bool(config.get("detector_direct", False)))

    def pooled(self, activations: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Mean- and max-pooled last-stage activations per modality, ``(B, 2C)`` each."""
        return {m: torch.cat([activations[m].mean(dim=(2, 3, 4)),
                              activations[m].amax(dim=(2, 3, 4))], dim=1)
                for m in self.modalities}

    def head(self, activations: dict[str, torch.Tensor], detach_detector: bool = False
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and the shared layer's pre-activation from last-stage activations.

        ``detach_detector``: the label loss does not reach the feature detector (training with
        feature maps: the detector then learns where the features are from the maps alone).
        """
        per_modality = self.pooled(activations)
        parts = [per_modality[m] for m in self.modalities]
        summaries: torch.Tensor | None = None
        if self.detector is not None:  # last, so the encoders' slots keep their offsets
            summaries = self.detector_summaries(self.feature_maps(activations))
            summaries = summaries.detach() if detach_detector else summaries
            parts.append(summaries)
        pooled = torch.cat(parts, dim=1)
        pre_activation = self.shared(self.dropout(pooled))
        logits = self.heads(F.relu(pre_activation))
        if self.direct is not None and summaries is not None:
            logits = logits + self.direct(summaries)
        return logits, pre_activation

    def detector_summaries(self, maps: torch.Tensor) -> torch.Tensor:
        """``(B, K)`` maxima of the logit maps, then ``(B, K)`` soft counts when used."""
        peaks = maps.amax(dim=(2, 3, 4))
        if not self.detector_counts:
            return peaks
        counts = torch.sigmoid(maps).sum(dim=(2, 3, 4)) / DETECTOR_COUNT_CELLS
        return torch.cat([peaks, counts], dim=1)

    def forward(self, ct: torch.Tensor | None = None, mr: torch.Tensor | None = None
                ) -> torch.Tensor:
        """Logits ``(B, len(HEAD_NAMES))`` from the crops of the modalities this model uses."""
        images = {"ct": ct, "mr": mr}
        missing = [m for m in self.modalities if images[m] is None]
        if missing:
            raise ValueError(f"missing input crops: {missing}")
        logits, _ = self.head(self.features(images))  # type: ignore[arg-type]
        return logits


class FusionWithCAM(nn.Module):
    """Export wrapper: probabilities, logits and per-head Grad-CAM maps in one forward pass.

    Outputs, in order: ``probabilities (B, H)``, ``logits (B, H)`` and, per modality,
    ``cam_<modality> (B, H, D, H, W)``: the ReLU of the gradient-weighted activations of the
    last stage, trilinearly upsampled to the input crop size and scaled to [0, 1] per map
    (a map with no positive evidence stays 0). With a feature detector, the CT crop reaches the
    head by two branches; the CT map is then the sum of the two branches' Grad-CAM maps (the
    encoder's last stage and the detector's last stage), each upsampled and unscaled, so each
    branch shows in proportion to its gradient-weighted evidence.

    ``calibration_scale`` and ``calibration_bias`` (one per head; Platt scaling fitted on the
    validation set) turn logits into calibrated probabilities:
    ``sigmoid(scale * logit + bias)``. With a positive scale the normalised maps are unchanged.
    """

    # Buffers registered in __init__ (nn.Module's __getattr__ is typed Tensor | Module).
    calibration_scale: torch.Tensor
    calibration_bias: torch.Tensor

    def __init__(self, model: FusionNet, calibration_scale: torch.Tensor | None = None,
                 calibration_bias: torch.Tensor | None = None) -> None:
        super().__init__()
        self.model = model
        n_heads = len(HEAD_NAMES)
        scale = torch.ones(n_heads) if calibration_scale is None else calibration_scale
        bias = torch.zeros(n_heads) if calibration_bias is None else calibration_bias
        self.register_buffer("calibration_scale", scale.detach().float().reshape(n_heads))
        self.register_buffer("calibration_bias", bias.detach().float().reshape(n_heads))

    def forward(self, ct: torch.Tensor, mr: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """See the class docstring; both crops are always inputs so the graph has one shape."""
        model = self.model
        images = {"ct": ct, "mr": mr}
        activations = model.features(images)
        logits, pre_activation = model.head(activations)
        gate = (pre_activation > 0).to(logits.dtype)  # derivative of ReLU
        # d logit_h / d pooled = heads.W[h] * gate  @  shared.W   -> (B, H, pooled)
        jacobian = torch.matmul(model.heads.weight.unsqueeze(0) * gate.unsqueeze(1),
                                model.shared.weight)
        if model.direct is not None:  # the detector's summaries (the last slots) also reach
            last = model.n_summaries  # the logits directly
            jacobian = torch.cat([jacobian[:, :, :-last],
                                  jacobian[:, :, -last:] + model.direct.weight.unsqueeze(0)],
                                 dim=2)
        calibrated = logits * self.calibration_scale + self.calibration_bias
        outputs: list[torch.Tensor] = [torch.sigmoid(calibrated), logits]
        offset = 0
        for modality in model.modalities:
            acts = activations[modality]
            n_channels = acts.shape[1]
            n_voxels = acts.shape[2] * acts.shape[3] * acts.shape[4]
            # Grad-CAM weights are the spatial mean of d logit / d A. Through the average pool
            # that gradient is J_avg / N at every voxel; through the max pool it is J_max at the
            # argmax and 0 elsewhere, whose spatial mean is J_max / N. So alpha = (J_avg+J_max)/N.
            j_avg = jacobian[:, :, offset:offset + n_channels]
            j_max = jacobian[:, :, offset + n_channels:offset + 2 * n_channels]
            alpha = (j_avg + j_max) / n_voxels
            offset += 2 * n_channels
            cam = _upsampled_cam(alpha, acts, images[modality].shape[2:])
            if modality == "ct" and model.detector is not None:
                cam = cam + self._detector_cam(activations[DETECTOR_KEY],
                                               activations[MAPS_KEY], jacobian,
                                               images[modality].shape[2:])
            peak = cam.amax(dim=(2, 3, 4), keepdim=True)
            outputs.append(cam / torch.clamp(peak, min=1e-12))
        return tuple(outputs)

    def _detector_cam(self, acts: torch.Tensor, maps: torch.Tensor, jacobian: torch.Tensor,
                      size: Sequence[int]) -> torch.Tensor:
        """Grad-CAM of the detector's last stage, unscaled, upsampled to ``size``.

        The head reads map ``k``'s highest cell, ``p_k = max_x m_k(x)`` with
        ``m_k(x) = w_k . A(x) + b_k``: d logit_h / d A_c(x) is ``J[h, p_k] w_kc`` at map ``k``'s
        argmax and 0 elsewhere, whose spatial mean is ``J[h, p_k] w_kc / N``. With counts,
        ``n_k = sum_x sigmoid(m_k(x)) / S`` adds ``J[h, n_k] w_kc sigmoid'(m_k(x)) / S`` at every
        voxel, whose spatial mean is ``J[h, n_k] w_kc sum_x sigmoid'(m_k(x)) / (S N)``.
        """
        model = self.model
        assert model.detector is not None
        weight = model.detector.head.weight.flatten(1)  # (K, C)
        n_maps = weight.shape[0]
        n_voxels = acts.shape[2] * acts.shape[3] * acts.shape[4]
        first = jacobian.shape[2] - model.n_summaries
        per_map = jacobian[:, :, first:first + n_maps]  # (B, H, K): through the maxima
        if model.detector_counts:
            probability = torch.sigmoid(maps)
            slope = (probability * (1 - probability)).sum(dim=(2, 3, 4))  # (B, K)
            per_map = per_map + (jacobian[:, :, first + n_maps:] * slope.unsqueeze(1)
                                 / DETECTOR_COUNT_CELLS)
        return _upsampled_cam(torch.matmul(per_map, weight) / n_voxels, acts, size)


def _upsampled_cam(alpha: torch.Tensor, acts: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``ReLU(sum_c alpha_hc A_c)`` per head, trilinearly upsampled to ``size``."""
    cam = F.relu(torch.einsum("bhc,bcxyz->bhxyz", alpha, acts))
    return F.interpolate(cam, size=tuple(size), mode="trilinear", align_corners=False)


def output_names(modalities: Sequence[str]) -> list[str]:
    """ONNX output names of :class:`FusionWithCAM` for a model with ``modalities``."""
    return ["probabilities", "logits", *[f"cam_{m}" for m in MODALITIES if m in modalities]]
