"""Training of the fusion classifier (and its single-modality ablations) on cached crops.

The crops come from the real pipeline (load -> segment from the click -> ROI), cached by
:mod:`bcl_core.train.fusion_data`; this module only sees arrays. Steps: seeded training with
augmentation and early model selection on validation mean AUROC -> Platt scaling per head on
validation -> thresholds on the calibrated validation probabilities (Youden for types I-III and
"any"; sensitivity >= the Type IV target for Type IV) -> ONNX export with Grad-CAM outputs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from bcl_core.errors import ModelError
from bcl_core.nets.fusion import (
    DEFAULT_CHANNELS,
    DETECTOR_CELL,
    HEAD_NAMES,
    FusionNet,
    FusionWithCAM,
    output_names,
)
from bcl_core.stats import fixed_sensitivity_point, youden_point
from bcl_core.train.augment import AugmentConfig, thick_slice_operator
from bcl_core.train.export import OPSET
from bcl_core.train.feature_maps import SHIPPED_FEATURE_MAPS, map_channel_index
from bcl_core.train.fusion_inputs import FUSION_INPUT_SETTINGS, CropSet

logger = logging.getLogger(__name__)

#: Type IV (spinal canal) is the one never to miss: its threshold keeps this validation recall.
TYPE4_TARGET_SENSITIVITY = 0.95


@dataclass(frozen=True)
class FusionTrainConfig:
    """Hyper-parameters of one training run (written into the sidecar for provenance)."""

    modalities: tuple[str, ...] = ("ct", "mr")
    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    channels: tuple[int, ...] = DEFAULT_CHANNELS
    subunits: int = 1
    shared_features: int = 64
    dropout: float = 0.2
    seed: int = 0
    threads: int = 2
    max_shift_voxels: int = 3
    #: Average-pool factor of the crops inside the network (1: none). Pooling speeds training up
    #: but blurs away the small features (cortical defects, breaches) that decide types II-IV.
    input_pool: int = 1
    #: Weight of the auxiliary loss (mean squared error on the generator's standardised latent
    #: features, from the shared layer) when the training data has them; 0 trains on labels only.
    aux_weight: float = 1.0
    #: Features the CT feature detector maps (names of :data:`FEATURE_MAP_NAMES`); () for none.
    #: The venous channels are left out of the shipped recipe: mapped (with counts) they did not
    #: lift Type I and lowered Type II (docs/research/fusion_features.md).
    feature_maps: tuple[str, ...] = SHIPPED_FEATURE_MAPS
    #: Weight of the feature-map loss (binary cross-entropy per detector cell) when the training
    #: data has maps (synthetic cases); without maps the detector learns from the labels only.
    map_weight: float = 1.0
    #: Positive-class weight of that loss: a feature covers a few of the 1,728 cells.
    map_pos_weight: float = 20.0
    #: The detector's peak learning rate relative to ``learning_rate``: on its own it found the
    #: wall defect sooner at 2e-3 than under a 1e-3 one-cycle schedule
    #: (``research/fusion_feature_detector.py``; docs/research/fusion_features.md).
    detector_lr_factor: float = 2.0
    #: The detector's soft count of each map joins its maxima (``FusionNet(detector_counts)``);
    #: off in the shipped recipe (measured with the venous-channel map,
    #: docs/research/fusion_features.md).
    detector_counts: bool = False
    #: The detector's summaries also feed the heads' logits directly
    #: (``FusionNet(detector_direct)``).
    detector_direct: bool = True
    #: Random intensity scale (SD) per modality. CT is not scaled: Hounsfield units are
    #: calibrated across scanners and bone density (tens of HU) is itself a risk feature; MRI
    #: intensities are arbitrary and differ by site.
    intensity_scale_sd: tuple[float, float] = (0.0, 0.1)
    #: Additive Gaussian noise (SD, normalised units) per modality.
    noise_sd: tuple[float, float] = (0.01, 0.02)
    #: Tensor dims (of ``(B, 1, k, j, i)``) that run left-right on the CT and MR crop grids
    #: (both crops are on identity-direction LPS grids: i runs right to left).
    left_right_dims: tuple[int, int] = (4, 4)
    #: Probability per crop (CT, MRI) of a simulated thick-slice acquisition along the series'
    #: slice axis (:func:`bcl_core.train.augment.thick_slice_operator`, the thicknesses of
    #: :class:`~bcl_core.train.augment.AugmentConfig`): the external site's CT has 3.75 mm
    #: slices, the development site's 1.25 mm. Off in the shipped recipe: CT at 0.5 changed the
    #: external wall-defect detection and AUROCs by no more than noise
    #: (docs/research/fusion_features.md).
    thick_slice_p: tuple[float, float] = (0.0, 0.0)
    #: Tensor dims along the CT (axial: k) and MRI (sagittal: i) slice axes.
    slice_dims: tuple[int, int] = (2, 4)


@dataclass
class TrainResult:
    """A trained model with its history and the epoch it was taken from."""

    model: FusionNet
    history: list[dict[str, float]]
    best_epoch: int
    seconds: float
    #: The auxiliary latent-feature head (on the shared layer), when it was trained.
    aux_head: torch.nn.Linear | None = None


def _thick_slices(batch: torch.Tensor, generator: torch.Generator, probability: float,
                  slice_dim: int, voxel_mm: float) -> torch.Tensor:
    """Re-acquire each crop through contiguous thick slices along ``slice_dim`` with
    ``probability`` (thickness uniform in :class:`AugmentConfig`'s range, random position)."""
    low, high = AugmentConfig().thick_slice_mm
    n, size = batch.shape[0], batch.shape[slice_dim]
    chosen = (torch.rand(n, generator=generator) < probability).tolist()
    thickness = (low + (high - low) * torch.rand(n, generator=generator)).tolist()
    phase = (high * torch.rand(n, generator=generator)).tolist()
    out = batch.clone()
    for b in range(n):
        if chosen[b]:
            operator = torch.from_numpy(
                thick_slice_operator(size, voxel_mm, thickness[b], phase[b])).float()
            moved = torch.movedim(batch[b], slice_dim - 1, -1)
            out[b] = torch.movedim(moved @ operator.T, -1, slice_dim - 1)
    return out


def _augment(batch: torch.Tensor, generator: torch.Generator, max_shift: int,
             left_right_dim: int, scale_sd: float = 0.0, noise_sd: float = 0.0,
             along: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Left-right mirroring, small shifts, an intensity scale and noise.

    Leakage types do not depend on the side, so mirroring left-right is label-preserving;
    ``left_right_dim`` is the tensor dimension that runs left-right on this modality's crop grid.
    ``along`` (maps on the same grid, ``(B, K, D, H, W)``) is mirrored and shifted with the
    batch and returned second (None when not given); intensity changes leave it alone.
    """
    n = batch.shape[0]
    out = batch.clone()
    maps = along.clone() if along is not None else None
    flip = torch.rand(n, generator=generator) < 0.5
    out[flip] = torch.flip(out[flip], dims=[left_right_dim])
    if maps is not None:
        maps[flip] = torch.flip(maps[flip], dims=[left_right_dim])
    if max_shift:
        shifts = torch.randint(-max_shift, max_shift + 1, (3,), generator=generator).tolist()
        out = torch.roll(out, shifts=shifts, dims=(2, 3, 4))
        if maps is not None:
            maps = torch.roll(maps, shifts=shifts, dims=(2, 3, 4))
    if scale_sd:
        out = out * (1 + scale_sd * torch.randn(n, 1, 1, 1, 1, generator=generator))
    if noise_sd:
        out = out + noise_sd * torch.randn(out.shape, generator=generator)
    return out, maps


def crop_voxel_mm(modality: str) -> float:
    """Voxel size (mm) of the classifier crop grid of ``modality`` (the crop is isotropic)."""
    spacing = FUSION_INPUT_SETTINGS["inputs"][modality]["spacing_mm"]
    if len(set(spacing)) != 1:
        raise ModelError(f"thick-slice augmentation needs an isotropic {modality} crop grid.")
    return float(spacing[0])


def _tensor(array: NDArray[np.float32]) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).unsqueeze(1)


def _batched_head(model: FusionNet, crops: CropSet, batch_size: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and the shared layer's ReLU activations of all crops, in eval mode, no grad."""
    model.eval()
    logits, shared = [], []
    with torch.no_grad():
        for start in range(0, len(crops), batch_size):
            stop = start + batch_size
            out, pre_activation = model.head(model.features(
                {"ct": _tensor(crops.ct[start:stop]), "mr": _tensor(crops.mr[start:stop])}))
            logits.append(out)
            shared.append(F.relu(pre_activation))
    return torch.cat(logits), torch.cat(shared)


def predict_logits(model: FusionNet, crops: CropSet, batch_size: int = 32) -> NDArray[np.float64]:
    """Logits ``(N, len(HEAD_NAMES))`` of ``model`` in eval mode."""
    return _batched_head(model, crops, batch_size)[0].numpy().astype(np.float64)


def mean_auroc(labels: NDArray[np.uint8], scores: NDArray[np.float64]) -> float:
    """Mean AUROC over the heads that have both classes (NaN when none has)."""
    values = [roc_auc_score(labels[:, h], scores[:, h]) for h in range(labels.shape[1])
              if 0 < labels[:, h].sum() < len(labels)]
    return float(np.mean(values)) if values else float("nan")


def train_fusion(train: CropSet, validation: CropSet, config: FusionTrainConfig,
                 progress: Callable[[int, dict[str, float]], None] | None = None) -> TrainResult:
    """Train a :class:`FusionNet` and keep the epoch with the best validation mean AUROC.

    Parameters
    ----------
    train, validation:
        Crop sets of the two splits.
    config:
        Hyper-parameters; ``config.seed`` makes the run reproducible on one machine.
    progress:
        Called after each epoch with ``(epoch, metrics)``.
    """
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    generator = torch.Generator().manual_seed(config.seed)
    map_channels = map_channel_index(config.feature_maps)
    model = FusionNet.from_config(config_dict(config))
    supervise_maps = (model.detector is not None and config.map_weight > 0
                      and len(train.maps) == len(train) > 0
                      and train.maps.shape[1] > max(map_channels, default=-1))
    if model.detector is not None and not supervise_maps:
        logger.info("no feature maps in the training data: the detector learns from labels only")
    map_pos_weight = torch.tensor(config.map_pos_weight)
    # The auxiliary head lives only in training: the exported model is FusionNet alone.
    aux_head: torch.nn.Linear | None = None
    if config.aux_weight > 0 and len(train.latent) == len(train) > 0:
        aux_head = torch.nn.Linear(config.shared_features, train.latent.shape[1])
        latent = torch.from_numpy(train.latent)
    else:
        logger.info("no latent features in the training data: training on labels only")
    trained = torch.nn.ModuleList([model] if aux_head is None else [model, aux_head])
    detector = set(model.detector.parameters()) if model.detector is not None else set()
    groups: list[dict[str, Any]] = [
        {"params": [p for p in trained.parameters() if p not in detector],
         "lr": config.learning_rate}]
    if detector:
        groups.append({"params": list(model.detector.parameters()),  # type: ignore[union-attr]
                       "lr": config.learning_rate * config.detector_lr_factor})
    optimiser = torch.optim.AdamW(groups, lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    steps_per_epoch = max(1, int(np.ceil(len(train) / config.batch_size)))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=[group["lr"] for group in groups],
        total_steps=config.epochs * steps_per_epoch)
    labels = torch.from_numpy(train.labels.astype(np.float32))
    prevalence = labels.mean(dim=0).clamp(0.02, 0.98)
    pos_weight = ((1 - prevalence) / prevalence).clamp(max=10.0)
    best_state: dict[str, torch.Tensor] | None = None
    best_score, best_epoch, history = -np.inf, 0, []
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        trained.train()
        order = torch.randperm(len(train), generator=generator).numpy()
        losses = []
        for step in range(steps_per_epoch):
            idx = order[step * config.batch_size:(step + 1) * config.batch_size]
            images: dict[str, torch.Tensor] = {}
            maps: torch.Tensor | None = None
            for k, m in enumerate(("ct", "mr")):
                along = (torch.from_numpy(train.maps[idx][:, map_channels]).float()
                         if supervise_maps and m == "ct" else None)
                crops = _tensor(getattr(train, m)[idx])
                if config.thick_slice_p[k] > 0:
                    crops = _thick_slices(crops, generator, config.thick_slice_p[k],
                                          config.slice_dims[k], crop_voxel_mm(m))
                images[m], moved = _augment(
                    crops, generator, config.max_shift_voxels,
                    config.left_right_dims[k], config.intensity_scale_sd[k], config.noise_sd[k],
                    along)
                maps = moved if moved is not None else maps
            activations = model.features(images)
            # With maps, the detector learns from them alone: the label loss, on one cell per
            # case and feature, outweighs the map loss there and turned the wall-defect channel
            # into one more Type II predictor (it found no wall defects, case AUROC 0.52).
            logits, pre_activation = model.head(activations, detach_detector=supervise_maps)
            loss = F.binary_cross_entropy_with_logits(logits, labels[idx], pos_weight=pos_weight)
            if maps is not None:
                loss = loss + config.map_weight * F.binary_cross_entropy_with_logits(
                    model.feature_maps(activations), F.max_pool3d(maps, DETECTOR_CELL),
                    pos_weight=map_pos_weight)
            if aux_head is not None:
                aux = aux_head(F.relu(pre_activation))
                loss = loss + config.aux_weight * F.mse_loss(aux, latent[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            losses.append(loss.item())
        val_auroc = mean_auroc(validation.labels, predict_logits(model, validation))
        metrics = {"epoch": float(epoch), "loss": float(np.mean(losses)),
                   "val_mean_auroc": val_auroc, "seconds": time.perf_counter() - start}
        history.append(metrics)
        if progress is not None:
            progress(epoch, metrics)
        if val_auroc > best_score:
            best_score, best_epoch = val_auroc, epoch
            best_state = {k: v.detach().clone() for k, v in trained.state_dict().items()}
    if best_state is not None:
        trained.load_state_dict(best_state)
    trained.eval()
    return TrainResult(model, history, best_epoch, time.perf_counter() - start, aux_head)


def predict_latent(result: TrainResult, crops: CropSet, batch_size: int = 32
                   ) -> NDArray[np.float64]:
    """The auxiliary head's latent-feature estimates ``(N, F)`` (eval mode)."""
    if result.aux_head is None:
        raise ModelError("this model was trained without the auxiliary latent-feature head.")
    shared = _batched_head(result.model, crops, batch_size)[1]
    with torch.no_grad():
        return result.aux_head.eval()(shared).numpy().astype(np.float64)


def fit_platt(logits: NDArray[np.float64], labels: NDArray[np.uint8]
              ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Platt scaling per head: ``p = sigmoid(scale * logit + bias)`` fitted by maximum likelihood.

    A head whose fitted scale is not positive (no signal on validation) keeps the identity, so
    calibration never reverses a ranking.
    """
    n_heads = logits.shape[1]
    scale, bias = np.ones(n_heads), np.zeros(n_heads)
    for h in range(n_heads):
        y = labels[:, h]
        if 0 < y.sum() < len(y):
            fit = LogisticRegression(C=1e6, max_iter=1000).fit(logits[:, [h]], y)
            if fit.coef_[0, 0] > 0:
                scale[h], bias[h] = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    return scale, bias


def calibrated(logits: NDArray[np.float64], scale: NDArray[np.float64],
               bias: NDArray[np.float64]) -> NDArray[np.float64]:
    """Calibrated probabilities from logits and Platt parameters."""
    return 1.0 / (1.0 + np.exp(-(logits * scale + bias)))


def choose_thresholds(probabilities: NDArray[np.float64], labels: NDArray[np.uint8],
                      type4_sensitivity: float = TYPE4_TARGET_SENSITIVITY,
                      names: Sequence[str] = HEAD_NAMES) -> dict[str, float]:
    """Per-head decision thresholds on calibrated validation probabilities.

    Youden's J for every head except Type IV, which gets the highest threshold that keeps its
    validation sensitivity at or above ``type4_sensitivity``. ``names`` are the heads of the
    columns (the oracle has no "any" column).
    """
    thresholds: dict[str, float] = {}
    for h, name in enumerate(names):
        y, p = labels[:, h], probabilities[:, h]
        if not 0 < y.sum() < len(y):
            thresholds[name] = 0.5
            continue
        point = (fixed_sensitivity_point(y, p, type4_sensitivity) if name == "type4"
                 else youden_point(y, p))
        thresholds[name] = float(point.threshold)
    return thresholds


def export_fusion_onnx(model: FusionNet, scale: NDArray[np.float64], bias: NDArray[np.float64],
                       crop_size: Sequence[int], path: str | Path) -> Path:
    """Export the model with calibration and Grad-CAM outputs to ONNX (opset 17)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    wrapper = FusionWithCAM(model, torch.as_tensor(scale), torch.as_tensor(bias)).eval()
    shape = (1, 1, *[int(s) for s in crop_size])
    example = (torch.zeros(shape), torch.zeros(shape))
    names = output_names(model.modalities)
    batch_axis = {name: {0: "batch"} for name in ["ct", "mr", *names]}
    torch.onnx.export(wrapper, example, str(out), input_names=["ct", "mr"], output_names=names,
                      dynamic_axes=batch_axis, opset_version=OPSET, dynamo=False)
    return out


def load_checkpoint(models_dir: str | Path) -> tuple[FusionNet, dict[str, Any]]:
    """The trained network of ``models_dir/fusion.pt`` (eval mode) and its sidecar as a dict.

    Raises
    ------
    ModelError
        If the sidecar or the checkpoint is missing or does not fit.
    """
    import json

    folder = Path(models_dir)
    try:
        sidecar = json.loads((folder / "fusion.json").read_text(encoding="utf-8"))
        model = FusionNet.from_config(sidecar["training"]["config"])
        model.load_state_dict(torch.load(folder / "fusion.pt", map_location="cpu"))
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise ModelError(f"cannot load the fusion checkpoint in {folder}: {exc}") from exc
    return model.eval(), sidecar


def config_dict(config: FusionTrainConfig) -> dict[str, Any]:
    """The config as plain JSON-able data."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}
