"""Evaluation inputs, tables and report: checked against scikit-learn and hand counts."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.offline
import pytest
from sklearn.metrics import cohen_kappa_score, recall_score, roc_auc_score

from bcl_core import SYNTHETIC_NOTICE
from bcl_core.cli import main
from bcl_core.errors import EvaluationInputError
from bcl_core.evaluation import assemble
from bcl_core.evaluation.analysis import evaluate
from bcl_core.evaluation.example import make_example_tables
from bcl_core.evaluation.report import write_report
from bcl_core.evaluation.scorers import EvaluationSettings

FAST = EvaluationSettings(n_resamples=200)


def _csv(frame: pd.DataFrame) -> io.StringIO:
    return io.StringIO(frame.to_csv(index=False))


@pytest.fixture(scope="module")
def tables():
    return make_example_tables(n_cases=150, n_readers=3, seed=4)


@pytest.fixture(scope="module")
def result(tables):
    data = assemble(_csv(tables.predictions), _csv(tables.labels), _csv(tables.reads))
    return evaluate(data, FAST)


def _row(frame: pd.DataFrame, **where: str) -> pd.Series:
    mask = np.ones(len(frame), dtype=bool)
    for key, value in where.items():
        mask &= (frame[key] == value).to_numpy()
    assert mask.sum() == 1, where
    return frame[mask].iloc[0]


@pytest.mark.parametrize("type_name", ["type1", "type4"])
def test_model_tables_match_sklearn(tables, result, type_name: str) -> None:
    y = tables.labels[type_name]
    prob = tables.predictions[f"prob_{type_name}"]
    call = tables.predictions[f"call_{type_name}"]
    t = result.tables
    assert _row(t["auroc"], scorer="model", type=type_name)["auc"] == pytest.approx(roc_auc_score(y, prob))
    assert _row(t["auroc"], scorer="oracle", type=type_name)["auc"] == pytest.approx(
        roc_auc_score(y, tables.labels[f"oracle_{type_name}"]))
    sens = _row(t["metrics"], scorer="model", type=type_name, metric="sensitivity")
    assert sens["value"] == pytest.approx(recall_score(y, call))
    assert sens["lo"] < sens["value"] < sens["hi"]
    kappa = _row(t["kappa_reference"], scorer="model", type=type_name)["kappa"]
    assert kappa == pytest.approx(cohen_kappa_score(y, call, weights="linear"))
    counts = _row(t["confusion"], scorer="model", type=type_name)
    assert counts["tp"] == int(((y == 1) & (call == 1)).sum())
    assert counts["tp"] + counts["fp"] + counts["fn"] + counts["tn"] == len(y)


def test_reader_tables_match_sklearn(tables, result) -> None:
    reads = tables.reads
    one = reads[(reads["reader_id"] == "reader2") & (reads["type"] == "3")].set_index("case_id")
    y = tables.labels.set_index("case_id")["type3"].loc[one.index]
    row = _row(result.tables["auroc"], scorer="reader2", type="type3")
    assert row["auc"] == pytest.approx(roc_auc_score(y, one["confidence"]))
    assert len(result.tables["mrmc"]) == 4
    assert set(result.tables["fleiss"]["n_readers"]) == {3}
    # 3 readers -> 3 pairs x 3 (scale, weights) x 4 types
    assert len(result.tables["kappa_readers"]) == 36


def test_description_counts(tables, result) -> None:
    desc = result.tables["description"].set_index("type")
    for t in ("type1", "type2", "type3", "type4"):
        assert desc.loc[t, "n_positive"] == tables.labels[t].sum()
        assert desc.loc[t, "prevalence"] == pytest.approx(tables.labels[t].mean())


def test_type_spelled_as_number_or_name_is_the_same(tables) -> None:
    spelled = tables.reads.assign(type="type" + tables.reads["type"].astype(str))
    a = assemble(_csv(tables.predictions), _csv(tables.labels), _csv(tables.reads)).reads
    b = assemble(_csv(tables.predictions), _csv(tables.labels), _csv(spelled)).reads
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_incomplete_reads_use_cases_read_by_everyone(tables) -> None:
    reads = tables.reads
    drop = (reads["reader_id"] == "reader1") & reads["case_id"].isin(tables.labels["case_id"][:20])
    data = assemble(_csv(tables.predictions), _csv(tables.labels), _csv(reads[~drop]))
    res = evaluate(data, FAST)
    assert set(res.tables["mrmc"]["n_cases"]) == {130}
    reader1 = _row(res.tables["auroc"], scorer="reader1", type="type1")
    assert reader1["n_positive"] + reader1["n_negative"] == 130


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p, lab: (p.drop(columns="call_type2"), lab), "missing column"),
        (lambda p, lab: (p.assign(prob_type1=p["prob_type1"] + 1.5), lab), "between 0 and 1"),
        (lambda p, lab: (p, lab.assign(type1=2)), "0 or 1"),
        (lambda p, lab: (p.iloc[:-3], lab), "without a prediction"),
        (lambda p, lab: (pd.concat([p, p.iloc[:1]]), lab), "duplicate case_id"),
        (lambda p, lab: (p.assign(prob_type3=np.nan), lab), "empty or non-numeric"),
        (lambda p, lab: (p, lab.drop(columns="oracle_type4")), "oracle columns come as a set"),
    ],
)
def test_invalid_tables_give_clear_errors(tables, mutate, message: str) -> None:
    pred, lab = mutate(tables.predictions.copy(), tables.labels.copy())
    with pytest.raises(EvaluationInputError, match=message):
        assemble(_csv(pred), _csv(lab))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.assign(type="5"), "type must be 1-4"),
        (lambda r: r.assign(confidence=140), "confidence must lie between 0 and 100"),
        (lambda r: pd.concat([r, r.iloc[:1]]), "more than once"),
        (lambda r: r.assign(case_id=["ghost", *r["case_id"][1:]]), "not in labels.csv"),
        (lambda r: r.drop(columns="confidence"), "missing column"),
    ],
)
def test_invalid_reads_give_clear_errors(tables, mutate, message: str) -> None:
    with pytest.raises(EvaluationInputError, match=message):
        assemble(_csv(tables.predictions), _csv(tables.labels), _csv(mutate(tables.reads.copy())))


def test_predictions_only_report(tables, tmp_path: Path) -> None:
    labels = tables.labels.drop(columns=[f"oracle_type{i}" for i in range(1, 5)])
    res = evaluate(assemble(_csv(tables.predictions), _csv(labels)), FAST)
    assert "mrmc" not in res.tables and "oracle" not in set(res.tables["auroc"]["scorer"])
    report = write_report(res, tmp_path, pngs=False)
    text = report.read_text(encoding="utf-8")
    assert SYNTHETIC_NOTICE in text
    assert "TRIPOD" in text and "Obuchowski" in text  # methods always state it; no MRMC table
    assert text.count(plotly.offline.get_plotlyjs()[:300]) == 1  # plotly.js embedded once
    assert (tmp_path / "tables" / "metrics.csv").is_file()


def test_cli_end_to_end(tables, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = {}
    for name, frame in (("pred", tables.predictions), ("labels", tables.labels), ("reads", tables.reads)):
        paths[name] = tmp_path / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    out = tmp_path / "out"
    code = main(["evaluate", "--pred", str(paths["pred"]), "--labels", str(paths["labels"]),
                 "--reads", str(paths["reads"]), "--out", str(out), "--bootstrap", "100"])
    assert code == 0
    assert (out / "report.html").is_file()
    assert {p.name for p in (out / "figures").iterdir()} == {"roc.png", "calibration.png", "confusion.png"}
    mrmc = pd.read_csv(out / "tables" / "mrmc.csv")
    assert set(mrmc["type"]) == {"type1", "type2", "type3", "type4"}


def test_cli_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "pred.csv"
    bad.write_text("case_id,prob_type1\nA,0.3\n")
    code = main(["evaluate", "--pred", str(bad), "--labels", str(bad), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: predictions.csv: missing column(s)") and err.count("\n") == 1


def test_type_without_events_is_reported_not_fatal(tables, tmp_path: Path) -> None:
    labels = tables.labels.assign(type4=0)
    data = assemble(_csv(tables.predictions), _csv(labels), _csv(tables.reads))
    res = evaluate(data, FAST)
    assert "type4" not in set(res.tables["auroc"]["type"])
    assert any("type4" in note and "one case of each class" in note for note in res.notes)
    sens = _row(res.tables["metrics"], scorer="model", type="type4", metric="sensitivity")
    assert np.isnan(sens["value"])  # no positive case: sensitivity undefined, not 0
    assert write_report(res, tmp_path, pngs=True).is_file()
