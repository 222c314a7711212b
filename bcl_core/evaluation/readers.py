"""Reader tables: each reader against the reference, model vs reader tests, reader agreement, MRMC.

A reader's ``confidence`` (0-100, the reader's probability that this type of leakage occurs) is
the reader's ROC score; ``call`` is the binary call. Per-reader metrics use the cases that
reader read; tests that need every reader on the same cases (Fleiss, Obuchowski-Rockette) use
the cases read by all readers for that type, and the table says how many.
"""

from __future__ import annotations

import itertools

import numpy as np

from bcl_core.errors import StatsError
from bcl_core.evaluation import schema
from bcl_core.evaluation.loading import EvaluationData, confidence_scale, reader_matrix
from bcl_core.evaluation.scorers import EvaluationSettings, Rows, merge_rows, scorer_rows
from bcl_core.stats import (
    ANALYSES,
    DEFAULT_THRESHOLDS,
    delong_test,
    fleiss_kappa_bootstrap,
    kappa_ci,
    mcnemar_test,
    model_vs_readers,
    net_benefit_of_calls,
)
from bcl_core.stats.agreement import KappaWeights


def _model_vs_reader(t: str, reader: str, y: np.ndarray, model_probs: np.ndarray, model_calls: np.ndarray,
                     confidence: np.ndarray, calls: np.ndarray, notes: list[str]) -> Rows:
    rows: Rows = {"auroc_tests": [], "mcnemar": []}
    try:
        z, p = delong_test(y, model_probs, confidence)
        rows["auroc_tests"].append({"type": t, "scorer_a": schema.MODEL, "scorer_b": reader, "z": z, "p": p,
                                    "n_cases": y.size, "test": "paired DeLong, two-sided"})
    except StatsError as exc:
        notes.append(f"DeLong model vs {reader} on {t} not computed: {exc}")
    model_right = model_calls == y
    reader_right = calls == y
    for measure, mask in (("sensitivity", y == 1), ("specificity", y == 0)):
        res = mcnemar_test(model_right[mask], reader_right[mask])
        rows["mcnemar"].append({"type": t, "reader": reader, "measure": measure, "n_cases": int(mask.sum()),
                                "model_only_correct": res.b, "reader_only_correct": res.c,
                                "p_exact": res.p_exact, "p_mid": res.p_mid})
    return rows


def _agreement(t: str, readers: tuple[str, ...], calls: np.ndarray, confidence: np.ndarray,
               settings: EvaluationSettings, notes: list[str]) -> Rows:
    """Pairwise Cohen kappas and Fleiss' kappa on the cases every reader read."""
    rows: Rows = {"kappa_readers": [], "fleiss": []}
    scale = confidence_scale(confidence)
    analyses: tuple[tuple[str, np.ndarray, KappaWeights, tuple[int, ...]], ...] = (
        ("call", calls, "linear", schema.CALL_LEVELS),
        ("confidence_5pt", scale, "linear", schema.CONFIDENCE_LEVELS),
        ("confidence_5pt", scale, "quadratic", schema.CONFIDENCE_LEVELS))
    for i, j in itertools.combinations(range(len(readers)), 2):
        for scale_name, values, weights, levels in analyses:
            try:
                kappa, lo, hi = kappa_ci(values[i], values[j], weights, settings.level, categories=levels)
            except StatsError as exc:
                notes.append(f"kappa {readers[i]} vs {readers[j]} ({scale_name}) on {t}: {exc}")
                continue
            rows["kappa_readers"].append({"type": t, "reader_a": readers[i], "reader_b": readers[j], "scale": scale_name,
                                          "weights": weights, "kappa": kappa, "lo": lo, "hi": hi, "n_cases": values.shape[1]})
    try:
        fleiss = fleiss_kappa_bootstrap(calls.T.astype(int), settings.level, settings.n_resamples, settings.seed)
    except StatsError as exc:
        notes.append(f"Fleiss' kappa on {t} not computed: {exc}")
        return rows
    rows["fleiss"].append({"type": t, "n_cases": calls.shape[1], "n_readers": len(readers), "kappa": fleiss.kappa,
                           "lo": fleiss.lo, "hi": fleiss.hi, "n_valid_replicates": fleiss.n_valid,
                           "interval_reliable": fleiss.reliable,
                           "method": f"case bootstrap percentile (B={fleiss.n_resamples}, {fleiss.n_valid} defined)"})
    if not fleiss.reliable:
        notes.append(
            f"Fleiss' kappa on {t}: the interval is unreliable: only {fleiss.n_valid} of {fleiss.n_resamples} "
            "bootstrap replicates had a defined kappa (in the others every reader made the same call on every "
            "case drawn); more cases with disagreement are needed."
        )
    return rows


def _mrmc(t: str, y: np.ndarray, model_probs: np.ndarray, confidence: np.ndarray,
          settings: EvaluationSettings, notes: list[str]) -> Rows:
    """Model vs readers by Obuchowski-Rockette in its three factor settings (one row each)."""
    rows: Rows = {"mrmc": []}
    for readers, cases in ANALYSES:
        try:
            res = model_vs_readers(y, model_probs, confidence, settings.level, settings.mrmc_covariance, readers, cases)
        except StatsError as exc:
            notes.append(f"Obuchowski-Rockette model vs readers ({ANALYSES[(readers, cases)]}) on {t} not computed: {exc}")
            continue
        readers_lo, readers_hi = res.ci_per_test[1]
        rows["mrmc"].append({
            "type": t, "analysis": res.analysis, "covariance": "not used" if cases == "fixed" else res.covariance,
            "n_cases": y.size, "n_readers": confidence.shape[0], "model_auc": res.mean_aucs[0],
            "readers_mean_auc": res.mean_aucs[1], "readers_lo": readers_lo, "readers_hi": readers_hi,
            "difference": res.difference, "lo": res.difference_lo, "hi": res.difference_hi, "test": res.test,
            "f": res.f_statistic, "chi_square": res.chi_square, "df1": res.df_numerator, "ddf": res.df_denominator,
            "p": res.p_value,
        })
    return rows


def _reader_decision_curves(t: str, reader: str, y: np.ndarray, calls: np.ndarray) -> Rows:
    net_benefit = net_benefit_of_calls(y, calls, DEFAULT_THRESHOLDS)
    return {"decision_curve": [{"type": t, "scorer": reader, "threshold": float(pt), "net_benefit": float(nb)}
                               for pt, nb in zip(DEFAULT_THRESHOLDS, net_benefit, strict=True)]}


def reader_tables(data: EvaluationData, settings: EvaluationSettings, notes: list[str]) -> Rows:
    """Every reader-related table, per type."""
    out: Rows = {}
    readers = data.reader_ids
    for t in schema.TYPES:
        y_all = data.labels[t].to_numpy()
        probs_all = data.probabilities[t].to_numpy()
        model_calls_all = data.calls[t].to_numpy()
        calls = reader_matrix(data, t, "call").to_numpy()
        confidence = reader_matrix(data, t, "confidence").to_numpy()
        for r, reader in enumerate(readers):
            read = np.isfinite(calls[r])
            if read.sum() < 2:
                continue
            y, c, conf = y_all[read], calls[r, read].astype(int), confidence[r, read]
            merge_rows(out, scorer_rows(reader, t, y, c, conf, settings, notes))
            merge_rows(out, _model_vs_reader(t, reader, y, probs_all[read], model_calls_all[read], conf, c, notes))
            merge_rows(out, _reader_decision_curves(t, reader, y, c))
        complete = np.isfinite(calls).all(axis=0)
        if len(readers) >= 2 and complete.sum() >= 2:
            merge_rows(out, _agreement(t, readers, calls[:, complete].astype(int), confidence[:, complete], settings, notes))
            merge_rows(out, _mrmc(t, y_all[complete], probs_all[complete], confidence[:, complete], settings, notes))
        elif len(readers) >= 2:
            notes.append(f"no cases of {t} were read by all readers: agreement and MRMC skipped.")
    return out
