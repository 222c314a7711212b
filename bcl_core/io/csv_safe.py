"""CSV cells a spreadsheet cannot run as formulas (CSV injection), and their way back.

Every CSV the product writes goes through this module. A text cell that starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return is a formula to Excel, LibreOffice and Google
Sheets (a case folder named ``=HYPERLINK(...)`` would become a live link); such a cell is
written with a leading single quote, the escape OWASP recommends ("CSV Injection",
https://owasp.org/www-community/attacks/CSV_Injection). Numbers are not text: a float ``-0.5``
and the text ``-0.5`` (a plain decimal number, which no spreadsheet evaluates) stay as written.

The escape is reversible: a text cell that itself starts with a quote gets one more, so
:func:`unescape_cell` gives back exactly the value that was written, and the project's own
readers (evaluation tables, study imports, resumed batch predictions) join on the same ids.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import pandas as pd

__all__ = [
    "FORMULA_PREFIXES",
    "QUOTE",
    "append_dict_row",
    "csv_text",
    "escape_cell",
    "escape_frame",
    "unescape_cell",
    "unescape_frame",
    "write_dict_rows",
]

#: First characters that make a spreadsheet read a text cell as a formula (OWASP).
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
#: The escape character put in front of such a cell.
QUOTE = "'"

# A plain decimal number ("-0.5", "+3", "1e-4"): a spreadsheet reads it as that number.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _needs_escape(text: str) -> bool:
    if text.startswith(QUOTE):
        return True  # keeps the escape reversible
    return text.startswith(FORMULA_PREFIXES) and _PLAIN_NUMBER.fullmatch(text) is None


def escape_cell(value: object) -> object:
    """``value`` as a CSV cell no spreadsheet runs as a formula.

    Parameters
    ----------
    value
        Any cell value. Only text (``str``) is changed; numbers, booleans and missing values
        pass through unchanged.

    Returns
    -------
    object
        ``"'" + value`` for text starting with ``= + - @``, tab, carriage return or a quote
        (unless it is a plain decimal number such as ``-0.5``); ``value`` otherwise.

    Examples
    --------
    >>> escape_cell("=1+1"), escape_cell("C0001"), escape_cell(-0.5), escape_cell("-0.5")
    ("'=1+1", 'C0001', -0.5, '-0.5')
    """
    if isinstance(value, str) and _needs_escape(value):
        return QUOTE + value
    return value


def unescape_cell(value: object) -> object:
    """The value :func:`escape_cell` was given, from the cell it wrote.

    Parameters
    ----------
    value
        A cell as read back from a CSV. Non-text values pass through unchanged.

    Returns
    -------
    object
        Text without the escape quote where :func:`escape_cell` added one (a quote followed
        by a formula character or by another quote); anything else unchanged, so a
        hand-made id such as ``'abc`` stays ``'abc``.

    Examples
    --------
    >>> unescape_cell("'=1+1"), unescape_cell("''x"), unescape_cell("'abc"), unescape_cell(3)
    ('=1+1', "'x", "'abc", 3)
    """
    if (isinstance(value, str) and value.startswith(QUOTE)
            and value[1:].startswith((*FORMULA_PREFIXES, QUOTE))):
        return value[1:]
    return value


def _map_text_cells(frame: pd.DataFrame, function: Callable[[object], object]) -> pd.DataFrame:
    """A copy of ``frame`` with ``function`` applied to column names and non-numeric cells."""
    out = frame.copy()
    out.columns = [function(c) for c in frame.columns]
    for column in range(out.shape[1]):
        if not pd.api.types.is_numeric_dtype(out.dtypes.iloc[column]):
            out.isetitem(column, out.iloc[:, column].map(function))
    return out


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell and column name passed through :func:`escape_cell`.

    Parameters
    ----------
    frame
        Any table about to be written with ``DataFrame.to_csv``.

    Returns
    -------
    pandas.DataFrame
        The same table; numeric columns are untouched (their dtype is kept).
    """
    return _map_text_cells(frame, escape_cell)


def unescape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a table read from a CSV with :func:`unescape_cell` applied to text cells and names.

    Parameters
    ----------
    frame
        A table read with ``pandas.read_csv``.

    Returns
    -------
    pandas.DataFrame
        The values :func:`escape_frame` was given.
    """
    return _map_text_cells(frame, unescape_cell)


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A whole CSV document (header, then rows; ``\\n`` line ends) with every cell escaped.

    Parameters
    ----------
    columns
        Header cells.
    rows
        Data rows, each with one value per column.

    Returns
    -------
    str
        The CSV text.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([escape_cell(c) for c in columns])
    writer.writerows([escape_cell(v) for v in row] for row in rows)
    return buffer.getvalue()


def write_dict_rows(handle: IO[str], columns: Sequence[str], rows: Iterable[Mapping[str, Any]],
                    header: bool = True) -> None:
    """Write ``rows`` (dicts keyed by ``columns``) to an open text file, every cell escaped.

    Parameters
    ----------
    handle
        A text file opened with ``newline=""``.
    columns
        Column order (the header, written when ``header`` is true).
    rows
        One mapping per row.
    header
        Whether to write the header line first.
    """
    writer = csv.DictWriter(handle, fieldnames=list(columns))
    if header:
        writer.writerow({c: escape_cell(c) for c in columns})
    writer.writerows({k: escape_cell(v) for k, v in row.items()} for row in rows)


def append_dict_row(path: Path, columns: Sequence[str], row: Mapping[str, Any]) -> None:
    """Append one escaped row to the CSV at ``path``, writing the header if the file is new.

    Parameters
    ----------
    path
        The CSV file.
    columns
        Column order.
    row
        The row's values by column.
    """
    new = not path.is_file()
    with path.open("a", newline="", encoding="utf-8") as handle:
        write_dict_rows(handle, columns, [row], header=new)
