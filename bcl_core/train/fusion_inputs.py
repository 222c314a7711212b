"""What the fusion trainer and its data preparation share: the classifier input settings and
the cached crop set.

:mod:`bcl_core.train.fusion_data` makes crops, :mod:`bcl_core.train.feature_maps` makes the
feature maps inside them, :mod:`bcl_core.train.fusion` trains on them; all three read the settings
and the crop set from here, so none of them imports another in a circle. No torch here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bcl_core.errors import ModelError
from bcl_core.leakage import HEAD_NAMES
from bcl_core.predict.sidecar import Sidecar

#: Classifier input grids and ROI settings; training copies them into the fusion sidecar, which
#: is then the only place inference reads them from.
#: Margin (LPS x, y, z mm) around the mask's contours: keeps the paravertebral vessels and the
#: canal (the protocol's rule). Written into the fusion sidecar, which inference reads.
ROI_MARGIN_MM: tuple[float, float, float] = (10.0, 10.0, 6.0)

FUSION_INPUT_SETTINGS: Mapping[str, Any] = {
    "input_names": ["ct", "mr"],
    # 1.25 mm voxels: the features that decide types II-IV (a 5-10 mm cortical defect, a
    # posterior-wall breach, an endplate gap) are only a voxel or two at 2 mm. The 60 mm grid is
    # centred on the vertebral body: it holds the body, its walls, the
    # segmental veins, the canal and the adjacent endplates (the posterior elements are cut).
    "inputs": {
        "ct": {"modality": "CT", "spacing_mm": [1.25, 1.25, 1.25], "size_ijk": [48, 48, 48],
               "normalisation": {"kind": "window", "low": -250.0, "high": 1250.0}},
        "mr": {"modality": "MR", "spacing_mm": [1.25, 1.25, 1.25], "size_ijk": [48, 48, 48],
               "normalisation": {"kind": "percentile", "low": 1.0, "high": 99.5}},
    },
    # Margins (LPS x, y, z mm) of the box around the mask's contours.
    "roi_per_input": {
        "ct": {"margin_mm": list(ROI_MARGIN_MM), "plane": "axial", "centre": "body"},
        "mr": {"margin_mm": list(ROI_MARGIN_MM), "plane": "sagittal", "centre": "body"},
    },
    "heads": list(HEAD_NAMES),
}


def settings_key(settings: Mapping[str, Any] = FUSION_INPUT_SETTINGS) -> str:
    """Canonical JSON of input settings: a crop cache is valid only for the settings it was made
    with."""
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def settings_sidecar(settings: Mapping[str, Any] = FUSION_INPUT_SETTINGS) -> Sidecar:
    """The input settings parsed as an (untrained) fusion sidecar, with the same validation."""
    data = {
        "schema_version": 1, "name": "fusion", "task": "classification", "version": "untrained",
        "onnx_file": "fusion.onnx", "sha256": "", "output_names": [], "thresholds": {},
        **settings,
    }
    return Sidecar.from_dict(data, "fusion.json")


@dataclass
class CropSet:
    """Cached classifier inputs of one data split.

    ``ct`` and ``mr`` are normalised crops ``(N, D, H, W)`` on the classifier grid; ``labels``
    is ``(N, len(HEAD_NAMES))`` 0/1 (types I-IV then "any"); ``oracle`` the generator's true
    per-type probabilities ``(N, 4)`` when known (synthetic data), else empty; ``latent`` the
    generator's standardised latent features ``(N, F)`` (auxiliary targets), else empty;
    ``maps`` the CT crop voxels each mapped feature changes ``(N, K, D, H, W)`` 0/1
    (:mod:`bcl_core.train.feature_maps`; synthetic data), else empty.
    """

    case_ids: list[str]
    ct: NDArray[np.float32]
    mr: NDArray[np.float32]
    labels: NDArray[np.uint8]
    oracle: NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    latent: NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    #: The input settings the crops were made with (canonical JSON; "" when unknown).
    settings: str = ""
    maps: NDArray[np.uint8] = field(default_factory=lambda: np.zeros((0,), np.uint8))

    def __len__(self) -> int:
        return len(self.case_ids)

    def subset(self, index: Sequence[int] | NDArray[np.int64]) -> CropSet:
        """The cases at ``index``, in that order."""
        idx = np.asarray(index, dtype=np.int64)
        oracle = self.oracle[idx] if len(self.oracle) else self.oracle
        latent = self.latent[idx] if len(self.latent) else self.latent
        maps = self.maps[idx] if len(self.maps) else self.maps
        return CropSet([self.case_ids[i] for i in idx], self.ct[idx], self.mr[idx],
                       self.labels[idx], oracle, latent, self.settings, maps)

    @classmethod
    def concat(cls, parts: Sequence[CropSet]) -> CropSet:
        """The cases of ``parts`` one after the other (all made with the same settings)."""
        if not parts:
            raise ModelError("no crop sets to join.")
        if len({part.settings for part in parts}) > 1:
            raise ModelError("crop sets made with different input settings cannot be joined.")

        def joined(name: str) -> NDArray[Any]:
            arrays = [getattr(part, name) for part in parts]
            if (any(len(a) != len(part) for a, part in zip(arrays, parts, strict=True))
                    or len({a.shape[1:] for a in arrays}) > 1):
                return arrays[0][:0]  # one part lacks it (or has other maps): so does the whole
            return np.concatenate(arrays)

        return cls([c for part in parts for c in part.case_ids], joined("ct"), joined("mr"),
                   joined("labels"), joined("oracle"), joined("latent"), parts[0].settings,
                   joined("maps"))

    def save(self, path: str | Path) -> Path:
        """Write as a compressed ``.npz`` (atomically: readers never see a partial file)."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial.npz")
        np.savez_compressed(partial, case_ids=np.asarray(self.case_ids),
                            ct=self.ct.astype(np.float16), mr=self.mr.astype(np.float16),
                            labels=self.labels, oracle=self.oracle, latent=self.latent,
                            settings=np.asarray(self.settings), maps=self.maps.astype(np.uint8))
        partial.replace(out)
        return out

    @classmethod
    def load(cls, path: str | Path) -> CropSet:
        """Read a crop set written by :meth:`save`."""
        try:
            data = np.load(Path(path))
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read crop cache {path}: {exc}; rebuild it.") from exc
        latent = (data["latent"].astype(np.float32) if "latent" in data.files
                  else np.zeros((0, 0), np.float32))
        maps = data["maps"] if "maps" in data.files else np.zeros((0,), np.uint8)
        return cls([str(c) for c in data["case_ids"]], data["ct"].astype(np.float32),
                   data["mr"].astype(np.float32), data["labels"].astype(np.uint8),
                   data["oracle"].astype(np.float32), latent,
                   str(data["settings"]) if "settings" in data.files else "", maps)
