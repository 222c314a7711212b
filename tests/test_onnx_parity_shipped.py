"""ONNX Runtime vs PyTorch on the shipped checkpoints, with real (generated) model inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_synth_cases

from bcl_core.nets.seg_unet import build_seg_unet
from bcl_core.predict.preprocess import extract_patch, model_input
from bcl_core.predict.runtime import load_model
from bcl_core.train.cases import case_dirs, load_seg_case

MODELS = Path(__file__).resolve().parent.parent / "models"

pytestmark = pytest.mark.skipif(not (MODELS / "seg_ct.pt").is_file()
                                or not (MODELS / "seg_mr.pt").is_file(),
                                reason="shipped segmentation checkpoints not present")


@pytest.fixture(scope="module")
def cases_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synth_cases(tmp_path_factory, "prospective", 99)


@pytest.mark.parametrize("modality", ["ct", "mr"])
def test_shipped_onnx_matches_its_checkpoint(cases_dir: Path, modality: str) -> None:
    model = load_model(MODELS / f"seg_{modality}.json", provider="cpu")
    spec, settings = model.sidecar.input, model.sidecar.require_segmentation()
    state = torch.load(MODELS / f"seg_{modality}.pt", map_location="cpu", weights_only=False)
    net = build_seg_unet(state["architecture"])
    net.load_state_dict(state["state_dict"])
    net.eval()
    batches = []
    for folder in case_dirs(cases_dir):
        case = load_seg_case(folder, modality)
        patch = extract_patch(case.image, case.point_mm, spec)
        batches.append(model_input(patch, case.point_mm, spec, settings.guidance_sigma_mm))
    rng = np.random.default_rng(5)
    batches.append(rng.uniform(0, 1, batches[0].shape).astype(np.float32))  # fresh random
    for batch in batches:
        got = model.run({spec.name: batch})[model.sidecar.output_names[0]]
        with torch.no_grad():
            expected = net(torch.from_numpy(batch)).numpy()
        assert float(np.abs(got - expected).max()) <= 1e-4 * max(1.0, float(np.abs(expected).max()))
        a, b = expected > 0, got > 0
        assert 2 * (a & b).sum() / max(1, a.sum() + b.sum()) >= 0.999
