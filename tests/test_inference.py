"""ONNX Runtime layer and model sidecars (bcl_core.predict.runtime, bcl_core.predict.sidecar)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from bcl_core.errors import ModelError
from bcl_core.predict.runtime import OnnxModel, clear_model_cache, load_model, sha256_file
from bcl_core.predict.sidecar import load_sidecar, write_sidecar
from bcl_core.train.toy import write_band_model


@pytest.fixture()
def band_sidecar(tmp_path: Path) -> Path:
    clear_model_cache()
    return write_band_model(tmp_path, size=16)


def _edit(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_run_matches_the_band_formula(band_sidecar: Path) -> None:
    model = OnnxModel(load_sidecar(band_sidecar), provider="cpu")
    image = np.random.default_rng(0).uniform(0, 1, (2, 2, 16, 16, 16)).astype(np.float32)
    logits = model.run({"image": image})["logits"]
    expected = 40.0 * (0.15 - np.abs(image[:, :1] - 0.5))  # the graph's definition
    assert logits.shape == (2, 1, 16, 16, 16)
    np.testing.assert_allclose(logits, expected, atol=1e-5)


def test_cpu_forced_reports_cpu_in_plain_words(band_sidecar: Path) -> None:
    model = OnnxModel(load_sidecar(band_sidecar), provider="cpu")
    assert model.provider == "CPU"
    assert model.provider_description == "ONNX Runtime on the CPU"


def test_auto_provider_matches_the_session_actually_made(band_sidecar: Path) -> None:
    model = OnnxModel(load_sidecar(band_sidecar), provider="auto")
    actual = model._session.get_providers()[0]
    assert model.provider == ("CUDA" if actual == "CUDAExecutionProvider" else "CPU")


def test_demanding_cuda_without_a_working_gpu_is_a_clear_error(band_sidecar: Path) -> None:
    auto = OnnxModel(load_sidecar(band_sidecar), provider="auto")
    if auto.provider == "CUDA":
        pytest.skip("a working GPU is present")
    with pytest.raises(ModelError, match="CUDA provider was requested"):
        OnnxModel(load_sidecar(band_sidecar), provider="cuda")


def test_unknown_provider_is_refused(band_sidecar: Path) -> None:
    with pytest.raises(ModelError, match="auto, cpu or cuda"):
        OnnxModel(load_sidecar(band_sidecar), provider="tpu")


def test_sha256_mismatch_is_refused(band_sidecar: Path) -> None:
    _edit(band_sidecar, sha256="0" * 64)
    with pytest.raises(ModelError, match="does not match its sidecar"):
        OnnxModel(load_sidecar(band_sidecar))


def test_changed_model_file_is_refused(band_sidecar: Path) -> None:
    onnx_path = band_sidecar.with_suffix(".onnx")
    onnx_path.write_bytes(onnx_path.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="does not match its sidecar"):
        load_model(band_sidecar)


def test_missing_model_file_is_refused(band_sidecar: Path) -> None:
    band_sidecar.with_suffix(".onnx").unlink()
    with pytest.raises(ModelError, match="is missing"):
        load_model(band_sidecar)


def test_missing_sidecar_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="sidecar not found"):
        load_model(tmp_path / "nothing.json")


def test_output_names_must_match_the_graph(band_sidecar: Path) -> None:
    _edit(band_sidecar, output_names=["probabilities"])
    with pytest.raises(ModelError, match="re-export"):
        load_model(band_sidecar)


def test_sha256_file_matches_hashlib_on_known_bytes(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc")
    # FIPS 180-2 test vector for "abc".
    assert sha256_file(path) == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_load_model_is_cached_and_shared_across_threads(band_sidecar: Path) -> None:
    got: list[OnnxModel] = []
    threads = [threading.Thread(target=lambda: got.append(load_model(band_sidecar)))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(m) for m in got}) == 1


def test_concurrent_runs_give_the_serial_results(band_sidecar: Path) -> None:
    model = load_model(band_sidecar)
    rng = np.random.default_rng(1)
    images = [rng.uniform(0, 1, (1, 2, 16, 16, 16)).astype(np.float32) for _ in range(8)]
    serial = [model.run({"image": im})["logits"] for im in images]
    parallel: dict[int, np.ndarray] = {}

    def work(index: int) -> None:
        for _ in range(5):
            parallel[index] = model.run({"image": images[index]})["logits"]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, expected in enumerate(serial):
        np.testing.assert_array_equal(parallel[index], expected)


def test_bad_input_shape_is_a_model_error(band_sidecar: Path) -> None:
    model = load_model(band_sidecar)
    with pytest.raises(ModelError, match="could not run"):
        model.run({"image": np.zeros((1, 2, 8, 8), np.float32)})
    with pytest.raises(ModelError, match="Missing model inputs"):
        model.run({})


def test_provider_probe_is_quiet_and_torch_free(band_sidecar: Path) -> None:
    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "import bcl_core.predict.runtime as inf, bcl_core.predict.segment, bcl_core.predict.roi, bcl_core.predict.preprocess\n"
        "import bcl_core.predict.sidecar, bcl_core.commands.segment, bcl_core.train.cases\n"
        f"m = inf.load_model({str(band_sidecar)!r}, provider='auto')\n"
        "assert 'torch' not in sys.modules, 'torch imported on the inference path'\n"
        "print(m.provider)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "[E:onnxruntime" not in result.stderr and "[W:onnxruntime" not in result.stderr
    log_lines = [line for line in result.stderr.splitlines() if "bcl_core.predict.runtime" in line]
    assert len(log_lines) == 1 and ("CPU" in log_lines[0] or "CUDA" in log_lines[0])


# --- sidecar -------------------------------------------------------------------------------
def test_sidecar_round_trip_keeps_every_setting(band_sidecar: Path) -> None:
    sidecar = load_sidecar(band_sidecar.with_suffix(".onnx"))
    assert sidecar.input.spacing_mm == (2.0, 2.0, 2.0)
    assert sidecar.input.size_ijk == (16, 16, 16)
    assert sidecar.input.offset_mm == (0.0, 12.0, 0.0)
    assert sidecar.input.normalisation.kind == "window"
    assert sidecar.threshold("mask") == 0.5
    assert sidecar.require_segmentation().min_volume_ml == 10.0
    assert sidecar.classifier is None  # a segmentation model has no classifier settings
    assert sidecar.onnx_path == band_sidecar.with_suffix(".onnx").resolve()


@pytest.mark.parametrize(("change", "message"), [
    ({"sha256": None}, "'sha256' should be str"),
    ({"schema_version": 7}, "schema_version"),
    ({"thresholds": []}, "'thresholds' should be dict"),
])
def test_sidecar_validation_names_the_problem(band_sidecar: Path, change: dict[str, object],
                                              message: str) -> None:
    _edit(band_sidecar, **change)
    with pytest.raises(ModelError, match=message):
        load_sidecar(band_sidecar)


def test_sidecar_missing_key_and_bad_normalisation(band_sidecar: Path) -> None:
    data = json.loads(band_sidecar.read_text())
    del data["version"]
    band_sidecar.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="missing key 'version'"):
        load_sidecar(band_sidecar)
    data["version"] = "x"
    data["inputs"]["image"]["normalisation"] = {"kind": "window", "low": 5, "high": 5}
    with pytest.raises(ModelError, match="high > low"):
        write_sidecar(data, band_sidecar)


def test_sidecar_not_json_and_unknown_threshold(band_sidecar: Path) -> None:
    sidecar = load_sidecar(band_sidecar)
    with pytest.raises(ModelError, match="no threshold 'type4'"):
        sidecar.threshold("type4")
    band_sidecar.write_text("{not json")
    with pytest.raises(ModelError, match="not readable JSON"):
        load_sidecar(band_sidecar)
