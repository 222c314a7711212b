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
    assert len(result.tables["mrmc"]) == 12  # 4 types x 3 analyses (RRRC, FRRC, RRFC)
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
    assert {p.name for p in (out / "figures").iterdir()} == {"roc.png", "calibration.png", "confusion.png",
                                                               "decision_curve.png"}
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


# --- issue 22: declared kappa scale, Fleiss validity, MRMC analyses, calibration slope, decision
# curves, subgroups --------------------------------------------------------------------------


def test_reader_kappa_uses_the_declared_5_point_scale(tables) -> None:
    # Nobody used the middle bin (confidence 40-60): weights must still be spaced on 0..4.
    reads = tables.reads.copy()
    middle = (reads["confidence"] >= 40) & (reads["confidence"] < 60)
    reads.loc[middle, "confidence"] = 30.0
    res = evaluate(assemble(_csv(tables.predictions), _csv(tables.labels), _csv(reads)), FAST)
    row = _row(res.tables["kappa_readers"], type="type2", reader_a="reader1", reader_b="reader2",
               scale="confidence_5pt", weights="linear")
    one = reads[reads["type"] == "2"].pivot(index="case_id", columns="reader_id", values="confidence")
    binned = np.digitize(one[["reader1", "reader2"]].to_numpy(), [20, 40, 60, 80])  # 0..4, edges as documented
    expected = cohen_kappa_score(binned[:, 0], binned[:, 1], weights="linear", labels=[0, 1, 2, 3, 4])
    assert row["kappa"] == pytest.approx(expected, abs=1e-12)


def test_fleiss_interval_with_undefined_replicates_is_flagged(tmp_path: Path) -> None:
    small = make_example_tables(n_cases=20, n_readers=4, seed=2)
    reads = small.reads.copy()
    type4 = reads["type"] == "4"
    reads.loc[type4, "call"] = 0
    first = reads["case_id"] == small.labels["case_id"][0]
    reads.loc[type4 & first & (reads["reader_id"] != "reader1"), "call"] = 1
    res = evaluate(assemble(_csv(small.predictions), _csv(small.labels), _csv(reads)), EvaluationSettings(n_resamples=400))
    row = _row(res.tables["fleiss"], type="type4")
    # A replicate without case 1 is undefined: about 400 * (1 - 0.95^20) = 257 defined.
    assert 200 < row["n_valid_replicates"] < 320
    assert not row["interval_reliable"]
    assert any("type4" in n and "unreliable" in n for n in res.notes)
    html_text = write_report(res, tmp_path, pngs=False).read_text(encoding="utf-8")
    assert "UNRELIABLE" in html_text


def test_fixed_case_row_is_a_paired_t_test_on_reader_aucs(tables, result) -> None:
    # Random readers, fixed cases with 2 tests is the paired t-test of per-reader AUROCs
    # (OR-DBM MRMC 2.51 output note): here model AUROC minus each reader's AUROC.
    from scipy import stats as sps

    y = tables.labels["type1"].to_numpy()
    model_auc = roc_auc_score(y, tables.predictions["prob_type1"])
    reads = tables.reads[tables.reads["type"] == "1"]
    reader_aucs = [roc_auc_score(y, g.set_index("case_id").loc[tables.labels["case_id"], "confidence"])
                   for _, g in reads.groupby("reader_id")]
    ttest = sps.ttest_1samp(model_auc - np.array(reader_aucs), 0.0)
    row = _row(result.tables["mrmc"], type="type1", analysis="random readers, fixed cases")
    assert row["f"] == pytest.approx(ttest.statistic**2, rel=1e-9)
    assert row["p"] == pytest.approx(ttest.pvalue, rel=1e-9)
    assert set(result.tables["mrmc"]["analysis"]) == {"random readers, random cases", "fixed readers, random cases",
                                                      "random readers, fixed cases"}


def test_calibration_table_has_slope_matching_statsmodels(tables, result) -> None:
    import statsmodels.api as sm
    from scipy.special import logit

    y = tables.labels["type2"].to_numpy()
    lp = logit(np.clip(tables.predictions["prob_type2"].to_numpy(), 1e-6, 1 - 1e-6))
    fit = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit(tol=1e-13)
    row = _row(result.tables["calibration"], type="type2")
    assert row["slope"] == pytest.approx(fit.params[1], rel=1e-7)
    assert (row["slope_lo"], row["slope_hi"]) == pytest.approx(tuple(fit.conf_int(0.05)[1]), rel=1e-6)


def test_decision_curve_table_by_definition(tables, result) -> None:
    y = tables.labels["type4"].to_numpy()
    p = tables.predictions["prob_type4"].to_numpy()
    dca = result.tables["decision_curve"]
    for pt in (0.1, 0.3):
        acts = p >= pt
        expected = np.sum(acts & (y == 1)) / y.size - np.sum(acts & (y == 0)) / y.size * pt / (1 - pt)
        row = dca[(dca["type"] == "type4") & (dca["scorer"] == "model") & np.isclose(dca["threshold"], pt)]
        assert row["net_benefit"].iloc[0] == pytest.approx(expected, abs=1e-12)
        treat_all = dca[(dca["type"] == "type4") & (dca["scorer"] == "treat all") & np.isclose(dca["threshold"], pt)]
        assert treat_all["net_benefit"].iloc[0] == pytest.approx(y.mean() - (1 - y.mean()) * pt / (1 - pt))
    assert (dca[dca["scorer"] == "treat none"]["net_benefit"] == 0).all()
    assert {"reader1", "reader2", "reader3"} <= set(dca["scorer"])


def test_subgroups_when_labels_carry_site_and_level(tables, tmp_path: Path) -> None:
    labels = tables.labels.assign(site=np.where(np.arange(150) < 90, "internal", "external"),
                                  level=np.array(["T12", "L1", "L2"])[np.arange(150) % 3])
    res = evaluate(assemble(_csv(tables.predictions), _csv(labels)), FAST)
    sub = res.tables["subgroups"]
    assert set(sub["stratifier"]) == {"site", "level"}
    external = slice(90, 150)
    row = _row(sub, stratifier="site", subgroup="external", type="type1")
    assert row["n_cases"] == 60
    assert row["auc"] == pytest.approx(roc_auc_score(tables.labels["type1"][external],
                                                     tables.predictions["prob_type1"][external]))
    assert "Subgroups (per site and per level)" in write_report(res, tmp_path, pngs=False).read_text(encoding="utf-8")


def test_subgroup_note_counts_the_subgroups_without_an_auroc(tables) -> None:
    # DeLong needs 2 cases of each class: a 3-case site cannot have them, so its 4 types get no
    # AUROC; the other 147 cases hold at least 2 of each class for every type (checked below).
    small = np.arange(150) < 3
    labels = tables.labels.assign(site=np.where(small, "small", "large"))
    for t in ("type1", "type2", "type3", "type4"):
        assert 2 <= tables.labels[t][~small].sum() <= 145
    res = evaluate(assemble(_csv(tables.predictions), _csv(labels)), FAST)
    sub = res.tables["subgroups"]
    assert sub[sub["subgroup"] == "small"]["auc"].isna().all()
    assert sub[sub["subgroup"] == "large"]["auc"].notna().all()
    assert [n for n in res.notes if n.startswith("per-site AUROC")] == [
        "per-site AUROC not computed for 4 subgroup(s) and type(s) with fewer than 2 cases of each class."]


def test_no_subgroups_without_site_or_level(result) -> None:
    assert "subgroups" not in result.tables


def test_empty_site_cell_is_a_clear_error(tables) -> None:
    labels = tables.labels.assign(site=["A"] * 149 + [""])
    with pytest.raises(EvaluationInputError, match="column site is empty for case"):
        assemble(_csv(tables.predictions), _csv(labels))


def test_cli_jackknife_option(tables, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = {}
    for name, frame in (("pred", tables.predictions), ("labels", tables.labels), ("reads", tables.reads)):
        paths[name] = tmp_path / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    base = ["evaluate", "--pred", str(paths["pred"]), "--labels", str(paths["labels"]), "--reads", str(paths["reads"]),
            "--bootstrap", "50", "--no-png"]
    assert main([*base, "--out", str(tmp_path / "out"), "--mrmc-covariance", "jackknife"]) == 0
    mrmc = pd.read_csv(tmp_path / "out" / "tables" / "mrmc.csv")
    assert set(mrmc["covariance"]) == {"jackknife", "not used"}
    assert "jackknife" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "o2"), "--mrmc-covariance", "bootstrap"]) == 2
    assert capsys.readouterr().err.startswith("error: --mrmc-covariance must be one of delong, jackknife")
