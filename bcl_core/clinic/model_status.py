"""What the app's sidebar says about the models: installed or not, version, where they run.

:func:`model_status` loads the three models a prediction needs (fusion classifier, CT and MR
segmentation) once per models folder and process; a missing or broken model is reported in
plain words ("no trained model installed"), never raised. The execution provider is said in
plain words too: "GPU (CUDA)" or "CPU: no GPU found".
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from bcl_core.errors import ModelError
from bcl_core.predict.runtime import MODEL_DIR_ENV, PROVIDER_ENV, default_model_dir, load_model

logger = logging.getLogger(__name__)

#: Models a prediction needs, by sidecar name, with what each does.
REQUIRED_MODELS: dict[str, str] = {
    "fusion": "leakage classifier (CT + MRI)",
    "seg_ct": "vertebra segmentation on CT",
    "seg_mr": "vertebra segmentation on MRI",
}
GPU_WORDS = "GPU (CUDA)"
CPU_WORDS = "CPU: no GPU found"
CPU_FORCED_WORDS = "CPU (set by BCL_ORT_PROVIDER)"
NO_MODEL_WORDS = "no trained model installed"


@dataclass(frozen=True)
class ModelStatus:
    """The models' state as the sidebar and the consult page show it.

    Attributes
    ----------
    ready:
        All required models load; a prediction can run.
    version:
        The fusion model's version, or :data:`NO_MODEL_WORDS`.
    provider:
        Plain words: :data:`GPU_WORDS`, :data:`CPU_WORDS` or :data:`CPU_FORCED_WORDS`.
    problems:
        One sentence per missing or broken model (empty when ready).
    model_dir:
        The folder searched.
    """

    ready: bool
    version: str
    provider: str
    problems: tuple[str, ...]
    model_dir: str

    @property
    def headline(self) -> str:
        """One line for the sidebar, e.g. ``'Model toy-1 on GPU (CUDA)'``."""
        if not self.ready:
            return f"Model: {NO_MODEL_WORDS}"
        return f"Model {self.version}"


def provider_words(provider: str) -> str:
    """Plain words for an :class:`~bcl_core.predict.runtime.OnnxModel` provider (``CUDA``/``CPU``).

    Examples
    --------
    >>> provider_words("CUDA")
    'GPU (CUDA)'
    """
    if provider == "CUDA":
        return GPU_WORDS
    if os.environ.get(PROVIDER_ENV, "auto").lower() == "cpu":
        return CPU_FORCED_WORDS
    return CPU_WORDS


def probe_provider() -> str:
    """Where ONNX Runtime would run a model here, found by running a one-node graph.

    onnxruntime-gpu lists the CUDA provider even without a GPU, so a session is made and the
    provider it really got is read back.
    """
    import onnxruntime as ort
    from onnx import TensorProto, helper

    if os.environ.get(PROVIDER_ENV, "auto").lower() == "cpu":
        return CPU_FORCED_WORDS
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return CPU_WORDS
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    options = ort.SessionOptions()
    options.log_severity_level = 4
    ort.set_default_logger_severity(4)  # hide the provider-bridge error spam of a failed probe
    try:
        session = ort.InferenceSession(model.SerializeToString(), sess_options=options,
                                       providers=["CUDAExecutionProvider",
                                                  "CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - a failed probe means no usable GPU
        logger.info("CUDA probe failed; the CPU will be used")
        return CPU_WORDS
    finally:
        ort.set_default_logger_severity(2)
    return GPU_WORDS if session.get_providers()[0] == "CUDAExecutionProvider" else CPU_WORDS


@functools.lru_cache(maxsize=8)
def _status_for(model_dir: str, provider_setting: str) -> ModelStatus:
    problems: list[str] = []
    fusion_version = NO_MODEL_WORDS
    provider = None
    for name, role in REQUIRED_MODELS.items():
        try:
            model = load_model(Path(model_dir) / f"{name}.json")
        except ModelError as exc:
            problems.append(f"{role}: {exc}")
            continue
        if name == "fusion":
            fusion_version = model.version
            provider = provider_words(model.provider)
    ready = not problems
    if problems:
        logger.info("%d of %d models unavailable", len(problems), len(REQUIRED_MODELS))
    return ModelStatus(ready=ready, version=fusion_version if ready else NO_MODEL_WORDS,
                       provider=provider or probe_provider(), problems=tuple(problems),
                       model_dir=model_dir)


def model_status(model_dir: str | Path | None = None) -> ModelStatus:
    """The models' state, computed once per models folder (``$BCL_MODEL_DIR``) and process.

    Parameters
    ----------
    model_dir:
        Folder to check; defaults to :func:`bcl_core.predict.runtime.default_model_dir`.
    """
    folder = Path(model_dir) if model_dir is not None else default_model_dir()
    return _status_for(str(folder.resolve()), os.environ.get(PROVIDER_ENV, "auto").lower())


def clear_status_cache() -> None:
    """Forget computed statuses (tests, or after models were installed)."""
    _status_for.cache_clear()


__all__ = ["MODEL_DIR_ENV", "ModelStatus", "clear_status_cache", "model_status", "probe_provider",
           "provider_words"]
