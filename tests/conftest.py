"""Shared pytest fixtures."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return REPO_ROOT


def load_benchmark(name: str) -> ModuleType:
    """The script ``benchmarks/<name>.py`` as a module (benchmarks are not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_synth_cases(factory: pytest.TempPathFactory, site: str, seed: int,
                     n_cases: int = 2) -> Path:
    """A folder of ``n_cases`` compact ``bcl synth`` cases (for module-scoped fixtures)."""
    synthesize = pytest.importorskip("bcl_core.phantom.batch").synthesize
    out = factory.mktemp(site)
    synthesize(out, n_cases, site, seed=seed, compact=True, workers=1)
    return out
