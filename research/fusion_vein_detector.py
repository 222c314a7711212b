"""Can a small CNN count the venous channels when told where they are?

Usage (the figures in docs/research/fusion_features.md came from exactly this)::

    python research/fusion_vein_detector.py --cache data/fusion_hr
    python research/fusion_vein_detector.py --cache data/fusion_hr --strides 2,1,1

Type I's external bar needs the channel count: without it even the oracle stays below the bar
(``fusion_ceilings.py``). This trains the fusion model's detector design on its own
(three residual stages 8-16-32, a 1x1x1 head whose bias starts at a 1 % prior) on the crop
cache's venous-channel maps (:mod:`bcl_core.train.feature_maps`), with the fusion trainer's
augmentation, and, with ``--count-weight`` > 0, also against each case's true channel count
(the soft count: the sum of the cells' probabilities over the cells one channel covers).
It needs a cache with the channel maps (``bcl train fusion ... --cache DIR`` builds it).
``--paired`` adds, for each training case with channels, the same case rendered without them
(same anatomy and noise, an empty map), so that where channels can be no longer pays;
``--paired --twin-weight W`` trains on the twins side by side instead, with a loss on their
soft-count difference (in which the position prior cancels).

Prints one JSON line per epoch: for the first 300 training cases, the run's validation split
and each test cache, the Spearman correlation with the true count of the soft count and of the
number of cells above 0.5, the AUROC for "the case has a channel" of the soft count and of the
highest cell, and on the validation split the AUROC of the cells against the maps beside that of
the maps' spatial prior alone (each cell's channel frequency over the training cases: where
channels can be, the same for every case).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from bcl_core.phantom.sites import get_site
from bcl_core.phantom.spec import case_id_for, sample_case_labels
from bcl_core.train.feature_maps import FEATURE_MAP_NAMES

#: Test caches and the seeds their synthetic cases were made with (the shipped recipe's).
DEFAULT_TESTS = "external:3000,prospective:2000"
#: Crop-voxel cells one channel (a 10-15 mm tube) covers at a 4-voxel cell (the fusion model's
#: ``DETECTOR_COUNT_CELLS``); finer cells scale it.
CELLS_PER_CHANNEL_AT_4 = 3.0


def case_index(case_id: object) -> int:
    """The generator's 0-based case index in a synthetic case id (``INT-S1000-0001`` -> 0)."""
    return int(str(case_id).rsplit("-", 1)[1]) - 1


def true_counts(case_ids: np.ndarray, site: str, seed: int) -> np.ndarray:
    """Channels per case from the generator (the cache's ids must be ``(site, seed)``'s)."""
    profile = get_site(site)
    out = []
    for case_id in case_ids:
        index = case_index(case_id)
        if case_id_for(profile, seed, index) != case_id:
            raise SystemExit(f"{case_id} is not a case of {site} seed {seed}: pass --seed.")
        out.append(sample_case_labels(profile, seed, index).features.vein_channels)
    return np.asarray(out)


def without_channels_crop(job: tuple[str, int, int, str]) -> np.ndarray | None:
    """The normalised CT crop of synthetic case ``(site, seed, index)`` rendered without its
    venous channels (same anatomy, same noise), float16; None when it has none."""
    from bcl_core.phantom.ct import render_ct
    from bcl_core.phantom.spec import sample_case_spec
    from bcl_core.train.feature_maps import normalised_crop, without

    site, seed, index, settings = job
    spec = sample_case_spec(site, seed, index)
    if spec.features.vein_channels == 0:
        return None
    _, mask = render_ct(spec, True)
    series = render_ct(without(spec, "vein_channels"), True)[0]
    return normalised_crop(series, mask, "ct", json.loads(settings)).astype(np.float16)


def paired_negatives(cache: Path, case_ids: np.ndarray, index: np.ndarray, seed: int,
                     settings: str, workers: int) -> dict[int, np.ndarray]:
    """Channel-free crops of the cases ``index`` that have channels (case index -> crop),
    rendered once and kept in ``cache`` (``internal_without_channels.npz``, keyed by case id)."""
    from concurrent.futures import ProcessPoolExecutor

    path = cache / "internal_without_channels.npz"
    stored: dict[str, np.ndarray] = {}
    if path.exists():
        with np.load(path) as data:
            stored = dict(zip(data["case_ids"].tolist(), data["ct"], strict=True))
    todo = [i for i in index if str(case_ids[i]) not in stored]
    jobs = [("internal", seed, case_index(case_ids[i]), settings) for i in todo]
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for i, crop in zip(todo, pool.map(without_channels_crop, jobs, chunksize=8), strict=True):
            if crop is not None:
                stored[str(case_ids[i])] = crop
    if todo:
        ids = sorted(stored)
        np.savez(path, case_ids=np.array(ids), ct=np.stack([stored[k] for k in ids]))
    return {int(i): stored[str(case_ids[i])] for i in index if str(case_ids[i]) in stored}


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman correlation rounded to 3 places; None when either side is constant."""
    from scipy.stats import spearmanr

    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return round(float(spearmanr(x, y)[0]), 3)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("data/fusion_hr"))
    parser.add_argument("--seed", type=int, default=1000, help="the development cache's seed")
    parser.add_argument("--tests", default=DEFAULT_TESTS, help="NAME:SEED,... test caches")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--strides", default="2,2,1", help="the three stages' strides")
    parser.add_argument("--count-weight", type=float, default=0.1)
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    parser.add_argument("--paired", action="store_true",
                        help="also train on each training case rendered without its channels "
                             "(an empty map at the same anatomy; rendered once, ~9 min)")
    parser.add_argument("--twin-weight", type=float, default=0.0,
                        help="with --paired: train on twins instead (each training case beside "
                             "its channel-free render, or itself when it has none; the same "
                             "augmentation and noise), adding this weight times a loss on the "
                             "twins' soft-count difference against the true count")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    import torch
    import torch.nn.functional as F
    from sklearn.metrics import roc_auc_score

    from bcl_core.nets.fusion import DETECTOR_CHANNELS, ModalityEncoder
    from bcl_core.train.fusion import _augment
    from bcl_core.train.fusion_run import split_indices

    torch.manual_seed(0)
    torch.set_num_threads(2)
    strides = tuple(int(s) for s in args.strides.split(","))
    cell = int(np.prod(strides))
    per_channel = CELLS_PER_CHANNEL_AT_4 * 4 / cell
    development = np.load(args.cache / "internal.npz")
    if "maps" not in development.files or len(development["maps"].shape) != 5 or \
            development["maps"].shape[1] <= FEATURE_MAP_NAMES.index("vein_channels"):
        raise SystemExit(f"{args.cache / 'internal.npz'} has no venous-channel maps.")
    ct = development["ct"]
    maps = development["maps"][:, FEATURE_MAP_NAMES.index("vein_channels")]
    counts = true_counts(development["case_ids"], "internal", args.seed)
    train, validation = split_indices(len(ct), args.validation_fraction, args.seed)
    sets = {"train": (ct[train[:300]], counts[train[:300]]),
            "validation": (ct[validation], counts[validation])}
    for item in args.tests.split(","):
        name, seed = item.split(":")
        cache = np.load(args.cache / f"{name}.npz")
        sets[name] = (cache["ct"], true_counts(cache["case_ids"], name, int(seed)))

    if args.twin_weight > 0 and not args.paired:
        parser.error("--twin-weight needs --paired")
    twins: np.ndarray | None = None
    if args.paired:
        rendered = paired_negatives(args.cache, development["case_ids"], train, args.seed,
                                    str(development["settings"]), args.workers)
        negatives = np.stack([rendered[i] for i in sorted(rendered)])
        if args.twin_weight > 0:
            twins = np.full(len(ct), -1)  # case -> its channel-free twin's row in twin_ct
            twin_ct = np.concatenate([ct, negatives])
            twins[sorted(rendered)] = np.arange(len(ct), len(twin_ct))
            twins[twins < 0] = np.flatnonzero(twins < 0)  # no channels: the case itself
    if args.paired and twins is None:
        first = len(ct)
        ct = np.concatenate([ct, negatives])
        maps = np.concatenate([maps, np.zeros((len(negatives), *maps.shape[1:]), maps.dtype)])
        counts = np.concatenate([counts, np.zeros(len(negatives), counts.dtype)])
        train = np.concatenate([train, np.arange(first, len(ct))])
        print(json.dumps({"paired_negatives": len(negatives)}), flush=True)

    encoder = ModalityEncoder(DETECTOR_CHANNELS, strides)
    head = torch.nn.Conv3d(encoder.out_channels, 1, kernel_size=1)
    torch.nn.init.constant_(head.bias, -4.6)  # a 1 % prior per cell: counts start near 0
    model = torch.nn.Sequential(encoder, head)
    optimiser = torch.optim.AdamW(model.parameters(), 2e-3, weight_decay=1e-4)
    batch = 8 if twins is not None else 16  # twins: 16 crops per step either way
    steps = int(np.ceil(len(train) / batch))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, 2e-3,
                                                    total_steps=args.epochs * steps)
    generator = torch.Generator().manual_seed(0)

    def probabilities(images: np.ndarray) -> np.ndarray:
        """``(N, cells)`` cell probabilities of the detector in eval mode."""
        model.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(images), 32):
                x = torch.from_numpy(images[start:start + 32].astype(np.float32)).unsqueeze(1)
                out.append(torch.sigmoid(model(x)).flatten(1).numpy())
        model.train()
        return np.concatenate(out)

    def cells_of(index: np.ndarray) -> np.ndarray:
        """``(N, cells)`` 0/1: the cells each case's channel map marks."""
        return F.max_pool3d(torch.from_numpy(maps[index].astype(np.float32)).unsqueeze(1),
                            cell).flatten(1).numpy()

    val_cells = cells_of(validation)
    # Where channels can be: each cell's frequency over the training cases, the same for every
    # case. A detector that only learned this prior would score this cell AUROC.
    prior = cells_of(train).mean(axis=0)
    prior_auroc = float(roc_auc_score(val_cells.ravel() > 0, np.tile(prior, len(validation))))

    def single_loss(x: torch.Tensor, y: torch.Tensor, count: np.ndarray) -> torch.Tensor:
        """Map loss of augmented crops, plus the weighted soft-count loss when asked."""
        x, y = _augment(x, generator, 3, 4, noise_sd=0.01, along=y)
        logits = model(x)
        loss = F.binary_cross_entropy_with_logits(logits, F.max_pool3d(y, cell),
                                                  pos_weight=torch.tensor(20.0))
        if args.count_weight > 0:
            soft = torch.sigmoid(logits).sum(dim=(1, 2, 3, 4)) / per_channel
            loss = loss + args.count_weight * F.smooth_l1_loss(
                soft, torch.from_numpy(count.astype(np.float32)))
        return loss

    def twin_loss(with_: torch.Tensor, without: torch.Tensor, y: torch.Tensor,
                  count: np.ndarray) -> torch.Tensor:
        """Map losses of both twins (the channel-free one has an empty map) plus the weighted
        loss of their soft-count difference against the true count. Both twins get the same
        augmentation and the same noise: independent noise would swamp their difference."""
        pair, y = _augment(torch.cat([with_, without], dim=1), generator, 3, 4, along=y)
        pair = pair + 0.01 * torch.randn(with_.shape, generator=generator)
        target, weight = F.max_pool3d(y, cell), torch.tensor(20.0)
        logits_with, logits_without = model(pair[:, :1]), model(pair[:, 1:])
        difference = (torch.sigmoid(logits_with).sum(dim=(1, 2, 3, 4))
                      - torch.sigmoid(logits_without).sum(dim=(1, 2, 3, 4))) / per_channel
        return (F.binary_cross_entropy_with_logits(logits_with, target, pos_weight=weight)
                + F.binary_cross_entropy_with_logits(logits_without, torch.zeros_like(target),
                                                     pos_weight=weight)
                + args.twin_weight * F.smooth_l1_loss(
                    difference, torch.from_numpy(count.astype(np.float32))))

    start_time = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        order = train[torch.randperm(len(train), generator=generator).numpy()]
        losses = []
        for step in range(steps):
            idx = np.sort(order[step * batch:(step + 1) * batch])
            x = torch.from_numpy(ct[idx].astype(np.float32)).unsqueeze(1)
            y = torch.from_numpy(maps[idx].astype(np.float32)).unsqueeze(1)
            if twins is not None:
                loss = twin_loss(x, torch.from_numpy(twin_ct[twins[idx]].astype(np.float32))
                                 .unsqueeze(1), y, counts[idx])
            else:
                loss = single_loss(x, y, counts[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            losses.append(loss.item())
        row: dict[str, object] = {"epoch": epoch, "loss": round(float(np.mean(losses)), 4),
                                  "seconds": round(time.perf_counter() - start_time)}
        for name, (images, truth) in sets.items():
            cells = probabilities(images)
            soft, above = cells.sum(axis=1) / per_channel, (cells > 0.5).sum(axis=1)
            row[name] = {"count_spearman": spearman(soft, truth),
                         "cells_above_half_spearman": spearman(above, truth),
                         "presence_auroc": round(float(roc_auc_score(truth > 0, soft)), 3),
                         "peak_presence_auroc": round(float(roc_auc_score(truth > 0,
                                                                          cells.max(axis=1))), 3)}
            if name == "validation":
                row[name]["cell_auroc"] = round(float(roc_auc_score(val_cells.ravel() > 0,
                                                                    cells.ravel())), 3)
                row[name]["prior_only_cell_auroc"] = round(prior_auroc, 3)
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
