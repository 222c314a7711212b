"""The leakage types the product predicts (after Xi et al., Front. Med. 2024): names in one place."""

from __future__ import annotations

from collections.abc import Mapping

#: The four leakage types, as column and key names everywhere (CSV, JSON, sidecars).
LEAKAGE_TYPES: tuple[str, ...] = ("type1", "type2", "type3", "type4")
#: The classifier's output heads: the four types, then "any leakage".
HEAD_NAMES: tuple[str, ...] = (*LEAKAGE_TYPES, "any")
#: Plain names for screens and reports.
TYPE_LABELS: Mapping[str, str] = {
    "type1": "Type I: segmental vein",
    "type2": "Type II: paravertebral soft tissue (cortical defect)",
    "type3": "Type III: intervertebral disc",
    "type4": "Type IV: spinal canal",
    "any": "Any leakage",
}
