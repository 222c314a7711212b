"""What a model can reach when the images do not show a latent feature: exact ceilings.

The oracle (:mod:`bcl_core.phantom.oracle`) knows every latent feature. A model that cannot see
one of them can do no better than the best score of the others. For a feature that is drawn
independently of all the others and enters a type's log-odds as one additive term (the
:data:`HIDEABLE` fields), that best score is easy to write down: the leakage probability given
the rest is ``E_h[sigmoid(a + b(h))]``, an increasing function of ``a``, the log-odds without
the hidden term. Ranking cases by ``a`` (the oracle's logit with the hidden feature set to any
constant) is therefore the best ranking there is, and its AUROC is the ceiling for a model that
does not see the feature. No torch, no rendering: labels and features only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from bcl_core.errors import PhantomError
from bcl_core.phantom.features import BONE_DENSITY_MEAN_HU, RiskFeatures
from bcl_core.phantom.oracle import oracle_logits

#: Latent fields (of :class:`~bcl_core.phantom.features.RiskFeatures`) drawn independently of
#: every other field and entering the log-odds additively, with the constant that stands in for
#: each when hidden (the population's typical value; any constant ranks cases the same).
#: Wall defects, breaches, endplates and clefts are left out: their presence goes with fracture
#: severity, so hiding them is not one additive term.
HIDEABLE: Mapping[str, float] = {
    "vein_channels": 1.4,
    "segmental_vein_mm": 4.0,
    "bone_density_hu": BONE_DENSITY_MEAN_HU,
    "oedema_extent": 0.6,
    "basivertebral_foramen_mm": 3.5,
}


def check_hideable(hidden: Sequence[str]) -> None:
    """Raise :class:`~bcl_core.errors.PhantomError` unless every name is in :data:`HIDEABLE`."""
    unknown = [name for name in hidden if name not in HIDEABLE]
    if unknown:
        raise PhantomError(f"cannot hide {', '.join(unknown)}: choose among "
                           f"{', '.join(HIDEABLE)} (features drawn independently of the rest).")


def hidden_logits(features: RiskFeatures, hidden: Sequence[str]) -> dict[str, float]:
    """Per-type oracle log-odds with the ``hidden`` fields replaced by their :data:`HIDEABLE`
    constants: the best score (as a ranking) of a model that does not see them.

    Examples
    --------
    >>> import numpy as np
    >>> from bcl_core.phantom.features import sample_features
    >>> from bcl_core.phantom.oracle import oracle_logits
    >>> f = dataclasses.replace(sample_features(np.random.default_rng(0)), vein_channels=3)
    >>> full, blind = oracle_logits(f), hidden_logits(f, ["vein_channels"])
    >>> round(full["type1"] - blind["type1"], 4)  # 1.2 x (3 - 1.4) / 1.1
    1.7455
    >>> full["type2"] == blind["type2"]
    True
    """
    check_hideable(hidden)
    # Only float fields are hideable (check_hideable), so the constants fit their fields.
    constants: dict[str, Any] = {name: HIDEABLE[name] for name in hidden}
    replaced = dataclasses.replace(features, **constants)
    return oracle_logits(replaced)
