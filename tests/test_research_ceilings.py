"""The research scripts on what the generator lets a model reach: ``research/fusion_ceilings.py``
and ``research/fusion_vein_detector.py`` (slow: research, not product)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from bcl_core.leakage import LEAKAGE_TYPES
from bcl_core.phantom.sites import get_site
from bcl_core.phantom.spec import sample_case_labels
from tests.conftest import load_research

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ceilings_module():  # type: ignore[no-untyped-def]
    return load_research("fusion_ceilings")


def _metrics(validation_prevalence: list[float] | None = None) -> dict[str, object]:
    model = {t: {"auroc": 0.8, "sensitivity": 0.7, "specificity": 0.6} for t in LEAKAGE_TYPES}
    data: dict[str, object] = {
        "development": {"synthetic_site": "internal", "seed": 7, "cases": 400},
        "n_validation": 100,
        "tests": {"external": {"synthetic_site": "external", "seed": 8, "cases": 200}},
    }
    if validation_prevalence is not None:
        data["prevalence"] = {"validation": validation_prevalence}
    return {"data": data, "training": {"seed": 3},
            "models": {"fusion": {"validation": model, "tests": {"external": model}}}}


def test_operating_point_counts(ceilings_module) -> None:  # type: ignore[no-untyped-def]
    labels = np.array([1, 1, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.5, 0.2, 0.6, 0.1, 0.3, 0.0])
    point = ceilings_module.operating_point(labels, scores, 0.5)
    assert (point["found"], point["positives"]) == (2, 3)
    assert point["specificity"] == pytest.approx(3 / 4)


def test_ceilings_rebuild_the_runs_splits(ceilings_module, caplog) -> None:  # type: ignore[no-untyped-def]
    from bcl_core.train.fusion_run import split_indices

    result = ceilings_module.ceilings(_metrics(), ["vein_channels"])
    # Independent reference: the external split's labels and oracle, AUROC by scikit-learn.
    draws = [sample_case_labels(get_site("external"), 8, i) for i in range(200)]
    y = np.array([d.labels["type1"] for d in draws])
    p = np.array([d.oracle["type1"] for d in draws])
    row = result["splits"]["external"]["type1"]
    assert row["oracle_auroc"] == pytest.approx(roc_auc_score(y, p), abs=1e-9)
    assert row["bar"] == pytest.approx(0.9 * roc_auc_score(y, p), abs=1e-9)
    assert row["ceiling_auroc"] < row["oracle_auroc"]
    assert row["model"]["auroc"] == 0.8
    # Types that do not read the channel count keep the oracle's AUROC.
    for t in ("type2", "type3", "type4"):
        r = result["splits"]["external"][t]
        assert r["ceiling_auroc"] == pytest.approx(r["oracle_auroc"], abs=1e-12)
    # The validation split is the run's seeded 9:1 split of the development cases.
    _, val = split_indices(400, 0.25, 3)
    dev = [sample_case_labels(get_site("internal"), 7, int(i)) for i in val]
    assert result["splits"]["validation"]["type4"]["oracle_at_rule"]["positives"] == sum(
        d.labels["type4"] for d in dev)
    # The Type IV threshold keeps the oracle's validation sensitivity at 0.95 or above.
    assert result["splits"]["validation"]["type4"]["oracle_at_rule"]["sensitivity"] >= 0.95
    with caplog.at_level(logging.WARNING, logger="fusion_ceilings"):
        ceilings_module.ceilings(_metrics([0.5, 0.5, 0.5, 0.5, 0.5]), [])
    assert "differs from the run's" in caplog.text


def test_command_line(ceilings_module, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    metrics = tmp_path / "fusion.metrics.json"
    metrics.write_text(json.dumps(_metrics()))
    out = tmp_path / "ceilings.json"
    assert ceilings_module.main([str(metrics), "--draws", "3", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| external | type1 |" in text and "over 3 fresh validation sets" in text
    written = json.loads(out.read_text())
    assert written["hidden"] == ["vein_channels"]
    assert written["type4_draws"]["external"]["draws"] == 3
    with pytest.raises(SystemExit) as stop:
        ceilings_module.main([str(metrics), "--hide", "wall_defect_mm"])
    assert stop.value.code == 2
    assert "cannot hide wall_defect_mm" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ceilings_module.main([str(metrics), "--model", "ct_only"])
    assert "has no model" in capsys.readouterr().err


def test_vein_detector_reads_true_counts_from_case_ids() -> None:
    from bcl_core.phantom.spec import case_id_for, sample_case_spec

    module = load_research("fusion_vein_detector")
    site = get_site("prospective")
    ids = np.array([case_id_for(site, 21, i) for i in (0, 4, 9)])
    expected = [sample_case_spec("prospective", 21, i).features.vein_channels for i in (0, 4, 9)]
    assert module.true_counts(ids, "prospective", 21).tolist() == expected
    with pytest.raises(SystemExit, match="not a case of prospective seed 22"):
        module.true_counts(ids, "prospective", 22)


def test_vein_detector_spearman_is_none_when_constant() -> None:
    module = load_research("fusion_vein_detector")
    assert module.spearman(np.zeros(5), np.arange(5)) is None
    assert module.spearman(np.arange(5.0), np.array([1, 3, 2, 5, 4])) == pytest.approx(0.8)
