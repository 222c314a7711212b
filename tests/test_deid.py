"""De-identification: plant identifiers in every affected attribute; none may survive."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_factory import SAGITTAL, ramp, write_series
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from bcl_core.errors import DeidentificationError
from bcl_core.io import load_volume, open_input
from bcl_core.io.deid import CLEAN, Deidentifier, basic_profile_actions
from bcl_core.io.descriptors import clean_description
from bcl_core.io.sources import FileRef


def _keywords(*actions: str) -> set[str]:
    """Keywords of the data set attributes of Table E.1-1 that get one of ``actions``."""
    return {keyword_for_tag(tag) for tag, action in basic_profile_actions().items()
            if action in actions and tag >> 16 not in (0x0000, 0x0002)} - {""}


REMOVE, DUMMY = _keywords("X") - CLEAN, _keywords("D") - CLEAN
EMPTY = _keywords("Z") - {"PatientName", "PatientID"}  # these two hold the pseudonym (Z allows a dummy)

MARK = "ZQXMARK"
PLANTED_UID = "1.2.826.0.1.3680043.8.498.777"


def _planted_value(vr: str, n: int):  # type: ignore[no-untyped-def]
    """A value of the given VR that carries the marker where the VR allows text."""
    if vr == "SQ":
        item = Dataset()
        item.PatientName = f"{MARK}^SEQ"
        item.CodeMeaning = f"{MARK} inside a sequence"
        return DicomSequence([item])
    text = {
        "PN": f"{MARK}^PERSON{n}", "DA": "19991231", "TM": "235959", "DT": "19991231235959",
        "AS": "077Y", "UI": f"{PLANTED_UID}.{n}", "IS": "987654", "DS": "98765.4",
        "CS": "ZQXMARK", "AE": "ZQXMARK", "UR": f"http://{MARK}.example",
    }
    if vr in text:
        return text[vr]
    if vr in ("US", "UL", "SS", "SL", "FL", "FD", "US or SS"):
        return 4242
    if vr in ("OB", "OW", "UN", "OB or OW"):
        return MARK.encode()
    return f"{MARK} {n}"  # LO, SH, LT, ST, UT, UC


def _dataset_with_everything_planted() -> Dataset:
    ds = Dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.SourceApplicationEntityTitle = MARK
    ds.SOPClassUID = CTImageStorage
    for n, keyword in enumerate(sorted(REMOVE | EMPTY | DUMMY | CLEAN)):
        vr = dictionary_VR(tag_for_keyword(keyword))
        vr = {"US or SS": "US", "OB or OW": "OB", "US or SS or OW": "US"}.get(vr, vr)
        setattr(ds, keyword, _planted_value(vr, n))
    ds.PatientName = f"{MARK}^PATIENT"
    ds.PatientID = f"{MARK}-ID"
    ds.SeriesDescription = f"T2_TSE_SAG {MARK} 20240102"
    ds.ProtocolName = f"{MARK}_spine"
    ds.StudyInstanceUID = f"{PLANTED_UID}.1001"
    ds.SeriesInstanceUID = f"{PLANTED_UID}.1002"
    ds.SOPInstanceUID = f"{PLANTED_UID}.1003"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.FrameOfReferenceUID = f"{PLANTED_UID}.1004"
    ds.InstitutionName = f"{MARK} Hospital"
    ds.add_new(0x00091010, "LO", f"{MARK} private")  # private without creator
    block = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
    block.add_new(0x10, "OB", MARK.encode())
    ds.add_new(0x60003000, "OW", MARK.encode())  # overlay data
    ds.add_new(0x60004000, "LT", f"{MARK} overlay comment")
    ds.Modality = "CT"
    ds.ImagePositionPatient = [1.5, 2.5, 3.5]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.7, 0.7]
    ds.Rows = ds.Columns = 2
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelData = np.arange(4, dtype="<u2").tobytes()
    return ds


def test_no_planted_identifier_survives(tmp_path: Path) -> None:
    ds = _dataset_with_everything_planted()
    Deidentifier("CASE-0001", key=b"test").dataset(ds)
    path = tmp_path / "out.dcm"
    ds.save_as(path, enforce_file_format=True)
    raw = path.read_bytes()
    assert MARK.encode() not in raw
    assert PLANTED_UID.encode() not in raw
    for date_like in (b"19991231", b"235959", b"20240102", b"077Y"):
        assert date_like not in raw
    reread = pydicom.dcmread(path)
    for keyword in REMOVE:
        assert keyword not in reread, keyword
    for keyword in EMPTY:
        value = reread.get(keyword)
        assert value in (None, "", []) or len(value) == 0, keyword
    assert not [e for e in reread if e.tag.is_private]
    assert not [e for e in reread if e.tag.group == 0x6000]


def test_kept_attributes_and_method_are_recorded(tmp_path: Path) -> None:
    ds = Deidentifier("CASE-0001", key=b"test").dataset(_dataset_with_everything_planted())
    assert str(ds.PatientName) == "CASE-0001" and ds.PatientID == "CASE-0001"
    assert ds.PatientIdentityRemoved == "YES"
    assert [item.CodeValue for item in ds.DeidentificationMethodCodeSequence] == \
        ["113100", "113105"]
    assert ds.SeriesDescription == "T2_TSE_SAG"  # cleaned, still tells the weighting
    assert ds.ProtocolName == "spine"
    assert ds.SOPClassUID == CTImageStorage  # registered UIDs are kept
    assert [float(v) for v in ds.ImagePositionPatient] == [1.5, 2.5, 3.5]
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def test_uids_remap_consistently_and_differ_by_key() -> None:
    first, second = _dataset_with_everything_planted(), _dataset_with_everything_planted()
    second.SOPInstanceUID = f"{PLANTED_UID}.2003"
    tool = Deidentifier("CASE-0001", key=b"k1")
    tool.dataset(first)
    tool.dataset(second)
    assert first.StudyInstanceUID == second.StudyInstanceUID
    assert first.SeriesInstanceUID == second.SeriesInstanceUID
    assert first.FrameOfReferenceUID == second.FrameOfReferenceUID
    assert first.SOPInstanceUID != second.SOPInstanceUID
    other = Deidentifier("CASE-0001", key=b"k2").dataset(_dataset_with_everything_planted())
    assert other.StudyInstanceUID != first.StudyInstanceUID
    assert pydicom.uid.UID(first.StudyInstanceUID).is_valid


def test_burned_in_annotation_is_refused() -> None:
    ds = _dataset_with_everything_planted()
    ds.BurnedInAnnotation = "YES"
    with pytest.raises(DeidentificationError, match="burned into its pixels"):
        Deidentifier("CASE-0001").dataset(ds)


def test_deidentified_series_loads_to_the_same_volume(tmp_path: Path) -> None:
    stored = ramp((6, 8, 8))
    write_series(tmp_path / "in", stored, modality="MR", direction=SAGITTAL,
                 SeriesDescription="T2_TSE_SAG", InstitutionName="St Elsewhere")
    with open_input(tmp_path / "in") as files:
        written = Deidentifier("CASE-7").write_files(files, tmp_path / "out")
    assert [p.name for p in written][:2] == ["00000.dcm", "00001.dcm"]
    before, after = load_volume(tmp_path / "in"), load_volume(tmp_path / "out")
    np.testing.assert_array_equal(after.array, before.array)
    assert after.same_grid(before)
    assert after.metadata["weighting"] == "T2"
    for path in written:
        raw = path.read_bytes()
        assert b"DOE" not in raw and b"PID-12345" not in raw and b"Elsewhere" not in raw


@pytest.mark.parametrize(("text", "cleaned"), [
    # The examples: a ward name and a birth date go, acquisition words stay.
    ("T2 TSE SAG 4mm", "T2 TSE SAG 4mm"),
    ("T2 TSE SAG Ward 7B 23NOV1941", "T2 TSE SAG"),
    ("STATION ONCOLOGY t2_tse_sag", "t2_tse_sag"),
    ("SAG T2 DOE 1950-01-01", "SAG T2"),
    ("T1 sag 02.01.2024", "T1 sag"),
    ("Smith_T2_sag", "T2_sag"),
    ("t2 tse 123456789", "t2 tse"),
    ("AX 1.25mm B30f", "AX 1.25mm B30f"),
    ("CT L-SPINE W/O contrast 3MM BONE", "CT L-SPINE W/O contrast 3MM BONE"),
    ("COR STIR FS Dr Jones ext 4711", "COR STIR FS"),
    ("T2-WARD7", "T2"),
    ("", ""),
])
def test_clean_description_keeps_only_acquisition_words(text: str, cleaned: str) -> None:
    assert clean_description(text) == cleaned


def test_study_description_and_protocol_name_are_cleaned_too() -> None:
    ds = _dataset_with_everything_planted()
    ds.StudyDescription = "MRI L-SPINE Ward Rosenthal 23NOV1941"
    ds.ProtocolName = "T2_TSE_SAG Hernandez"
    out = Deidentifier("CASE-1", key=b"k").dataset(ds)
    assert out.StudyDescription == "MRI L-SPINE"
    assert out.ProtocolName == "T2_TSE_SAG"


# --- damaged files: refuse rather than leak -------------------------------------------------
def _one_file(tmp_path: Path) -> bytes:
    (path,) = write_series(tmp_path / "src", ramp((1, 4, 4)), shuffle=False)
    return path.read_bytes()


def _leaks(raw: bytes) -> bool:
    return any(marker in raw for marker in (b"DOE", b"JANE", b"PID-12345", b"19500101"))


def test_patient_name_swallowed_by_a_damaged_length_is_refused(tmp_path: Path) -> None:
    data = bytearray(_one_file(tmp_path))
    description = data.find(b"\x08\x00\x3e\x10LO\x00\x00")  # empty SeriesDescription
    assert data[description + 8:description + 12] == b"\x10\x00\x10\x00"  # PatientName next
    data[description + 6] = 16  # its length now covers the PatientName element
    with pytest.raises(DeidentificationError, match="damaged"):
        Deidentifier("CASE-1").write_files([FileRef("x.dcm", data=bytes(data))], tmp_path / "o")
    assert not list((tmp_path / "o").glob("*"))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(0, 900), st.integers(0, 255)), min_size=1,
                      max_size=8),
       cut=st.one_of(st.none(), st.integers(100, 1500)))
def test_damaged_files_never_leak(tmp_path: Path, flips: list[tuple[int, int]],
                                  cut: int | None) -> None:
    data = bytearray(_clean_file_bytes())
    for offset, value in flips:
        data[offset % len(data)] = value
    if cut is not None:
        data = data[:cut]
    with tempfile.TemporaryDirectory() as out:
        try:
            written = Deidentifier("CASE-1").write_files([FileRef("x.dcm", data=bytes(data))],
                                                         out)
        except DeidentificationError:
            return
        for path in written:
            assert not _leaks(path.read_bytes())


@functools.cache
def _clean_file_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return _one_file(Path(tmp))


# --- only image objects are stored ----------------------------------------------------------
def test_reports_and_pdfs_are_set_aside_not_stored(tmp_path: Path) -> None:
    from dicom_documents import PDF_TEXT, SR_TEXT, write_pdf_object, write_text_sr

    write_series(tmp_path / "in", ramp((3, 4, 4)), modality="MR", direction=SAGITTAL,
                 SeriesDescription="T2_TSE_SAG")
    write_pdf_object(tmp_path / "in" / "report.dcm")
    write_text_sr(tmp_path / "in" / "note.dcm")
    (tmp_path / "in" / "readme.txt").write_text("not an image")
    tool = Deidentifier("CASE-1")
    with open_input(tmp_path / "in") as files:
        written = tool.write_files(files, tmp_path / "out")
    assert len(written) == 3 and sorted(p.name for p in (tmp_path / "out").iterdir()) == \
        ["00000.dcm", "00001.dcm", "00002.dcm"]
    assert dict(tool.set_aside) == {"Encapsulated PDF Storage": 1, "Basic Text SR Storage": 1,
                                    "not DICOM": 1}
    for path in written:
        ds = pydicom.dcmread(path)
        assert ds.SOPClassUID == pydicom.uid.MRImageStorage
        raw = path.read_bytes()
        assert PDF_TEXT[10:30] not in raw and SR_TEXT[:12].encode() not in raw


def test_written_files_and_folder_are_private_to_the_owner(tmp_path: Path) -> None:
    import os
    import stat

    write_series(tmp_path / "in", ramp((2, 4, 4)), modality="CT")
    old_mask = os.umask(0o022)  # a typical umask: new files world-readable unless set
    try:
        with open_input(tmp_path / "in") as files:
            written = Deidentifier("CASE-1").write_files(files, tmp_path / "out" / "ct")
    finally:
        os.umask(old_mask)
    assert stat.S_IMODE(os.stat(tmp_path / "out" / "ct").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "out").st_mode) == 0o700
    assert {stat.S_IMODE(os.stat(p).st_mode) for p in written} == {0o600}
