"""Speed and memory of one prediction on a full-size internal-profile case (CPU provider).

Measures, on a case written by ``bcl synth`` (no ``--compact``: 512x512 CT as a scanner writes it):

* loading both series (reported separately, as the issue asks);
* segmentation CT + MR, ROI, classification and Grad-CAM back-projection: one
  ``predict_case`` call after loading (median of ``--repeats`` runs, per stage);
* peak resident memory of a separate ``bcl predict`` process (``/proc`` high-water mark via
  ``resource.getrusage`` of the child).

Usage::

    python benchmarks/bench_predict.py [--case DIR] [--repeats 5] [--untrained-fusion]

``--untrained-fusion`` times the real fusion architecture with random weights (exported with the
shipped input settings beside copies of the shipped segmentation models) when no trained fusion
model is installed: the time does not depend on the weights, the probabilities mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _case(path: Path | None) -> Path:
    if path is not None:
        return path
    from bcl_core.phantom.writer import write_case

    out = Path(tempfile.mkdtemp(prefix="bcl_bench_"))
    row = write_case(out, "internal", 1234, 0, compact=False)
    return out / str(row["case_id"])


def _untrained_model_dir() -> Path:
    import shutil

    import numpy as np

    from bcl_core.leakage import HEAD_NAMES
    from bcl_core.nets.fusion import FusionNet
    from bcl_core.predict.runtime import default_model_dir, sha256_file
    from bcl_core.predict.sidecar import write_sidecar
    from bcl_core.train.fusion import export_fusion_onnx
    from bcl_core.train.fusion_inputs import FUSION_INPUT_SETTINGS

    folder = Path(tempfile.mkdtemp(prefix="bcl_models_"))
    for name in ("seg_ct", "seg_mr"):
        for suffix in (".onnx", ".json"):
            shutil.copy(default_model_dir() / f"{name}{suffix}", folder)
    ones, zeros = np.ones(len(HEAD_NAMES)), np.zeros(len(HEAD_NAMES))
    size = FUSION_INPUT_SETTINGS["inputs"]["ct"]["size_ijk"][::-1]
    onnx_path = export_fusion_onnx(FusionNet().eval(), ones, zeros, size, folder / "fusion.onnx")
    write_sidecar({"name": "fusion", "task": "classification", "version": "untrained-benchmark",
                   "onnx_file": onnx_path.name, "sha256": sha256_file(onnx_path),
                   "output_names": ["probabilities", "logits", "cam_ct", "cam_mr"],
                   "thresholds": {name: 0.5 for name in HEAD_NAMES},
                   **FUSION_INPUT_SETTINGS}, folder / "fusion.json")
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=None, help="case folder (default: new one)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--untrained-fusion", action="store_true",
                        help="time the fusion architecture with random weights")
    args = parser.parse_args()
    os.environ.setdefault("BCL_ORT_PROVIDER", "cpu")
    if args.untrained_fusion:
        os.environ["BCL_MODEL_DIR"] = str(_untrained_model_dir())

    from bcl_core.io.case_folder import read_truth
    from bcl_core.predict.case import load_case
    from bcl_core.predict.pipeline import PipelineModels, predict_case

    case_dir = _case(args.case)
    truth = read_truth(case_dir)
    load_times = []
    for _ in range(3):
        start = time.perf_counter()
        case = load_case(case_dir)
        load_times.append(time.perf_counter() - start)
    models = PipelineModels.load()
    predict_case(case.ct, case.mr, truth.ct_point_mm, truth.mr_point_mm, models=models)
    stage_runs: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        result = predict_case(case.ct, case.mr, truth.ct_point_mm, truth.mr_point_mm,
                              models=models)
        for stage, seconds in result.timings_s.items():
            stage_runs.setdefault(stage, []).append(seconds)

    point = ",".join(str(v) for v in truth.ct_point_mm)
    mr_point = ",".join(str(v) for v in truth.mr_point_mm)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([sys.executable, "-m", "bcl_core.cli", "predict", str(case_dir),
                    f"--ct-point={point}", f"--mr-point={mr_point}", "--json"],
                   check=True, stdout=subprocess.DEVNULL)
    peak_kib = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)

    report = {
        "case": case_dir.name,
        "ct_size_ijk": list(case.ct.size_ijk),
        "mr_size_ijk": list(case.mr.size_ijk),
        "provider": models.provider,
        "load_s_median": round(statistics.median(load_times), 3),
        "stages_s_median": {k: round(statistics.median(v), 3) for k, v in stage_runs.items()},
        "predict_after_load_s_median": round(statistics.median(stage_runs["total"]), 3),
        "bcl_predict_peak_rss_mib": round(peak_kib / 1024, 1),
        "repeats": args.repeats,
    }
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
