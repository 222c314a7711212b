"""Ceilings of a model that does not see a latent feature (:mod:`bcl_core.phantom.ceilings`).

The research script that reports them is tested in ``test_research_ceilings.py``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.stats import poisson, spearmanr

from bcl_core.errors import PhantomError
from bcl_core.phantom.ceilings import HIDEABLE, check_hideable, hidden_logits
from bcl_core.phantom.features import RiskFeatures, sample_features
from bcl_core.phantom.oracle import oracle_logits, oracle_probabilities


def _features(**changes: object) -> RiskFeatures:
    return dataclasses.replace(sample_features(np.random.default_rng(5)), **changes)


def test_hiding_the_channel_count_removes_its_term_only() -> None:
    # docs/phantom.md: Type I has 1.2 x veins, veins = (channels - 1.4) / 1.1 + ...; the hidden
    # count stands at 1.4, so with 4 channels the Type I log-odds drop by 1.2 x 2.6 / 1.1.
    f = _features(vein_channels=4)
    full, blind = oracle_logits(f), hidden_logits(f, ["vein_channels"])
    assert full["type1"] - blind["type1"] == pytest.approx(1.2 * 2.6 / 1.1, abs=1e-12)
    for t in ("type2", "type3", "type4"):
        assert blind[t] == full[t]


def test_hiding_density_and_oedema_adds_their_terms() -> None:
    # Type I: 0.9 x (85 - density) / 25 and 1.1 x (oedema - 0.6) / 0.18; Type II: 1.0 x the
    # oedema term; Type IV: 0.9 x the oedema term (docs/phantom.md).
    f = _features(bone_density_hu=60.0, oedema_extent=0.78)
    full, blind = oracle_logits(f), hidden_logits(f, ["bone_density_hu", "oedema_extent"])
    assert full["type1"] - blind["type1"] == pytest.approx(0.9 * 1.0 + 1.1 * 1.0, abs=1e-9)
    assert full["type2"] - blind["type2"] == pytest.approx(1.0, abs=1e-9)
    assert full["type4"] - blind["type4"] == pytest.approx(0.9, abs=1e-9)


def test_logits_and_probabilities_agree() -> None:
    f = _features()
    probabilities = oracle_probabilities(f)
    for t, logit in oracle_logits(f).items():
        assert probabilities[t] == pytest.approx(1 / (1 + np.exp(-logit)), abs=1e-12)


def test_unknown_or_correlated_fields_cannot_be_hidden() -> None:
    with pytest.raises(PhantomError, match="wall_defect_mm"):
        check_hideable(["vein_channels", "wall_defect_mm"])
    with pytest.raises(PhantomError, match="choose among"):
        hidden_logits(_features(), ["nonsense"])


def test_hidden_logit_ranks_as_the_probability_given_the_rest() -> None:
    # The Bayes probability without the count is the mean of the oracle probability over the
    # count's distribution (Poisson(1.4) capped at 4, independent of the rest): it must rank
    # cases exactly as the hidden logit does.
    pmf = poisson.pmf(np.arange(4), 1.4)
    pmf = np.append(pmf, 1 - pmf.sum())
    rng = np.random.default_rng(11)
    blind, bayes = [], []
    for _ in range(300):
        f = sample_features(rng)
        blind.append(hidden_logits(f, ["vein_channels"])["type1"])
        bayes.append(sum(p * oracle_probabilities(dataclasses.replace(f, vein_channels=k))["type1"]
                         for k, p in enumerate(pmf)))
    assert spearmanr(blind, bayes)[0] == pytest.approx(1.0, abs=1e-12)


def test_hideable_fields_are_drawn_independently() -> None:
    # The ceiling is exact only for fields independent of the rest (the generator's design).
    rng = np.random.default_rng(2)
    draws = [sample_features(rng) for _ in range(3000)]
    others = ["height_loss", "cleft_mm", "endplate_disruption_mm", "wall_defect_mm",
              "posterior_breach_mm", *HIDEABLE]
    for name in HIDEABLE:
        x = [getattr(d, name) for d in draws]
        for other in others:
            if other != name:
                assert abs(spearmanr(x, [getattr(d, other) for d in draws])[0]) < 0.06, other


def test_split_indices_partition_the_cases() -> None:
    from bcl_core.train.fusion_run import split_indices

    train, val = split_indices(103, 0.1, 0)
    assert len(val) == 10 and len(train) == 93
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(103))
    assert np.array_equal(split_indices(103, 0.1, 0)[1], val)
    assert not np.array_equal(split_indices(103, 0.1, 1)[1], val)
