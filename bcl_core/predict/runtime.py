"""ONNX Runtime sessions built from model sidecars (no torch on this path).

* The ONNX file's sha256 is checked against the sidecar before a session is made, so a model
  and its settings cannot drift apart silently.
* The CUDA provider is used only when a session really runs on it: onnxruntime-gpu lists
  ``CUDAExecutionProvider`` even on machines without a GPU or CUDA libraries, so the providers a
  session actually got are checked after it is made. The provider in use is reported in plain
  words (:attr:`OnnxModel.provider_description`), because a silent CPU fallback is a known trap.
* ONNX Runtime's own failure logs while probing CUDA are silenced; one log line says what
  happened.
* An :class:`OnnxModel` is safe to share between threads (``InferenceSession.run`` is
  thread-safe); :func:`load_model` caches one per sidecar path behind a lock.

Set ``BCL_ORT_PROVIDER=cpu`` to force the CPU provider (benchmarks, reproducibility).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bcl_core.errors import ModelError
from bcl_core.predict.sidecar import Sidecar, load_sidecar

logger = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
#: Environment variable that forces a provider: ``cpu`` or ``cuda`` (``auto`` by default).
PROVIDER_ENV = "BCL_ORT_PROVIDER"
#: Environment variable naming the models folder (defaults to the repository's ``models/``).
MODEL_DIR_ENV = "BCL_MODEL_DIR"
_ORT_SILENT = 4  # ONNX Runtime severity "fatal": hides the provider-bridge error spam
_ORT_WARNING = 2

_cache: dict[tuple[Path, str], OnnxModel] = {}
_cache_lock = threading.Lock()
_create_lock = threading.Lock()


def sha256_file(path: str | Path) -> str:
    """Hex sha256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_model_dir() -> Path:
    """The models folder: ``$BCL_MODEL_DIR`` or the repository's ``models/``."""
    configured = os.environ.get(MODEL_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "models"  # bcl_core/predict/ -> repository


def _wanted_providers(preference: str) -> list[str]:
    import onnxruntime as ort

    choice = preference.lower()
    if choice not in {"auto", "cpu", "cuda"}:
        raise ModelError(f"Unknown provider preference {preference!r}; use auto, cpu or cuda.")
    if choice == "cpu" or CUDA not in ort.get_available_providers():
        return [CPU]
    return [CUDA, CPU]


class OnnxModel:
    """An ONNX Runtime session plus the sidecar that says how to feed it.

    Parameters
    ----------
    sidecar:
        Validated settings of the model.
    provider:
        ``"auto"`` (CUDA when it really works, else CPU), ``"cpu"`` or ``"cuda"``. Defaults to
        ``$BCL_ORT_PROVIDER`` or ``"auto"``.

    Raises
    ------
    ModelError
        If the ONNX file is missing, its sha256 differs from the sidecar's, it cannot be loaded,
        its input/output names differ from the sidecar's, or ``cuda`` was demanded and does not
        work.
    """

    def __init__(self, sidecar: Sidecar, provider: str | None = None) -> None:
        import onnxruntime as ort

        self.sidecar = sidecar
        onnx_path = sidecar.onnx_path
        if not onnx_path.is_file():
            raise ModelError(f"Model file {onnx_path} named by {sidecar.path.name} is missing; "
                             "restore the models/ folder or retrain.")
        actual = sha256_file(onnx_path)
        if actual != sidecar.sha256:
            raise ModelError(f"{onnx_path.name} does not match its sidecar (sha256 {actual[:12]}... "
                             f"!= {sidecar.sha256[:12]}...); the model file was changed or "
                             "belongs to another training run. Restore both files together.")
        preference = provider or os.environ.get(PROVIDER_ENV, "auto")
        wanted = _wanted_providers(preference)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        with _create_lock:
            ort.set_default_logger_severity(_ORT_SILENT)
            try:
                session = ort.InferenceSession(str(onnx_path), sess_options=options,
                                               providers=wanted)
            except Exception as exc:  # noqa: BLE001 - ORT raises bare RuntimeError subclasses
                raise ModelError(f"ONNX Runtime cannot load {onnx_path.name}: {exc}") from exc
            finally:
                ort.set_default_logger_severity(_ORT_WARNING)
        self._session = session
        active = session.get_providers()
        self.provider = "CUDA" if active and active[0] == CUDA else "CPU"
        if preference.lower() == "cuda" and self.provider != "CUDA":
            raise ModelError("The CUDA provider was requested but does not work here (no usable "
                             "GPU or CUDA libraries); unset BCL_ORT_PROVIDER to run on the CPU.")
        self._check_names()
        if CUDA in wanted and self.provider == "CPU":
            logger.info("%s: CUDA provider unavailable (no usable GPU/CUDA libraries); running on "
                        "the CPU", sidecar.name)
        else:
            logger.info("%s: running on the %s", sidecar.name, self.provider)

    def _check_names(self) -> None:
        inputs = tuple(node.name for node in self._session.get_inputs())
        outputs = tuple(node.name for node in self._session.get_outputs())
        if inputs != self.sidecar.input_names or outputs != self.sidecar.output_names:
            raise ModelError(f"{self.sidecar.onnx_path.name} has inputs {inputs} and outputs "
                             f"{outputs}, its sidecar says {self.sidecar.input_names} and "
                             f"{self.sidecar.output_names}; re-export the model.")

    @property
    def provider_description(self) -> str:
        """Plain words for the user: where the model runs."""
        if self.provider == "CUDA":
            return "ONNX Runtime on the GPU (CUDA)"
        return "ONNX Runtime on the CPU"

    @property
    def version(self) -> str:
        """The model version from the sidecar."""
        return self.sidecar.version

    def run(self, inputs: dict[str, NDArray[Any]]) -> dict[str, NDArray[np.float32]]:
        """Run the model; inputs by name (float32), outputs by the sidecar's output names.

        Raises
        ------
        ModelError
            If inputs are missing or ONNX Runtime rejects them (shape, dtype).
        """
        missing = set(self.sidecar.input_names) - set(inputs)
        if missing:
            raise ModelError(f"Missing model inputs {sorted(missing)} for {self.sidecar.name}.")
        feed = {name: np.ascontiguousarray(inputs[name], dtype=np.float32)
                for name in self.sidecar.input_names}
        try:
            values = self._session.run(list(self.sidecar.output_names), feed)
        except Exception as exc:  # noqa: BLE001 - ORT raises its own exception family
            raise ModelError(f"{self.sidecar.name} could not run on this input: {exc}") from exc
        return dict(zip(self.sidecar.output_names, values, strict=True))

    def __repr__(self) -> str:
        return f"OnnxModel({self.sidecar.name} v{self.version}, {self.provider})"


def load_model(path: str | Path, provider: str | None = None) -> OnnxModel:
    """A shared :class:`OnnxModel` for a sidecar (or ONNX) path, created once per process.

    Parameters
    ----------
    path:
        Sidecar ``.json`` or ``.onnx`` path, or a bare model name (``"seg_ct"``) looked up in
        :func:`default_model_dir`.
    provider:
        See :class:`OnnxModel`.

    Raises
    ------
    ModelError
        As :class:`OnnxModel` and :func:`bcl_core.predict.sidecar.load_sidecar`.
    """
    source = Path(path)
    if source.suffix not in {".json", ".onnx"}:
        source = default_model_dir() / f"{source.name}.json"
    key = (source.with_suffix(".json").resolve(),
           (provider or os.environ.get(PROVIDER_ENV, "auto")).lower())
    with _cache_lock:
        cached = _cache.get(key)
        if cached is None:
            cached = OnnxModel(load_sidecar(key[0]), provider=key[1])
            _cache[key] = cached
        return cached


def clear_model_cache() -> None:
    """Forget cached sessions (tests, or after a model file was replaced)."""
    with _cache_lock:
        _cache.clear()
