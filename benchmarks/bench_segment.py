"""Segmentation speed: seconds per vertebra (ONNX Runtime CPU) and ORT vs PyTorch eager.

Usage (figures quoted in docs/segmentation.md came from exactly this)::

    bcl synth --out data/bench_full --cases 1 --site internal --seed 3      # full-size series
    python benchmarks/bench_segment.py --data data/bench_full

Per modality: the series is loaded first (not timed); then ``segment_vertebra`` (patch
extraction, ONNX Runtime, resampling back onto the full-size grid) is timed ``--repeats`` times
after one warm-up call. Then the same model input is run through the ONNX session and through
the PyTorch checkpoint (eager, ``torch.set_num_threads(--threads)``), each ``--repeats`` times;
the ratio of medians is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("BCL_ORT_PROVIDER", "cpu")

from bcl_core.predict.preprocess import extract_patch, model_input  # noqa: E402
from bcl_core.predict.runtime import load_model  # noqa: E402
from bcl_core.predict.segment import segment_vertebra  # noqa: E402
from bcl_core.train.cases import case_dirs, load_seg_case  # noqa: E402


def timed(function, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def torch_eager(checkpoint: Path, threads: int):
    import torch

    from bcl_core.nets.seg_unet import build_seg_unet

    torch.set_num_threads(threads)
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    net = build_seg_unet(state["architecture"])
    net.load_state_dict(state["state_dict"])
    net.eval()

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(batch)).numpy()

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="bcl synth folder (full-size)")
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--modality", nargs="+", default=["ct", "mr"], choices=("ct", "mr"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    folder = case_dirs(args.data)[0]
    results = {}
    for modality in args.modality:
        case = load_seg_case(folder, modality)
        model = load_model(args.models / f"seg_{modality}.json")
        segment_vertebra(case.image, case.point_mm, model)  # warm-up
        step = timed(lambda c=case, m=model: segment_vertebra(c.image, c.point_mm, m),
                     args.repeats)
        spec, settings = model.sidecar.input, model.sidecar.require_segmentation()
        patch = extract_patch(case.image, case.point_mm, spec)
        batch = model_input(patch, case.point_mm, spec, settings.guidance_sigma_mm)
        ort_times = timed(lambda b=batch, m=model, n=spec.name: m.run({n: b}), args.repeats)
        eager = torch_eager(args.models / f"seg_{modality}.pt", args.threads)
        eager(batch)  # warm-up
        torch_times = timed(lambda b=batch, f=eager: f(b), args.repeats)
        results[modality] = {
            "series_size_ijk": case.image.size_ijk, "series_spacing_mm": case.image.spacing,
            "provider": model.provider_description,
            "segment_seconds_median": float(np.median(step)),
            "segment_seconds_max": float(np.max(step)),
            "ort_forward_seconds_median": float(np.median(ort_times)),
            "torch_eager_forward_seconds_median": float(np.median(torch_times)),
            "torch_over_ort_ratio": float(np.median(torch_times) / np.median(ort_times)),
        }
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
