"""The demo case helper."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bcl_core.errors import PhantomError
from bcl_core.phantom import demo


def test_demo_case_is_made_once_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            ) -> None:
    calls = []
    real = demo.write_case

    def compact_write(out: Path, site: str, seed: int, index: int, compact: bool = False) -> dict:
        calls.append((site, seed, index))
        return real(out, site, seed, index, compact=True)  # compact keeps the test fast

    monkeypatch.setattr(demo, "write_case", compact_write)
    first = demo.cached_demo_case(tmp_path)
    second = demo.cached_demo_case(tmp_path)
    assert first == second and len(calls) == 1
    truth = json.loads((first / "truth.json").read_text())
    assert truth["site"] == "internal" and truth["seed"] == demo.DEMO_SEED
    assert any((first / "ct").glob("*.dcm")) and any((first / "mr").glob("*.dcm"))
    assert (tmp_path / "labels.csv").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".demo-")]


def test_unwritable_cache_gives_an_actionable_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(PhantomError, match="BCL_CACHE_DIR"):
        demo.cached_demo_case(blocker / "sub")


def test_demo_case_shows_what_its_description_promises() -> None:
    from bcl_core.phantom.spec import sample_case_spec

    spec = sample_case_spec(demo.DEMO_SITE, demo.DEMO_SEED, demo.DEMO_INDEX)
    assert spec.level == "L1" and spec.features.fracture_type == "crush"
    assert spec.features.posterior_breach_mm > 0
    assert spec.truth.labels["type2"] == 1 and spec.truth.labels["type4"] == 1
