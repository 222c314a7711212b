"""Write an evaluation as an HTML report (plotly inline, once) plus CSV tables and PNG figures.

The HTML is self-contained (plotly.js embedded a single time, no network needed at a clinic).
Layout of ``out_dir``: ``report.html``, ``tables/<name>.csv``, ``figures/<name>.png``.
"""

from __future__ import annotations

import html
import io
import logging
import zipfile
from pathlib import Path

import pandas as pd
import plotly.offline

from bcl_core import SYNTHETIC_NOTICE, __version__
from bcl_core.errors import EvaluationInputError
from bcl_core.evaluation.display import display_tables
from bcl_core.evaluation.figures_plotly import all_figures
from bcl_core.evaluation.figures_png import write_pngs
from bcl_core.evaluation.formatting import format_table
from bcl_core.evaluation.scorers import EvaluationResult
from bcl_core.evaluation.tripod import NOT_COVERED, tripod_rows
from bcl_core.io.csv_safe import escape_frame
from bcl_core.stats.mrmc import COVARIANCE_NAMES

__all__ = ["display_tables", "methods_text", "render_html", "tables_zip", "write_report"]

logger = logging.getLogger(__name__)

_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 7px}
th{background:#f3f3f3}.notice{background:#fff4d6;border:1px solid #e0b84c;padding:.7em 1em}
h2{border-bottom:2px solid #444;padding-bottom:.2em}"""


def methods_text(result: EvaluationResult) -> list[str]:
    """The Methods paragraph items, stating every setting used."""
    s = result.settings
    covariance = COVARIANCE_NAMES.get(s.mrmc_covariance, s.mrmc_covariance)
    return [
        f"Proportions (sensitivity, specificity, accuracy, precision) with {s.level:.0%} Wilson score intervals; "
        f"F1 with a stratified percentile bootstrap (B = {s.n_resamples}, seed {s.seed}).",
        "AUROC (empirical, ties counted 1/2) with DeLong variance and interval (fast algorithm of Sun & Xu 2014); "
        "paired two-sided DeLong test for model vs oracle and model vs each reader's confidence.",
        "McNemar exact conditional test (mid-p beside it) for paired sensitivity (positive cases) and "
        "specificity (negative cases) of model vs reader calls.",
        "Cohen's kappa, linear weights, of each scorer's calls against the reference (for 0/1 calls this equals "
        "unweighted kappa); reader-vs-reader kappa on calls and on confidence binned into 5 levels "
        "(linear and quadratic weights spaced on the declared scale, levels nobody used included); Wald intervals "
        f"from the Fleiss-Cohen-Everitt asymptotic SE. Fleiss' kappa across readers with a case-bootstrap interval "
        f"(B = {s.n_resamples}); replicates without a defined kappa are dropped and counted, and the interval is "
        f"flagged unreliable when they exceed {(1 - s.level) / 2:.1%} of B (one tail of the interval).",
        f"Model vs readers: Obuchowski-Rockette analysis with {covariance} covariances of the AUROCs, in three "
        "settings: random readers and random cases (F test, Hillis 2007 denominator degrees of freedom; the claim "
        "generalises to other readers and cases), fixed readers and random cases (chi-square test; these readers "
        "only), random readers and fixed cases (F test of the test x reader ANOVA; these cases only). The model "
        "enters as a second test whose scores are the same for every reader, so the test is model AUROC minus "
        "reader-averaged AUROC. Reader-averaged AUROC intervals are truncated to [0, 1].",
        f"Operating points: Youden's J and the highest threshold reaching sensitivity >= {s.target_sensitivity:g}. "
        f"Calibration: reliability curve and expected calibration error over {s.calibration_bins} equal-width bins; "
        "Brier score; calibration slope (logistic regression of the outcome on the predicted log-odds) and "
        "calibration-in-the-large intercept (the same with the log-odds as offset), Wald intervals.",
        "Decision curves (Vickers & Elkin 2006): net benefit TP/n - FP/n x pt/(1 - pt) against the threshold "
        "probability pt, for the model (act when its probability >= pt), each reader's binary calls (on the cases "
        "that reader read), treat all and treat none.",
        "Subgroups: where labels.csv has site and/or level columns, the model's AUROC (DeLong CI) and "
        "sensitivity and specificity (Wilson CI) per site and per vertebral level, descriptive only. "
        "Significance at p < 0.05, no correction for multiplicity.",
    ]


def _table_html(frame: pd.DataFrame | None) -> str:
    if frame is None or frame.empty:
        return "<p><em>not available for this input</em></p>"
    return frame.to_html(index=False, border=0, na_rep="n/a")


def render_html(result: EvaluationResult, png_names: tuple[str, ...] = ()) -> str:
    """The report as one self-contained HTML string (every number formatted, see :mod:`display`)."""
    pretty = display_tables(result)
    figures = all_figures(result)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>BCL Predict evaluation report</title>",
        f"<style>{_CSS}</style><script type='text/javascript'>{plotly.offline.get_plotlyjs()}</script></head><body>",
        "<h1>BCL Predict: evaluation report</h1>",
        f"<p class='notice'>{html.escape(SYNTHETIC_NOTICE)}</p>",
        f"<p>bcl {__version__}; {len(result.data.case_ids)} cases; "
        f"{len(result.data.reader_ids)} reader(s); oracle probabilities: {'yes' if result.data.oracle is not None else 'no'}.</p>",
        "<h2>Methods</h2><ul>" + "".join(f"<li>{html.escape(m)}</li>" for m in methods_text(result)) + "</ul>",
        "<h2>Data</h2>", _table_html(pretty.get("description")),
        "<h2>Performance</h2><p>Estimate (95% CI) per type and scorer.</p>", _table_html(pretty.get("performance")),
        "<h2>Discrimination</h2>", figures["roc"].to_html(full_html=False, include_plotlyjs=False),
        "<h3>Paired DeLong tests</h3>", _table_html(pretty.get("auroc_tests")),
        "<h3>Operating points (model)</h3>", _table_html(pretty.get("operating_points")),
        "<h2>Confusion matrices</h2>", figures["confusion"].to_html(full_html=False, include_plotlyjs=False),
        _table_html(format_table(result.tables["confusion"]) if "confusion" in result.tables else None),
        "<h2>Calibration</h2>", figures["calibration"].to_html(full_html=False, include_plotlyjs=False),
        "<p>Calibration slope 1 and intercept 0 mean calibrated; slope < 1: predictions too extreme; "
        "intercept < 0: predictions too high on average.</p>",
        _table_html(pretty.get("calibration")),
        "<h2>Decision curves</h2>",
        "<p>Net benefit of acting (e.g. changing the cement technique) when the predicted risk is at least the "
        "threshold probability, against acting on everyone (treat all) or no one (treat none). A rule is worth "
        "using at the thresholds where its curve lies above both. Full table: tables/decision_curve.csv.</p>",
        figures["decision_curve"].to_html(full_html=False, include_plotlyjs=False),
        _table_html(pretty.get("decision_curve")),
    ]
    if "subgroups" in pretty:
        parts += ["<h2>Subgroups (per site and per level)</h2>", _table_html(pretty["subgroups"])]
    parts += ["<h2>Agreement</h2><h3>Kappa against the reference standard</h3>", _table_html(pretty.get("kappa_reference"))]
    if result.data.reads is not None:
        parts += [
            "<h3>Reader vs reader</h3>", _table_html(pretty.get("kappa_readers")),
            "<h3>Fleiss' kappa across readers (calls)</h3>", _table_html(pretty.get("fleiss")),
            "<h2>Model vs readers</h2><h3>Obuchowski-Rockette: random readers and cases, fixed readers, fixed cases</h3>",
            _table_html(pretty.get("mrmc")),
            "<h3>McNemar, paired calls</h3>", _table_html(pretty.get("mcnemar")),
        ]
    if result.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in result.notes) + "</ul>")
    parts += [
        "<h2>TRIPOD items covered</h2>", _table_html(pd.DataFrame(tripod_rows())),
        "<p>Not covered by this report (answer them from the study protocol): " + html.escape("; ".join(NOT_COVERED)) + ".</p>",
    ]
    if png_names:
        parts.append("<p>Static figures: " + ", ".join(f"<a href='figures/{n}.png'>{n}.png</a>" for n in png_names) + "; tables: tables/*.csv.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(result: EvaluationResult, out_dir: Path | str, pngs: bool = True) -> Path:
    """Write ``report.html``, ``tables/*.csv`` and (``pngs``) ``figures/*.png`` into ``out_dir``.

    Returns
    -------
    Path
        The HTML report.

    Raises
    ------
    EvaluationInputError
        ``out_dir`` exists and is not a folder, or cannot be written.
    """
    out = Path(out_dir)
    try:
        (out / "tables").mkdir(parents=True, exist_ok=True)
        for name, frame in result.tables.items():
            escape_frame(frame).to_csv(out / "tables" / f"{name}.csv", index=False)
        png_paths = write_pngs(result, out / "figures") if pngs else {}
        report = out / "report.html"
        report.write_text(render_html(result, tuple(png_paths)), encoding="utf-8")
    except (FileExistsError, NotADirectoryError, PermissionError) as exc:
        raise EvaluationInputError(f"cannot write the report into {out}: {exc.strerror or exc}.") from None
    logger.info("report written to %s", report)
    return report


def tables_zip(result: EvaluationResult) -> bytes:
    """All raw tables as ``<name>.csv`` files in one zip archive (for downloads)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, frame in result.tables.items():
            archive.writestr(f"{name}.csv", escape_frame(frame).to_csv(index=False))
    return buffer.getvalue()
