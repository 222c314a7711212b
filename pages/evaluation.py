"""Evaluation page: pick a prediction set or upload CSVs, see the tables and plots, download them.

UI only: loading, statistics, figures and report come from ``bcl_core.evaluation``.
Works as a script page (``st.Page("pages/evaluation.py")``) or through :func:`render`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

from bcl_core import SYNTHETIC_NOTICE
from bcl_core.errors import BCLError
from bcl_core.evaluation.analysis import evaluate
from bcl_core.evaluation.discovery import EVAL_ROOT_ENV, find_prediction_sets
from bcl_core.evaluation.display import display_tables
from bcl_core.evaluation.figures_plotly import all_figures
from bcl_core.evaluation.loading import TableSource, assemble
from bcl_core.evaluation.report import render_html, tables_zip
from bcl_core.evaluation.scorers import EvaluationResult, EvaluationSettings
from bcl_core.evaluation.tripod import tripod_rows
from bcl_core.stats import DEFAULT_RESAMPLES, DEFAULT_SEED
from bcl_core.stats.mrmc import COVARIANCE_NAMES, CovarianceMethod

#: Session-state keys of this page.
RESULT_KEY = "evaluation_result"
SOURCE_KEY = "evaluation_source"

SOURCE_SET = "Prediction set (models/eval)"
SOURCE_UPLOAD = "Upload CSV files"


def _init_state() -> None:
    st.session_state.setdefault(RESULT_KEY, None)


def _inputs() -> tuple[TableSource, TableSource, TableSource | None, str] | None:
    """The chosen (predictions, labels, reads, label) sources, or None while incomplete."""
    sets = find_prediction_sets()
    options = [SOURCE_SET, SOURCE_UPLOAD] if sets else [SOURCE_UPLOAD]
    if not sets:
        # Never the server's path: it says nothing a clinician can act on and tells too much.
        st.info(
            f"No prediction set found in the server's evaluation folder yet (models/eval, or ${EVAL_ROOT_ENV}: "
            "a folder with predictions.csv and labels.csv, optionally reads.csv). Upload the CSV files instead; "
            "formats are in docs/evaluation.md."
        )
    source = st.radio("Data", options, key=SOURCE_KEY, horizontal=True)
    if source == SOURCE_SET:
        chosen = st.selectbox("Prediction set", sets, format_func=lambda s: s.name + (" (with reads)" if s.reads else ""))
        return chosen.predictions, chosen.labels, chosen.reads, chosen.name
    predictions = st.file_uploader("predictions.csv (from bcl predict-batch)", type="csv")
    labels = st.file_uploader("labels.csv (reference standard)", type="csv")
    reads = st.file_uploader("reads.csv (reader study, optional)", type="csv")
    if predictions is None or labels is None:
        st.caption("Upload at least predictions.csv and labels.csv.")
        return None
    return predictions, labels, reads, predictions.name


def _show(result: EvaluationResult) -> None:
    pretty = display_tables(result)
    figures = all_figures(result)
    st.subheader("Data")
    st.dataframe(pretty["description"], hide_index=True)
    st.subheader("Performance (estimate, 95% CI)")
    st.dataframe(pretty["performance"], hide_index=True)
    tab_roc, tab_cal, tab_dca, tab_conf = st.tabs(["ROC", "Calibration", "Decision curves", "Confusion matrices"])
    with tab_roc:
        st.plotly_chart(figures["roc"])
        if "operating_points" in pretty:
            st.dataframe(pretty["operating_points"], hide_index=True)
    with tab_cal:
        st.plotly_chart(figures["calibration"])
        st.caption("Calibration slope 1 and intercept 0 mean calibrated; slope < 1: predictions too extreme; "
                   "intercept < 0: predictions too high on average.")
        st.dataframe(pretty["calibration"], hide_index=True)
    with tab_dca:
        st.caption("Net benefit of acting when the predicted risk is at least the threshold, against acting on "
                   "everyone (treat all) or no one (treat none): a rule is worth using where it lies above both.")
        st.plotly_chart(figures["decision_curve"])
        st.dataframe(pretty["decision_curve"], hide_index=True)
    with tab_conf:
        st.plotly_chart(figures["confusion"])
    if "subgroups" in pretty:
        st.subheader("Subgroups (per site and per level)")
        st.dataframe(pretty["subgroups"], hide_index=True)
    st.subheader("Tests and agreement")
    for name, title in (("auroc_tests", "Paired DeLong tests"), ("mrmc", "Model vs readers (Obuchowski-Rockette)"),
                        ("mcnemar", "McNemar, paired calls"), ("kappa_reference", "Kappa against the reference"),
                        ("kappa_readers", "Reader vs reader kappa"), ("fleiss", "Fleiss' kappa across readers")):
        if name in pretty:
            st.markdown(f"**{title}**")
            st.dataframe(pretty[name], hide_index=True)
    for note in result.notes:
        st.caption(note)
    with st.expander("TRIPOD items this report covers"):
        st.dataframe(tripod_rows(), hide_index=True)
    left, right = st.columns(2)
    left.download_button("Download report (HTML)", render_html(result), file_name="evaluation_report.html", mime="text/html")
    right.download_button("Download tables (CSV, zip)", tables_zip(result), file_name="evaluation_tables.zip", mime="application/zip")


def render() -> None:
    """Draw the evaluation page."""
    _init_state()
    st.title("Evaluation")
    st.warning(SYNTHETIC_NOTICE)
    chosen = _inputs()
    with st.expander("Settings"):
        n_resamples = st.number_input("Bootstrap resamples", 100, 10000, DEFAULT_RESAMPLES, step=100)
        seed = st.number_input("Seed", 0, 2**31 - 1, DEFAULT_SEED)
        covariance_options: list[CovarianceMethod] = list(COVARIANCE_NAMES)
        covariance = st.selectbox("AUROC covariance for the reader analysis (Obuchowski-Rockette)",
                                  covariance_options, format_func=COVARIANCE_NAMES.__getitem__)
    if chosen is not None and st.button("Evaluate", type="primary"):
        predictions, labels, reads, label = chosen
        try:
            with st.spinner("Computing statistics..."):
                data = assemble(predictions, labels, reads)
                st.session_state[RESULT_KEY] = evaluate(data, EvaluationSettings(
                    n_resamples=int(n_resamples), seed=int(seed), mrmc_covariance=covariance))
        except BCLError as exc:
            st.session_state[RESULT_KEY] = None
            st.error(str(exc))
        else:
            st.success(f"Evaluated {label}: {len(data.case_ids)} cases, {len(data.reader_ids)} reader(s).")
    if st.session_state[RESULT_KEY] is not None:
        _show(st.session_state[RESULT_KEY])


if __name__ == "__main__":  # Streamlit runs script pages as __main__
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for `pages.components`
    from pages.components.frame import require_frame

    require_frame()  # before any output: a deep link opened first gets the frame
    render()
