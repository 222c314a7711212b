"""Shared pytest fixtures."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return REPO_ROOT


def _load_script(folder: str, name: str) -> ModuleType:
    """The script ``<folder>/<name>.py`` as a module (script folders are not packages)."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / folder / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_benchmark(name: str) -> ModuleType:
    """The script ``benchmarks/<name>.py`` (behind a figure the README quotes) as a module."""
    return _load_script("benchmarks", name)


def load_research(name: str) -> ModuleType:
    """The script ``research/<name>.py`` (a study of the generator or a model) as a module.

    Tests that use it are marked ``slow``: research scripts are not part of the product.
    """
    return _load_script("research", name)


def make_synth_cases(factory: pytest.TempPathFactory, site: str, seed: int,
                     n_cases: int = 2) -> Path:
    """A folder of ``n_cases`` compact ``bcl synth`` cases (for module-scoped fixtures)."""
    from bcl_core.phantom.batch import synthesize  # here: only tests that make cases pay for it

    out = factory.mktemp(site)
    synthesize(out, n_cases, site, seed=seed, compact=True, workers=1)
    return out


@pytest.fixture()
def toy_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Toy ONNX models with fixed outputs as the models folder (CPU provider, fresh sessions)."""
    from model_fixtures import write_toy_models

    from bcl_core.predict.runtime import clear_model_cache

    folder = write_toy_models(tmp_path / "models")
    monkeypatch.setenv("BCL_MODEL_DIR", str(folder))
    monkeypatch.setenv("BCL_ORT_PROVIDER", "cpu")
    clear_model_cache()
    yield folder
    clear_model_cache()
