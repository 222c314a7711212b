"""Decision curve analysis: net benefit worked by hand (Vickers & Elkin 2006, eq. 1)."""

from __future__ import annotations

import numpy as np
import pytest

from bcl_core.errors import StatsError
from bcl_core.stats import net_benefit_of_calls, net_benefit_of_model, net_benefit_treat_all

# 10 cases, 3 with the outcome.
Y = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
P = np.array([0.9, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1, 0.1, 0.05, 0.05])
CALLS = np.array([1, 0, 1, 1, 0, 0, 0, 0, 0, 0])


def test_model_net_benefit_by_hand() -> None:
    # pt = 0.25: act on p >= 0.25 -> 0.9, 0.6, 0.3 (events) and 0.7, 0.4: NB = 3/10 - 2/10 * 1/3.
    # pt = 0.5: 0.9, 0.6 and 0.7: NB = 2/10 - 1/10 * 1. pt = 0.3: p = 0.3 counts (act at >= pt):
    # 3/10 - 2/10 * 3/7. pt = 0.95: nobody, NB = 0.
    nb = net_benefit_of_model(Y, P, [0.25, 0.3, 0.5, 0.95])
    np.testing.assert_allclose(nb, [0.3 - 0.2 / 3, 0.3 - 0.2 * 3 / 7, 0.1, 0.0], atol=1e-15)


def test_treat_all_and_calls_by_hand() -> None:
    # Treat all: prevalence 0.3, NB = 0.3 - 0.7 pt / (1 - pt). Calls: TP 2, FP 1.
    pt = np.array([0.1, 0.25, 0.5])
    np.testing.assert_allclose(net_benefit_treat_all(Y, pt), [0.3 - 0.7 / 9, 0.3 - 0.7 / 3, 0.3 - 0.7], atol=1e-15)
    np.testing.assert_allclose(net_benefit_of_calls(Y, CALLS, pt), [0.2 - 0.1 / 9, 0.2 - 0.1 / 3, 0.1], atol=1e-15)


def test_model_at_low_threshold_equals_treat_all() -> None:
    # Below every probability the model acts on everyone.
    assert net_benefit_of_model(Y, P, [0.04])[0] == pytest.approx(net_benefit_treat_all(Y, [0.04])[0])


@pytest.mark.parametrize("bad", [[0.0], [1.0], [-0.2], []])
def test_thresholds_must_be_inside_unit_interval(bad) -> None:
    with pytest.raises(StatsError, match="strictly between 0 and 1"):
        net_benefit_of_model(Y, P, bad)
