"""Markdown tables of a fusion training run (``fusion.metrics.json``), for docs/models.md.

Usage::

    python benchmarks/fusion_report.py models/fusion.metrics.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TYPES = ("type1", "type2", "type3", "type4")


def _cell(row: dict, key: str) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if key == "auroc" and "auroc_ci" in row:
        lo, hi = row["auroc_ci"]
        return f"{value:.3f} ({lo:.3f}-{hi:.3f})"
    return f"{value:.3f}"


def main() -> int:
    metrics = json.loads(Path(sys.argv[1]).read_text())
    fusion = metrics["models"]["fusion"]
    splits = {"validation": fusion["validation"], **fusion.get("tests", {})}
    lines = []
    for name, split in splits.items():
        lines += [f"### {name} (n = {split['n']})", "",
                  "| type | prevalence | AUROC (95% CI, DeLong) | oracle AUROC | ratio | "
                  "sensitivity | specificity | ECE |", "|---|---|---|---|---|---|---|---|"]
        for t in TYPES:
            row = split[t]
            ratio = (f"{row['auroc'] / row['oracle_auroc']:.3f}"
                     if "auroc" in row and "oracle_auroc" in row else "-")
            lines.append(f"| {t} | {row['prevalence']:.3f} | {_cell(row, 'auroc')} | "
                         f"{_cell(row, 'oracle_auroc')} | {ratio} | "
                         f"{_cell(row, 'sensitivity')} | {_cell(row, 'specificity')} | "
                         f"{_cell(row, 'ece')} |")
        lines.append("")
    lines += ["### Ablation: mean AUROC of types I-IV", "",
              "| model | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    for variant, entry in metrics["models"].items():
        entry_splits = {"validation": entry["validation"], **entry.get("tests", {})}
        cells = []
        for name in splits:
            split = entry_splits.get(name, {})
            values = [split.get(t, {}).get("auroc") for t in TYPES]
            cells.append("-" if None in values else f"{sum(values) / len(values):.3f}")
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    lines += ["", "Thresholds (calibrated probability): "
              + ", ".join(f"{k} {v:.3f}" for k, v in fusion["thresholds"].items()),
              f"Training: {metrics['data']['n_train']} train / {metrics['data']['n_validation']}"
              f" validation cases; best epoch {fusion['best_epoch']}; "
              f"{fusion['train_seconds']:.0f} s; whole run {metrics['total_seconds']:.0f} s."]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
