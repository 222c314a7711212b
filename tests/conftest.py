"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return REPO_ROOT


def make_synth_cases(factory: pytest.TempPathFactory, site: str, seed: int,
                     n_cases: int = 2) -> Path:
    """A folder of ``n_cases`` compact ``bcl synth`` cases (for module-scoped fixtures)."""
    synthesize = pytest.importorskip("bcl_core.phantom.batch").synthesize
    out = factory.mktemp(site)
    synthesize(out, n_cases, site, seed=seed, compact=True, workers=1)
    return out
