"""Incidence and oracle AUROC per leakage type on N synthetic cases of each site.

The labels depend only on the latent features (no rendering), so this runs in seconds. Besides
the oracle (the true probabilities: the best any model can do), it fits logistic models on the
features CT shows, the features MRI shows, and both (5-fold cross-validation): the ceiling of a
CT-only, an MRI-only and a fusion model.

Usage: python benchmarks/oracle_auroc.py [--cases 1000] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from bcl_core.phantom.oracle import LEAKAGE_TYPES, VISIBLE_IN, standardised_features
from bcl_core.phantom.sites import SITES, get_site
from bcl_core.phantom.spec import sample_case_labels
from bcl_core.stats import auroc_ci


def _ceiling(features: list[dict[str, float]], y: np.ndarray, keys: tuple[str, ...]) -> float:
    x = np.array([[f[k] for k in keys] for f in features])
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    scores = cross_val_predict(LogisticRegression(max_iter=1000), x, y, cv=folds,
                               method="predict_proba")[:, 1]
    return float(auroc_ci(y, scores)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    all_keys = tuple(standardised_features(sample_case_labels(get_site("internal"), 0, 0)
                                           .features))
    print(f"{args.cases} cases per site, seed {args.seed}\n")
    print("| site | type | incidence | oracle AUROC (95% CI) | CT-features | MRI-features | "
          "both |")
    print("|---|---|---|---|---|---|---|")
    for site in SITES:
        profile = get_site(site)
        draws = [sample_case_labels(profile, args.seed, i) for i in range(args.cases)]
        features = [standardised_features(d.features) for d in draws]
        any_leak = np.mean([max(d.labels.values()) for d in draws])
        for t in LEAKAGE_TYPES:
            y = np.array([d.labels[t] for d in draws])
            p = np.array([d.oracle[t] for d in draws])
            auc, lo, hi = auroc_ci(y, p)
            ct, mr, both = (_ceiling(features, y, keys)
                            for keys in (VISIBLE_IN["ct"], VISIBLE_IN["mr"], all_keys))
            print(f"| {site} | {t} | {y.mean():.3f} | {auc:.3f} ({lo:.3f}-{hi:.3f}) | "
                  f"{ct:.3f} | {mr:.3f} | {both:.3f} |")
        print(f"| {site} | any | {any_leak:.3f} | | | | |")


if __name__ == "__main__":
    main()
