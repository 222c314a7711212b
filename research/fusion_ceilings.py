"""What the fusion bars ask of a model, against what the generator's own oracle can reach.

Usage (the figures in docs/research/fusion_ceilings.md came from exactly this; seconds, no rendering)::

    python research/fusion_ceilings.py models/fusion.metrics.json --hide vein_channels

From a training run's metrics document it rebuilds the run's synthetic splits (features and
labels only: the same sites, seeds and case counts, and the same seeded 9:1 validation split)
and prints per split and type:

* the oracle AUROC and the bar the issue sets on it (0.90 x oracle);
* the ceiling of a model that does not see the ``--hide`` features
  (:mod:`bcl_core.phantom.ceilings`: exact for those features);
* the oracle's own sensitivity and specificity at the thresholds the protocol's rule picks on
  the validation split (Youden for Types I-III, the highest threshold keeping sensitivity at or
  above 0.95 for Type IV; the rule the model's thresholds come from);
* the model's AUROC, sensitivity and specificity from the metrics document.

``--draws N`` adds how the rule's Type IV threshold varies with the validation set: the
oracle's Type IV sensitivity on each test split over N fresh validation sets of the run's size
from the development site (seeds 10,000 on), with the share of draws that reach the issue's
0.90. ``--json FILE`` also writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bcl_core.errors import BCLError
from bcl_core.leakage import LEAKAGE_TYPES
from bcl_core.phantom.ceilings import HIDEABLE, check_hideable, hidden_logits
from bcl_core.phantom.sites import get_site
from bcl_core.phantom.spec import sample_case_labels
from bcl_core.stats import auroc_ci, confusion_counts
from bcl_core.train.fusion import choose_thresholds
from bcl_core.train.fusion_run import split_indices

logger = logging.getLogger("fusion_ceilings")
#: The issue's bars: each type's external AUROC at least this fraction of the oracle's, and
#: Type IV sensitivity at least :data:`TYPE4_BAR` at the shipped threshold.
BAR_FRACTION = 0.90
TYPE4_BAR = 0.90
#: First development-site seed of the fresh validation sets of ``--draws``.
FIRST_DRAW_SEED = 10_000


def split_arrays(source: Mapping[str, Any], hidden: Sequence[str]) -> dict[str, np.ndarray]:
    """Labels, oracle probabilities and hidden-feature logits ``(N, 4)`` of a synthetic split."""
    site = get_site(source["synthetic_site"])
    draws = [sample_case_labels(site, int(source["seed"]), i) for i in range(int(source["cases"]))]
    return {
        "labels": np.array([[d.labels[t] for t in LEAKAGE_TYPES] for d in draws], np.uint8),
        "oracle": np.array([[d.oracle[t] for t in LEAKAGE_TYPES] for d in draws]),
        "hidden": np.array([[hidden_logits(d.features, hidden)[t] for t in LEAKAGE_TYPES]
                            for d in draws]),
    }


def test_splits(metrics: Mapping[str, Any], hidden: Sequence[str]
                ) -> dict[str, dict[str, np.ndarray]]:
    """:func:`split_arrays` of each synthetic test split of the run."""
    return {name: split_arrays(source, hidden)
            for name, source in metrics["data"].get("tests", {}).items()
            if "synthetic_site" in source}


def operating_point(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """Sensitivity and specificity of ``scores >= threshold``, with the counts behind them."""
    counts = confusion_counts(labels, scores >= threshold)
    positives, negatives = counts.tp + counts.fn, counts.tn + counts.fp
    return {"sensitivity": counts.tp / positives if positives else float("nan"),
            "found": counts.tp, "positives": positives,
            "specificity": counts.tn / negatives if negatives else float("nan")}


def ceilings(metrics: Mapping[str, Any], hidden: Sequence[str], model: str = "fusion",
             tests: Mapping[str, dict[str, np.ndarray]] | None = None) -> dict[str, Any]:
    """The figures this script prints, per split (``validation`` and each test) and type.

    ``tests``: :func:`test_splits` of ``metrics`` with ``hidden``, when already built.
    """
    data = metrics["data"]
    development = data["development"]
    if "synthetic_site" not in development:
        raise SystemExit("ceilings need synthetic splits: this run trained on a folder of cases.")
    n_cases = int(development["cases"])
    dev = split_arrays(development, hidden)
    _, val_index = split_indices(n_cases, data["n_validation"] / n_cases,
                                 int(metrics["training"]["seed"]))
    splits = {"validation": {k: v[val_index] for k, v in dev.items()}}
    recorded = data.get("prevalence", {}).get("validation")
    rebuilt = splits["validation"]["labels"].mean(axis=0).round(4).tolist()
    if recorded is not None and rebuilt != recorded[:len(LEAKAGE_TYPES)]:
        logger.warning("validation prevalence %s differs from the run's %s: the run dropped "
                       "cases, so this split is not the run's", rebuilt, recorded)
    splits.update(test_splits(metrics, hidden) if tests is None else tests)
    thresholds = choose_thresholds(splits["validation"]["oracle"],
                                   splits["validation"]["labels"], names=LEAKAGE_TYPES)
    entry = metrics["models"][model]
    out: dict[str, Any] = {"hidden": list(hidden), "model": model,
                           "oracle_thresholds": thresholds, "splits": {}}
    for name, arrays in splits.items():
        measured = entry["validation"] if name == "validation" else entry["tests"].get(name, {})
        rows = {}
        for h, t in enumerate(LEAKAGE_TYPES):
            y = arrays["labels"][:, h]
            oracle_auroc = float(auroc_ci(y, arrays["oracle"][:, h])[0])
            figures = measured.get(t, {})
            rows[t] = {
                "oracle_auroc": oracle_auroc,
                "bar": BAR_FRACTION * oracle_auroc,
                "ceiling_auroc": float(auroc_ci(y, arrays["hidden"][:, h])[0]),
                "oracle_at_rule": operating_point(y, arrays["oracle"][:, h], thresholds[t]),
                "model": {k: figures.get(k) for k in ("auroc", "sensitivity", "specificity")},
            }
        out["splits"][name] = rows
    return out


def type4_draws(metrics: Mapping[str, Any], draws: int,
                tests: Mapping[str, dict[str, np.ndarray]] | None = None
                ) -> dict[str, dict[str, float]]:
    """The oracle's Type IV sensitivity per test split over ``draws`` fresh validation sets.

    Each draw is a new set of the run's validation size from the development site; the rule
    (highest threshold keeping validation sensitivity >= 0.95) picks the oracle's threshold on it.
    ``tests``: :func:`test_splits` of ``metrics``, when already built.
    """
    data = metrics["data"]
    size = int(data["n_validation"])
    site = data["development"]["synthetic_site"]
    tests = test_splits(metrics, ()) if tests is None else tests
    h = LEAKAGE_TYPES.index("type4")
    found: dict[str, list[float]] = {name: [] for name in tests}
    for k in range(draws):
        val = split_arrays({"synthetic_site": site, "seed": FIRST_DRAW_SEED + k, "cases": size},
                           ())
        threshold = choose_thresholds(val["oracle"], val["labels"], names=LEAKAGE_TYPES)["type4"]
        for name, arrays in tests.items():
            point = operating_point(arrays["labels"][:, h], arrays["oracle"][:, h], threshold)
            found[name].append(point["sensitivity"])
    return {name: {"draws": draws, "median_sensitivity": float(np.median(values)),
                   "share_reaching_bar": float(np.mean(np.asarray(values) >= TYPE4_BAR - 1e-12))}
            for name, values in found.items()}


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def table(result: Mapping[str, Any]) -> str:
    """Markdown table of :func:`ceilings`."""
    hidden = ", ".join(result["hidden"]) or "nothing"
    lines = [f"Ceilings hiding {hidden}; model: {result['model']}", "",
             "| split | type | oracle AUROC | bar (0.90 x) | ceiling without hidden | model AUROC "
             "| oracle sens (found) / spec at rule | model sens / spec |",
             "|---|---|---|---|---|---|---|---|"]
    for split, rows in result["splits"].items():
        for t, r in rows.items():
            o, m = r["oracle_at_rule"], r["model"]
            lines.append(
                f"| {split} | {t} | {r['oracle_auroc']:.3f} | {r['bar']:.3f} | "
                f"{r['ceiling_auroc']:.3f} | {_cell(m['auroc'])} | {o['sensitivity']:.3f} "
                f"({o['found']}/{o['positives']}) / {o['specificity']:.3f} | "
                f"{_cell(m['sensitivity'])} / {_cell(m['specificity'])} |")
    for split, draw in result.get("type4_draws", {}).items():
        lines.append(f"\n{split}: oracle Type IV sensitivity over {draw['draws']} fresh "
                     f"validation sets: median {draw['median_sensitivity']:.3f}, "
                     f">= {TYPE4_BAR:.2f} in {draw['share_reaching_bar']:.0%} of them")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("metrics", type=Path, help="a training run's fusion.metrics.json")
    parser.add_argument("--hide", default="vein_channels",
                        help=f"comma-separated latent fields to hide, among {','.join(HIDEABLE)}"
                             " ('' for none)")
    parser.add_argument("--model", default="fusion", help="fusion, ct_only or mr_only")
    parser.add_argument("--draws", type=int, default=0,
                        help="fresh validation sets for the Type IV rule's spread (0: none)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    hidden = [name for name in args.hide.split(",") if name]
    try:
        check_hideable(hidden)
        metrics = json.loads(args.metrics.read_text())
        if args.model not in metrics.get("models", {}):
            parser.error(f"{args.metrics} has no model {args.model!r}")
        tests = test_splits(metrics, hidden)
        result = ceilings(metrics, hidden, args.model, tests)
        if args.draws > 0:
            result["type4_draws"] = type4_draws(metrics, args.draws, tests)
    except BCLError as exc:
        parser.error(str(exc))
    except (OSError, ValueError, KeyError) as exc:
        parser.error(f"cannot read {args.metrics}: {exc}")
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    sys.exit(main())
