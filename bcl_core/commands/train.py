"""``bcl train TARGET ...``: train the shipped models (one subparser per target).

``bcl train seg --modality {ct,mr} --data DIR --out models/``. A new target (e.g. ``fusion``)
adds its own ``_register_<target>`` function to :data:`TARGETS`. torch is imported only when a
training actually runs, so ``bcl --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from bcl_core.commands import command_help
from bcl_core.commands.arg_types import positive_mm, probability
from bcl_core.commands.train_fusion import register_card, register_fusion, register_fusion_export


def _register_seg(targets: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = targets.add_parser(
        "seg", help="click-guided vertebra segmentation (CT or MRI)",
        description="Train the click-guided vertebra segmentation model on a `bcl synth` folder; "
                    "writes <name>.pt, .onnx, .json (sidecar) and .metrics.json to --out.")
    parser.add_argument("--modality", required=True, choices=("ct", "mr"))
    parser.add_argument("--data", required=True, type=Path, help="`bcl synth` output folder")
    parser.add_argument("--out", required=True, type=Path, help="output folder (e.g. models/)")
    parser.add_argument("--steps", type=int, default=4000,
                        help="most optimiser steps (default 4000; the time limit usually ends "
                             "training first on a shared 2-core machine)")
    parser.add_argument("--schedule-by-steps", action="store_true",
                        help="learning-rate schedule by steps only (bit-for-bit replay of a run "
                             "with the same --steps); default: by steps or time, whichever is "
                             "further along")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="peak (AdamW)")
    parser.add_argument("--init", type=Path, default=None, metavar="CHECKPOINT",
                        help="start from this .pt checkpoint (a second training leg)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-cases", type=int, default=None, help="use the first N cases")
    parser.add_argument("--time-limit-min", type=float, default=38.0,
                        help="stop early (keeping the best weights) after this many minutes")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--channels", type=_channels, default=None, metavar="C1,C2,...",
                        help="U-Net channels per level, e.g. 16,32,64,128 (default: the "
                             "shipped architecture's)")
    parser.add_argument("--patch-spacing-mm", type=positive_mm, default=None,
                        help="isotropic patch spacing (default: the modality's, CT 1.5, MRI 2)")
    parser.add_argument("--patch-size", type=_ints3, default=None, metavar="I,J,K",
                        help="patch size in voxels, each a multiple of 8 (default: the "
                             "modality's, CT 72,64,56, MRI 56,48,40)")
    parser.add_argument("--thick-slice-p", type=probability, default=None, metavar="P",
                        help="share of training patches re-acquired through simulated thick "
                             "slices (2-5 mm) instead of a Gaussian slice blur (default: the "
                             "modality's, CT 0.5, MRI 0)")
    parser.add_argument("--binary-targets", action="store_true",
                        help="train on the mask thresholded on the patch grid instead of its "
                             "partial-volume fraction (the recipe before 2026-11-26's third "
                             "session; kept for comparison)")
    parser.set_defaults(func=_run_seg)


def _comma_ints(text: str, example: str) -> list[int]:
    """Integers separated by commas, or an argparse error that shows ``example``."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas such as "
                                         f"{example}, got {text!r}") from None


def _channels(text: str) -> list[int]:
    """Parse ``16,32,64`` into channel counts (argparse type: a clear error otherwise)."""
    values = _comma_ints(text, "16,32,64,128")
    if len(values) < 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"need two or more positive channel counts, got {text!r}")
    return values


def _ints3(text: str) -> tuple[int, int, int]:
    """Parse ``64,56,48`` (argparse type: a clear error otherwise)."""
    values = _comma_ints(text, "64,56,48")
    if len(values) != 3 or min(values) < 8 or any(v % 8 for v in values):
        raise argparse.ArgumentTypeError(f"expected three multiples of 8, got {text!r}")
    return (values[0], values[1], values[2])


def _run_seg(args: argparse.Namespace) -> int:
    from bcl_core.train.augment import AugmentConfig
    from bcl_core.train.seg_dataset import SamplingConfig
    from bcl_core.train.seg_train import SegTrainConfig, train_segmentation

    config = SegTrainConfig(
        modality=args.modality, data_dir=args.data, out_dir=args.out, steps=args.steps,
        batch_size=args.batch_size, learning_rate=args.learning_rate, seed=args.seed,
        max_cases=args.max_cases, init_checkpoint=args.init,
        time_limit_min=args.time_limit_min, threads=args.threads,
        schedule_by_time=not args.schedule_by_steps,
        sampling=SamplingConfig(soft_targets=not args.binary_targets),
        augment=None if args.thick_slice_p is None else AugmentConfig(
            thick_slice_p=args.thick_slice_p),
        spacing_mm=(args.patch_spacing_mm,) * 3 if args.patch_spacing_mm else None,
        size_ijk=args.patch_size,
        architecture={"channels": args.channels, "strides": [2] * (len(args.channels) - 1)}
        if args.channels else {})
    metrics = train_segmentation(config)
    summary = {key: metrics[key] for key in ("val_dice_best", "steps_done", "train_seconds",
                                             "n_train_cases", "n_val_cases", "parity_random")}
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


#: One registration function per training target.
TARGETS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (  # type: ignore[type-arg]
    _register_seg,
    register_fusion,
    register_fusion_export,
    register_card,
)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``train`` subcommand and its targets."""
    parser = subparsers.add_parser("train", help=command_help("train"))
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    for register_target in TARGETS:
        register_target(targets)
