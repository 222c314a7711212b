"""Load and validate predictions.csv, labels.csv and reads.csv; join them on ``case_id``.

Every problem becomes an :class:`~bcl_core.errors.EvaluationInputError` naming the file, the
column or the cases at fault, so the user can fix the table rather than read a traceback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from io import BytesIO, StringIO
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from bcl_core.errors import EvaluationInputError
from bcl_core.evaluation import schema
from bcl_core.io.csv_safe import unescape_frame

logger = logging.getLogger(__name__)

TableSource = str | Path | IO[str] | IO[bytes] | BytesIO | StringIO


@dataclass(frozen=True)
class EvaluationData:
    """Validated, aligned inputs of one evaluation.

    Attributes
    ----------
    case_ids
        Cases present in both predictions and labels, in labels order.
    labels
        ``type1..type4`` 0/1, indexed by case_id.
    probabilities, calls
        Model outputs with columns ``type1..type4``, same index.
    oracle
        Oracle probabilities (synthetic sets) or ``None``.
    reads
        Long reads table restricted to these cases, ``type`` normalised to ``type1..type4``;
        ``None`` without reads.
    strata
        The optional labels.csv columns ``site`` and ``level`` that were present (text, same
        index), for the per-site and per-level breakdowns; ``None`` when neither was.
    """

    case_ids: tuple[str, ...]
    labels: pd.DataFrame
    probabilities: pd.DataFrame
    calls: pd.DataFrame
    oracle: pd.DataFrame | None
    reads: pd.DataFrame | None
    strata: pd.DataFrame | None = None

    @property
    def reader_ids(self) -> tuple[str, ...]:
        """Reader identifiers in sorted order (empty without reads)."""
        if self.reads is None:
            return ()
        return tuple(sorted(self.reads["reader_id"].unique()))


def _read_csv(source: TableSource, name: str) -> pd.DataFrame:
    if hasattr(source, "seek"):
        source.seek(0)  # an upload may be read again on a later rerun
    try:
        frame = pd.read_csv(source, dtype={schema.CASE_ID: str, "reader_id": str})
    except FileNotFoundError:
        raise EvaluationInputError(f"{name}: file not found ({source}).") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise EvaluationInputError(f"{name}: not a readable CSV table ({exc}).") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return unescape_frame(frame)  # ids the product wrote with a CSV-injection escape


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise EvaluationInputError(
            f"{name}: missing column(s) {', '.join(missing)}; expected {', '.join(columns)} "
            "(see docs/evaluation.md)."
        )


def _numeric(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> pd.DataFrame:
    values = frame[list(columns)].apply(pd.to_numeric, errors="coerce")
    bad = values.isna().any(axis=1)
    if bad.any():
        cases = ", ".join(frame.loc[bad, schema.CASE_ID].astype(str).head(5))
        raise EvaluationInputError(f"{name}: empty or non-numeric values in {', '.join(columns)} for case(s) {cases}.")
    return values


def _check_binary(values: pd.DataFrame, name: str) -> None:
    if not values.isin([0, 1]).all().all():
        raise EvaluationInputError(f"{name}: values must be 0 or 1.")


def _indexed(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    ids = frame[schema.CASE_ID].astype(str).str.strip()
    duplicated = ids[ids.duplicated()].unique()
    if duplicated.size:
        raise EvaluationInputError(f"{name}: duplicate case_id(s) {', '.join(duplicated[:5])}.")
    return frame.assign(**{schema.CASE_ID: ids}).set_index(schema.CASE_ID)


def load_predictions(source: TableSource) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read predictions.csv: ``(probabilities, calls)``, columns ``type1..type4``, indexed by case.

    Raises
    ------
    EvaluationInputError
        Missing columns, duplicate cases, probabilities outside [0, 1], calls other than 0/1.
    """
    name = "predictions.csv"
    frame = _read_csv(source, name)
    _require_columns(frame, schema.PREDICTION_COLUMNS, name)
    frame = _indexed(frame, name).reset_index()
    probs = _numeric(frame, schema.PROB_COLUMNS, name)
    calls = _numeric(frame, schema.CALL_COLUMNS, name)
    if ((probs < 0) | (probs > 1)).any().any():
        raise EvaluationInputError(f"{name}: probabilities must lie between 0 and 1.")
    _check_binary(calls, f"{name} call columns")
    index = pd.Index(frame[schema.CASE_ID], name=schema.CASE_ID)
    probs = probs.set_axis(list(schema.TYPES), axis=1).set_axis(index)
    calls = calls.astype(int).set_axis(list(schema.TYPES), axis=1).set_axis(index)
    return probs, calls


def load_strata(source: TableSource) -> pd.DataFrame | None:
    """The optional ``site`` / ``level`` columns of labels.csv as text, indexed by case.

    Returns
    -------
    DataFrame or None
        Only the columns present; ``None`` when neither is.

    Raises
    ------
    EvaluationInputError
        A present column with empty cells (a breakdown would silently lose those cases).
    """
    name = "labels.csv"
    frame = _read_csv(source, name)
    present = [c for c in schema.STRATA_COLUMNS if c in frame.columns]
    if not present or schema.CASE_ID not in frame.columns:
        return None
    frame = _indexed(frame, name)
    strata = frame[present].astype("string").apply(lambda column: column.str.strip())
    for column in present:
        empty = strata[column].isna() | (strata[column] == "")
        if empty.any():
            cases = ", ".join(strata.index[empty.to_numpy()][:5])
            raise EvaluationInputError(
                f"{name}: column {column} is empty for case(s) {cases}; fill it in for every case or drop the column."
            )
    return strata.astype(str)


def load_labels(source: TableSource) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Read labels.csv: ``(labels, oracle or None)`` with columns ``type1..type4``.

    Raises
    ------
    EvaluationInputError
        Missing columns, duplicate cases, labels other than 0/1, oracle outside [0, 1].
    """
    name = "labels.csv"
    frame = _read_csv(source, name)
    _require_columns(frame, schema.LABEL_COLUMNS, name)
    frame = _indexed(frame, name).reset_index()
    index = pd.Index(frame[schema.CASE_ID], name=schema.CASE_ID)
    labels = _numeric(frame, schema.TYPES, name)
    _check_binary(labels, f"{name} type columns")
    labels = labels.astype(int).set_axis(index)
    oracle = None
    present = [c for c in schema.ORACLE_COLUMNS if c in frame.columns]
    if present:
        _require_columns(frame, schema.ORACLE_COLUMNS, f"{name} (oracle columns come as a set of 4)")
        oracle = _numeric(frame, schema.ORACLE_COLUMNS, name)
        if ((oracle < 0) | (oracle > 1)).any().any():
            raise EvaluationInputError(f"{name}: oracle probabilities must lie between 0 and 1.")
        oracle = oracle.set_axis(list(schema.TYPES), axis=1).set_axis(index)
    return labels, oracle


def _normalise_type(raw: pd.Series) -> pd.Series:
    text = raw.astype(str).str.strip().str.lower()
    text = text.str.replace(r"\.0$", "", regex=True)
    mapped = text.where(text.str.startswith("type"), "type" + text)
    bad = ~mapped.isin(schema.TYPES)
    if bad.any():
        values = ", ".join(sorted(raw[bad].astype(str).unique())[:5])
        raise EvaluationInputError(f"reads.csv: type must be 1-4 or type1-type4, found {values}.")
    return mapped


def load_reads(source: TableSource) -> pd.DataFrame:
    """Read reads.csv (long format) with ``type`` normalised to ``type1..type4``.

    Raises
    ------
    EvaluationInputError
        Missing columns, unknown types, calls other than 0/1, confidence outside 0-100,
        a reader reading the same case and type twice.
    """
    name = "reads.csv"
    frame = _read_csv(source, name)
    _require_columns(frame, schema.READ_COLUMNS, name)
    frame = frame[list(schema.READ_COLUMNS)].copy()
    frame["reader_id"] = frame["reader_id"].astype(str).str.strip()
    frame[schema.CASE_ID] = frame[schema.CASE_ID].astype(str).str.strip()
    frame["type"] = _normalise_type(frame["type"])
    values = _numeric(frame, ("call", "confidence"), name)
    _check_binary(values[["call"]], f"{name} call column")
    low, high = schema.CONFIDENCE_RANGE
    if ((values["confidence"] < low) | (values["confidence"] > high)).any():
        raise EvaluationInputError(f"{name}: confidence must lie between {low:g} and {high:g}.")
    frame["call"] = values["call"].astype(int)
    frame["confidence"] = values["confidence"].astype(float)
    dup = frame.duplicated(["reader_id", schema.CASE_ID, "type"])
    if dup.any():
        row = frame[dup].iloc[0]
        raise EvaluationInputError(
            f"{name}: reader {row['reader_id']} read case {row[schema.CASE_ID]} {row['type']} more "
            "than once; keep one row per reader, case and type."
        )
    return frame


def assemble(
    predictions: TableSource, labels: TableSource, reads: TableSource | None = None
) -> EvaluationData:
    """Load the tables and align them on ``case_id``.

    Cases in labels but not in predictions (or the reverse) are an error: a silent drop would
    bias every metric. Reads of cases outside the labels are an error too.

    Raises
    ------
    EvaluationInputError
        Any table invalid, or the case sets disagree.
    """
    probs, calls = load_predictions(predictions)
    truth, oracle = load_labels(labels)
    strata = load_strata(labels)
    only_pred = probs.index.difference(truth.index)
    only_truth = truth.index.difference(probs.index)
    if len(only_pred) or len(only_truth):
        detail = []
        if len(only_truth):
            detail.append(f"{len(only_truth)} labelled case(s) without a prediction (e.g. {', '.join(only_truth[:3])})")
        if len(only_pred):
            detail.append(f"{len(only_pred)} predicted case(s) without labels (e.g. {', '.join(only_pred[:3])})")
        raise EvaluationInputError(
            "predictions.csv and labels.csv do not cover the same cases: " + "; ".join(detail) + "."
        )
    order = truth.index
    read_table = None
    if reads is not None:
        read_table = load_reads(reads)
        unknown = sorted(set(read_table[schema.CASE_ID]) - set(order))
        if unknown:
            raise EvaluationInputError(
                f"reads.csv: {len(unknown)} case(s) not in labels.csv (e.g. {', '.join(unknown[:3])})."
            )
    if len(order) < 2:
        raise EvaluationInputError("at least 2 cases are needed for an evaluation.")
    logger.info("evaluation input: %d cases, reads=%s", len(order), read_table is not None)
    return EvaluationData(
        case_ids=tuple(order),
        labels=truth,
        probabilities=probs.loc[order],
        calls=calls.loc[order],
        oracle=oracle,
        reads=read_table,
        strata=None if strata is None else strata.loc[order],
    )


def reader_matrix(data: EvaluationData, type_name: str, column: str) -> pd.DataFrame:
    """Readers x cases table of ``column`` ("call" or "confidence") for one type (NaN where unread)."""
    if data.reads is None:
        raise EvaluationInputError("no reads were given.")
    subset = data.reads[data.reads["type"] == type_name]
    wide = subset.pivot(index="reader_id", columns=schema.CASE_ID, values=column)
    return wide.reindex(columns=list(data.case_ids)).astype(float).reindex(list(data.reader_ids))


def confidence_scale(confidence: np.ndarray) -> np.ndarray:
    """Reader confidence 0-100 binned into the ordinal 5-point scale 0..4 (edges 20/40/60/80)."""
    return np.searchsorted(np.asarray(schema.CONFIDENCE_BIN_EDGES), confidence, side="right")
