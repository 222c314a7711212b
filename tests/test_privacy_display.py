"""What the screen shows of a series: the cleaned description, no file names (issue 16)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dicom_factory import SAGITTAL, ramp, write_series

from bcl_core.cli import main

IDENTIFYING = ("WARD7", "23NOV1941", "Rosenthal", "DOE_JANE")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    source = tmp_path / "case"
    write_series(source / "mr", ramp((6, 8, 8)), modality="MR", direction=SAGITTAL,
                 prefix="DOE_JANE_", SeriesDescription="T2_TSE_SAG WARD7 Rosenthal 23NOV1941")
    write_series(source / "ct", ramp((6, 8, 8)), modality="CT",
                 prefix="DOE_JANE_", SeriesDescription="AX 1.25mm B30f WARD7")
    (source / "DOE_JANE_notes.txt").write_text("not an image")
    return source


def test_bcl_inspect_table_shows_the_cleaned_description_only(folder, capsys) -> None:
    assert main(["inspect", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "T2_TSE_SAG" in out and "AX 1.25mm B30f" in out
    assert not [word for word in IDENTIFYING if word in out], out
    assert "1 not DICOM" in out


def test_bcl_inspect_json_names_no_file(folder, capsys) -> None:
    assert main(["inspect", str(folder), "--json"]) == 0
    out = capsys.readouterr().out
    assert not [word for word in IDENTIFYING if word in out], out
    data = json.loads(out)
    assert data["skipped"] == [{"reason": "not DICOM", "count": 1}]
    assert sorted(s["description"] for s in data["series"]) == ["AX 1.25mm B30f", "T2_TSE_SAG"]


def test_app_series_table_rows_show_the_cleaned_description(folder) -> None:
    from bcl_core.clinic.consult import load_case

    loaded = load_case(folder)
    shown = " ".join(f"{row.label} {row.notes}" for row in loaded.rows) + loaded.skipped
    assert "T2_TSE_SAG" in shown
    assert not [word for word in IDENTIFYING if word in shown], shown
    # The weighting is still read from the full header description.
    assert any(row.use == "MRI (sagittal)" and row.fit for row in loaded.rows)
