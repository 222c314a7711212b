"""The consult page's heat maps for the browser viewer: masked once per result, kept per session.

UI glue only: the masking is :func:`bcl_core.clinic.viewer_data.masked_heat`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import streamlit as st

from bcl_core.clinic.consult import ROLE_NAMES, ConsultCase, Role
from bcl_core.clinic.viewer_data import HeatLayer, masked_heat
from bcl_core.errors import BCLError
from bcl_core.leakage import TYPE_LABELS
from pages.components.browser_viewer import HeatOverlay

logger = logging.getLogger(__name__)

#: Session-state key: (id of the result, {role: {type: HeatLayer}}) of this session's result.
HEAT_LAYERS = "consult_heat_layers"


def heat_layers(consult: ConsultCase, role: Role) -> Mapping[str, HeatLayer]:
    """Every type's heat map of ``role``, kept inside the vertebra (computed once per result)."""
    result = consult.result
    if result is None or consult.case is None or role not in consult.case.volumes:
        return {}
    cached = st.session_state.get(HEAT_LAYERS)
    if cached is None or cached[0] is not result:
        cached = (result, {})
        st.session_state[HEAT_LAYERS] = cached
    layers: dict[Role, Mapping[str, HeatLayer]] = cached[1]
    if role not in layers:
        found = getattr(result, role)
        volume = consult.case.volumes[role]
        try:
            layers[role] = {name: masked_heat(volume, heat, found.mask)
                            for name, heat in found.maps.items()}
        except BCLError as exc:  # a map from another grid: show the image without it
            logger.info("heat maps not shown (%s)", type(exc).__name__)
            layers[role] = {}
    return layers[role]


def heat_overlay(consult: ConsultCase, role: Role, head: str) -> HeatOverlay | None:
    """What the viewer of ``role`` draws for type ``head`` (None: no result or no map)."""
    layers = heat_layers(consult, role)
    if head not in layers:
        return None
    return HeatOverlay(layers, head, TYPE_LABELS[head], ROLE_NAMES[role])


def empty_map_messages(consult: ConsultCase, head: str) -> list[str]:
    """Plain messages for each series that contributed nothing to type ``head``."""
    messages = []
    for role in ROLE_NAMES:
        layer = heat_layers(consult, role).get(head)
        if layer is not None and layer.empty:
            messages.append(f"The {ROLE_NAMES[role]} contributed nothing to {TYPE_LABELS[head]}: "
                            "its heat map is empty, so none is drawn on it.")
    return messages
