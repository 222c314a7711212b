"""The Evaluation page (Streamlit AppTest): empty state, upload flow, prediction-set flow, errors."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from bcl_core import SYNTHETIC_NOTICE
from bcl_core.evaluation.discovery import EVAL_ROOT_ENV
from bcl_core.evaluation.example import make_example_tables

PAGE = Path(__file__).resolve().parent.parent / "pages" / "evaluation.py"
TIMEOUT = 60


@pytest.fixture(scope="module")
def example():
    return make_example_tables(n_cases=80, n_readers=2, seed=9)


def _app(monkeypatch: pytest.MonkeyPatch, root: Path) -> AppTest:
    monkeypatch.setenv(EVAL_ROOT_ENV, str(root))
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    return at


def _set_bootstrap(at: AppTest, value: int) -> None:
    at.number_input[0].set_value(value)


def test_no_sets_says_so_and_offers_upload(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    at = _app(monkeypatch, tmp_path / "missing")
    assert any(SYNTHETIC_NOTICE in w.value for w in at.warning)
    assert any("No prediction set found" in i.value for i in at.info)
    assert len(at.get("file_uploader")) == 3


def test_upload_and_evaluate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, example) -> None:
    at = _app(monkeypatch, tmp_path / "missing")
    uploaders = at.get("file_uploader")
    uploaders[0].set_value(("predictions.csv", example.predictions.to_csv(index=False).encode(), "text/csv"))
    uploaders[1].set_value(("labels.csv", example.labels.to_csv(index=False).encode(), "text/csv"))
    at.run()
    _set_bootstrap(at, 100)
    at.button[0].click().run()
    assert not at.exception
    assert any("80 cases" in s.value for s in at.success)
    assert len(at.dataframe) >= 3
    assert len(at.get("download_button")) == 2


def test_prediction_set_with_reads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, example) -> None:
    folder = tmp_path / "internal_test"
    folder.mkdir()
    example.predictions.to_csv(folder / "predictions.csv", index=False)
    example.labels.to_csv(folder / "labels.csv", index=False)
    example.reads.to_csv(folder / "reads.csv", index=False)
    at = _app(monkeypatch, tmp_path)
    assert at.selectbox[0].value.name == "internal_test"
    _set_bootstrap(at, 100)
    at.button[0].click().run()
    assert not at.exception
    assert any("2 reader(s)" in s.value for s in at.success)
    assert any("Obuchowski" in m.value for m in at.markdown)


def test_bad_upload_shows_error_not_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, example) -> None:
    at = _app(monkeypatch, tmp_path / "missing")
    uploaders = at.get("file_uploader")
    uploaders[0].set_value(("predictions.csv", b"case_id,prob_type1\nA,0.2\n", "text/csv"))
    uploaders[1].set_value(("labels.csv", example.labels.to_csv(index=False).encode(), "text/csv"))
    at.run()
    at.button[0].click().run()
    assert not at.exception
    assert any("missing column" in e.value for e in at.error)


def test_no_sets_message_does_not_show_the_server_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    at = _app(monkeypatch, tmp_path / "missing")
    assert at.info and not any(str(tmp_path) in i.value for i in at.info)


def test_every_number_on_the_page_is_formatted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, example) -> None:
    # Issue 22: prevalence_lo showed as 0.00000000000000002. Every table cell shows at most 3
    # decimals, except p-values (3 significant digits, "<0.001" below).
    folder = tmp_path / "set"
    folder.mkdir()
    example.predictions.to_csv(folder / "predictions.csv", index=False)
    example.labels.assign(site=["A", "B"] * 40).to_csv(folder / "labels.csv", index=False)
    example.reads.to_csv(folder / "reads.csv", index=False)
    at = _app(monkeypatch, tmp_path)
    _set_bootstrap(at, 100)
    at.button[0].click().run()
    assert not at.exception
    long_decimals = re.compile(r"\d\.\d{4,}|e-\d")
    shown = [frame.value for frame in at.dataframe]
    assert len(shown) >= 8
    for frame in shown:
        table = pd.DataFrame(frame).drop(columns=["p", "p_exact", "p_mid"], errors="ignore")
        bad = [v for v in table.to_numpy().ravel() if long_decimals.search(str(v))]
        assert not bad, (list(table.columns), bad[:3])
    assert any("prevalence (95% CI)" in pd.DataFrame(f.value).columns for f in at.dataframe)
