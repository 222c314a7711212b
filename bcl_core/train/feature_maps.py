"""Where the small fracture features sit in a synthetic case's CT crop (dense training targets).

Types II and IV hinge on a cortical wall defect and a posterior-wall breach a few millimetres
across, Type I on how many venous channels (2-3 mm tubes) run into the body: a few dozen of the
crop's 110,592 voxels each. Case labels alone (1 bit per type per case)
do not teach a CNN to find them. For synthetic cases the generator can say where they are: it
renders the case twice, with the feature and without it (same anatomy, same noise), and both
renders go through the classifier's crop step with the same mask. Voxels whose normalised value
changes by more than :data:`CHANGE_THRESHOLD` are the feature's footprint. The fusion model's
feature detector (:class:`bcl_core.nets.fusion.FusionNet`, ``feature_maps``) learns these maps;
a hospital's own data has no such maps and trains from labels only. No torch here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bcl_core.errors import ModelError
from bcl_core.phantom.features import RiskFeatures
from bcl_core.phantom.spec import CaseSpec
from bcl_core.predict.pipeline import classifier_input, roi_settings
from bcl_core.train.fusion_inputs import settings_sidecar
from bcl_core.volume import Volume

#: Feature -> (whether a case has it, the fracture-geometry field that holds it, the field's
#: value without it).
FEATURES: Mapping[str, tuple[Callable[[RiskFeatures], bool], str, Any]] = {
    "wall_defect": (lambda f: f.wall_defect_mm > 0, "wall_defect_center", None),
    "posterior_breach": (lambda f: f.posterior_breach_mm > 0, "breach_center", None),
    "vein_channels": (lambda f: f.vein_channels > 0, "channels", ()),
}
#: The mapped features, in channel order (new features are appended, so a crop cache made with
#: the first ones gets only the new channels computed).
FEATURE_MAP_NAMES: tuple[str, ...] = tuple(FEATURES)
#: The features the shipped recipe's detector maps (the venous channels did not help:
#: docs/research/fusion_features.md).
SHIPPED_FEATURE_MAPS: tuple[str, ...] = ("wall_defect", "posterior_breach")
#: Change of a crop voxel (normalised units; CT: 1 = 1,500 HU) that marks it as the feature's:
#: 45 HU, about 1.5 times the internal site's CT noise SD, which the paired renders share.
CHANGE_THRESHOLD = 0.03


def map_channel_index(names: Sequence[str]) -> list[int]:
    """The crop cache's map channels (:data:`FEATURE_MAP_NAMES` order) of the features ``names``.

    Raises
    ------
    ModelError
        If a name is not a mapped feature or comes twice.
    """
    if any(name not in FEATURE_MAP_NAMES for name in names) or len(set(names)) != len(names):
        raise ModelError(f"give distinct names among {','.join(FEATURE_MAP_NAMES)}, not "
                         f"{','.join(names)}.")
    return [FEATURE_MAP_NAMES.index(name) for name in names]


def without(spec: CaseSpec, feature: str) -> CaseSpec:
    """The same case with ``feature`` left out of the rendered geometry."""
    _, field, removed = FEATURES[feature]
    return dataclasses.replace(spec, fracture=dataclasses.replace(spec.fracture,
                                                                  **{field: removed}))


def normalised_crop(series: Volume, mask: Volume, name: str, settings: Mapping[str, Any]
                    ) -> NDArray[np.float32]:
    """The normalised ``(k, j, i)`` classifier crop of ``series``, boxed with ``mask``."""
    sidecar = settings_sidecar(settings)
    values, _ = classifier_input(series, mask, sidecar.inputs[name], roi_settings(sidecar, name))
    return values[0, 0]


def feature_masks(spec: CaseSpec, mask: Volume, crop: NDArray[np.float32],
                  settings: Mapping[str, Any], compact: bool = True,
                  names: Sequence[str] = FEATURE_MAP_NAMES) -> NDArray[np.uint8]:
    """``(len(names), k, j, i)`` 0/1: the CT crop voxels each feature of ``names`` changes.

    ``mask`` and ``crop`` are the target mask and normalised CT crop of the case as rendered
    (with every feature); a feature the case lacks gives an empty map.
    """
    from bcl_core.phantom.ct import render_ct

    out = np.zeros((len(names), *crop.shape), np.uint8)
    for k, name in enumerate(names):
        if FEATURES[name][0](spec.features):
            other = normalised_crop(render_ct(without(spec, name), compact)[0], mask, "ct",
                                    settings)
            out[k] = np.abs(crop - other) > CHANGE_THRESHOLD
    return out


def phantom_feature_masks(site: str, seed: int, index: int, settings: Mapping[str, Any],
                          compact: bool = True, names: Sequence[str] = FEATURE_MAP_NAMES
                          ) -> NDArray[np.uint8]:
    """:func:`feature_masks` of synthetic case ``index`` of ``(site, seed)``, rendered here.

    Renders nothing when the case has none of the features (most cases).
    """
    from bcl_core.phantom.ct import render_ct
    from bcl_core.phantom.spec import sample_case_spec

    spec = sample_case_spec(site, seed, index)
    size = settings["inputs"]["ct"]["size_ijk"][::-1]
    if not any(FEATURES[name][0](spec.features) for name in names):
        return np.zeros((len(names), *size), np.uint8)
    series, mask = render_ct(spec, compact)
    return feature_masks(spec, mask, normalised_crop(series, mask, "ct", settings), settings,
                         compact, names)
