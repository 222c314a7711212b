"""The model card is assembled from sidecars and metrics files, and says what it must."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from model_fixtures import write_toy_models

from bcl_core import SYNTHETIC_NOTICE
from bcl_core.commands.train_fusion import parse_folder_source, parse_synthetic_source
from bcl_core.predict.model_card import build_model_card, write_model_card


def test_card_lists_every_model_with_its_real_checksum(tmp_path: Path) -> None:
    folder = write_toy_models(tmp_path)
    metrics = {"models": {"fusion": {
        "thresholds": {"type1": 0.3},
        "validation": {"n": 10, **{t: {"auroc": a, "auroc_ci": [a - 0.1, a + 0.1]}
                                   for t, a in zip(("type1", "type2", "type3", "type4"),
                                                   (0.8, 0.7, 0.9, 0.6), strict=True)}},
        "tests": {}}}}
    (folder / "fusion.metrics.json").write_text(json.dumps(metrics))
    card = json.loads(write_model_card(folder).read_text())
    assert set(card["models"]) == {"seg_ct", "seg_mr", "fusion"}
    for name, entry in card["models"].items():
        digest = hashlib.sha256((folder / f"{name}.onnx").read_bytes()).hexdigest()
        assert entry["sha256"] == digest
    assert card["synthetic_notice"] == SYNTHETIC_NOTICE
    assert "not" in card["not_intended_for"].lower() or "clinical" in card["not_intended_for"]
    # Mean validation AUROC of the four types, by hand: (0.8 + 0.7 + 0.9 + 0.6) / 4 = 0.75.
    assert card["models"]["fusion"]["metrics"]["ablation"]["fusion"]["validation"] == 0.75


def test_card_of_an_empty_folder_has_no_models(tmp_path: Path) -> None:
    assert build_model_card(tmp_path)["models"] == {}


@pytest.mark.parametrize("text", ["external", "a:b:1:2", "x:external:-1:5", "x:external:1:0",
                                  "x:external:one:5"])
def test_bad_synthetic_sources_are_refused(text: str) -> None:
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="NAME:SITE:SEED:N"):
        parse_synthetic_source(text)


def test_folder_source() -> None:
    assert parse_folder_source("ext=data/x") == ("ext", Path("data/x"))
