"""``bcl train fusion``, ``bcl train fusion-export`` and ``bcl train card`` (targets of
``bcl train``; torch imported lazily)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bcl_core.commands.arg_types import probability
from bcl_core.errors import InputError, ModelError
from bcl_core.train.feature_maps import FEATURE_MAP_NAMES, SHIPPED_FEATURE_MAPS, map_channel_index

#: Synthetic external-site seed of the crops the re-export's parity check runs on (no training
#: or test set uses it).
PARITY_SEED = 4242


def parse_synthetic_source(text: str) -> tuple[str, str, int, int]:
    """Parse ``NAME:SITE:SEED:N`` (a synthetic test set made in memory).

    Examples
    --------
    >>> parse_synthetic_source("external:external:3000:300")
    ('external', 'external', 3000, 300)
    """
    parts = text.split(":")
    try:
        name, site, seed, n = parts[0], parts[1], int(parts[2]), int(parts[3])
    except (IndexError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not NAME:SITE:SEED:N, e.g. external:external:3000:300") from None
    if len(parts) != 4 or not name or site not in ("internal", "prospective", "external") \
            or seed < 0 or n < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give NAME:SITE:SEED:N with SITE internal, prospective or external")
    return name, site, seed, n


def parse_folder_source(text: str) -> tuple[str, Path]:
    """Parse ``NAME=DIR`` (a test set folder in ``bcl synth`` layout)."""
    name, sep, folder = text.partition("=")
    if not sep or not name or not folder:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=DIR, e.g. external=data/ext")
    return name, Path(folder)


def feature_names(text: str) -> tuple[str, ...]:
    """Parse ``--feature-maps``: comma-separated mapped features, or ``none``."""
    if text.strip().lower() == "none":
        return ()
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give distinct names among {','.join(FEATURE_MAP_NAMES)}, or none")
    try:
        map_channel_index(names)
    except ModelError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return names


def register_fusion(targets: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``bcl train fusion``."""
    parser = targets.add_parser(
        "fusion", help="CT+MRI fusion classifier for leakage types I-IV (+ ablations)",
        description="Train the intermediate-fusion classifier (and the CT-only and MRI-only "
                    "ablations) on classifier crops made by the pipeline; writes fusion.onnx, "
                    "fusion.json (sidecar), fusion.pt, fusion.metrics.json and model_card.json.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="development cases (`bcl synth` layout)")
    source.add_argument("--synthetic-cases", type=int, metavar="N",
                        help="make N internal-site synthetic development cases in memory")
    parser.add_argument("--out", required=True, type=Path, help="output folder (e.g. models/)")
    parser.add_argument("--seed", type=int, default=0, help="data and training seed")
    parser.add_argument("--test", action="append", default=[], type=parse_folder_source,
                        metavar="NAME=DIR", help="test set folder (repeatable)")
    parser.add_argument("--synthetic-test", action="append", default=[],
                        type=parse_synthetic_source, metavar="NAME:SITE:SEED:N",
                        help="synthetic test set made in memory (repeatable)")
    parser.add_argument("--mask-source", choices=("model", "truth"), default="model",
                        help="masks for folder cases: the segmentation models (default) or the "
                             "truth masks beside the series")
    parser.add_argument("--cache", type=Path, default=Path("data/fusion_cache"),
                        help="crop cache folder (reused when present)")
    # Hyper-parameter defaults live in FusionTrainConfig; None keeps them.
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None, help="peak learning rate")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--aux-weight", type=float, default=None,
                        help="weight of the auxiliary latent-feature loss where the cases have "
                             "the generator's features (0: labels only)")
    parser.add_argument("--map-weight", type=float, default=None,
                        help="weight of the feature-map loss of the CT feature detector where "
                             "the cases have maps (synthetic; 0: the detector learns from "
                             "labels only)")
    parser.add_argument("--ct-thick-slice-p", type=probability, default=None, metavar="P",
                        help="share of CT training crops re-acquired through simulated thick "
                             "slices (2-5 mm; default 0)")
    parser.add_argument("--feature-maps", type=feature_names, default=None, metavar="NAMES",
                        help="comma-separated features the CT detector maps, among "
                             f"{','.join(FEATURE_MAP_NAMES)} (default: "
                             f"{','.join(SHIPPED_FEATURE_MAPS)}; 'none': no detector)")
    parser.add_argument("--detector-counts", action="store_true", default=None,
                        help="the detector also reports each map's soft count of cells")
    parser.add_argument("--no-ablations", action="store_true",
                        help="train only the fusion model")
    parser.set_defaults(func=run_fusion)


def register_fusion_export(targets: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``bcl train fusion-export``."""
    parser = targets.add_parser(
        "fusion-export", help="export fusion.onnx again from fusion.pt (no training)",
        description="Export fusion.onnx again from fusion.pt and fusion.json with the current "
                    "export wrapper (the same weights, calibration and thresholds), check it "
                    "against PyTorch on synthetic crops, and update the sidecar's checksum, "
                    "the metrics file and the model card.")
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.set_defaults(func=run_fusion_export)


def register_card(targets: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``bcl train card``."""
    parser = targets.add_parser("card", help="rebuild models/model_card.json from the sidecars")
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.set_defaults(func=run_card)


def _progress_to_stderr(text: str) -> None:
    """Show one line of training progress on the terminal."""
    sys.stderr.write(text + "\n")


def run_fusion(args: argparse.Namespace) -> int:
    """Run ``bcl train fusion``."""
    from bcl_core.predict.model_card import write_model_card
    from bcl_core.train.fusion import FusionTrainConfig
    from bcl_core.train.fusion_run import DataSource, FusionRunConfig, run_fusion_training

    if args.data is not None and not args.data.is_dir():
        raise InputError(f"{args.data} is not a folder; generate cases with `bcl synth`.")
    development = (DataSource("internal", folder=args.data, mask_source=args.mask_source)
                   if args.data is not None else
                   DataSource("internal", site="internal", seed=args.seed,
                              n_cases=args.synthetic_cases))
    tests = [DataSource(name, folder=folder, mask_source=args.mask_source)
             for name, folder in args.test]
    tests += [DataSource(name, site=site, seed=seed, n_cases=n)
              for name, site, seed, n in args.synthetic_test]
    # Only the options given override FusionTrainConfig's defaults.
    overrides: dict[str, Any] = {
        key: value for key, value in (("epochs", args.epochs),
                                      ("batch_size", args.batch_size),
                                      ("learning_rate", args.learning_rate),
                                      ("threads", args.threads),
                                      ("aux_weight", args.aux_weight),
                                      ("map_weight", args.map_weight),
                                      ("feature_maps", args.feature_maps),
                                      ("detector_counts", args.detector_counts),
                                      ("thick_slice_p", None if args.ct_thick_slice_p is None
                                       else (args.ct_thick_slice_p, 0.0)))
        if value is not None}
    config = FusionRunConfig(
        out_dir=args.out, cache_dir=args.cache, development=development, tests=tests,
        train=FusionTrainConfig(seed=args.seed, **overrides),
        ablations=not args.no_ablations)
    metrics = run_fusion_training(config, progress=_progress_to_stderr)
    write_model_card(args.out)
    sys.stdout.write(json.dumps({"export": metrics["export"],
                                 "total_seconds": metrics["total_seconds"]}) + "\n")
    return 0


def run_fusion_export(args: argparse.Namespace) -> int:
    """Run ``bcl train fusion-export``."""
    from bcl_core.predict.model_card import write_model_card
    from bcl_core.train.fusion_data import build_crop_set, phantom_jobs
    from bcl_core.train.fusion_run import reexport_fusion

    if not (args.models / "fusion.pt").is_file():
        raise InputError(f"{args.models} has no fusion.pt; train with `bcl train fusion`.")
    sample = build_crop_set(phantom_jobs("external", PARITY_SEED, 4), workers=1)
    exported = reexport_fusion(args.models, sample)
    write_model_card(args.models)
    sys.stdout.write(json.dumps(exported) + "\n")
    return 0


def run_card(args: argparse.Namespace) -> int:
    """Run ``bcl train card``."""
    from bcl_core.predict.model_card import write_model_card

    sys.stdout.write(f"{write_model_card(args.models)}\n")
    return 0
