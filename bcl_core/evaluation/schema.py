"""The evaluation input formats: one place for every column name (see docs/evaluation.md)."""

from __future__ import annotations

from bcl_core.leakage import LEAKAGE_TYPES

#: Leakage types in protocol order (Xi et al. 2024): I venous, II soft tissue, III disc, IV canal.
TYPES: tuple[str, ...] = LEAKAGE_TYPES
TYPE_TITLES: dict[str, str] = {
    "type1": "Type I (segmental vein)",
    "type2": "Type II (soft tissue)",
    "type3": "Type III (disc)",
    "type4": "Type IV (spinal canal)",
}

CASE_ID = "case_id"
#: predictions.csv, as written by ``bcl predict-batch``.
PROB_COLUMNS: tuple[str, ...] = tuple(f"prob_{t}" for t in TYPES)
CALL_COLUMNS: tuple[str, ...] = tuple(f"call_{t}" for t in TYPES)
PREDICTION_COLUMNS: tuple[str, ...] = (CASE_ID, *PROB_COLUMNS, *CALL_COLUMNS)
#: labels.csv, as written by ``bcl synth``; the oracle columns are optional.
LABEL_COLUMNS: tuple[str, ...] = (CASE_ID, *TYPES)
ORACLE_COLUMNS: tuple[str, ...] = tuple(f"oracle_{t}" for t in TYPES)
#: reads.csv, long format: one row per reader, case and type.
READ_COLUMNS: tuple[str, ...] = ("reader_id", CASE_ID, "type", "call", "confidence")
CONFIDENCE_RANGE: tuple[float, float] = (0.0, 100.0)
#: Reader confidence binned into an ordinal 5-point scale for weighted kappa between readers.
CONFIDENCE_BIN_EDGES: tuple[float, ...] = (20.0, 40.0, 60.0, 80.0)
#: The declared scales of the kappa analyses (weights are spaced on these, used or not).
CALL_LEVELS: tuple[int, ...] = (0, 1)
CONFIDENCE_LEVELS: tuple[int, ...] = tuple(range(len(CONFIDENCE_BIN_EDGES) + 1))
#: Optional labels.csv columns the report breaks results down by (centre; vertebral level).
STRATA_COLUMNS: tuple[str, ...] = ("site", "level")

#: Names of the scorers in every table.
MODEL = "model"
ORACLE = "oracle"
