"""Non-image DICOM objects with identifiers inside, as a PACS export can mix them into a series
folder: an Encapsulated PDF report and a Basic Text SR (written with pydicom only)."""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    BasicTextSRStorage,
    EncapsulatedPDFStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)

#: Identifiers planted inside the documents' content (not only in their headers).
PDF_TEXT = b"%PDF-1.4\n% Patient MRN-PDF-8841 born 23NOV1941\n%%EOF\n"
SR_TEXT = "Seen by Dr Hibbert on ward Rosenthal 7B, call 555-0142"


def _document(sop_class: str, modality: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = modality
    ds.PatientName, ds.PatientID = "DOE^JANE", "PID-12345"
    return ds


def write_pdf_object(path: Path) -> Path:
    """An Encapsulated PDF whose document holds a patient ID and a birth date."""
    ds = _document(EncapsulatedPDFStorage, "DOC")
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = PDF_TEXT
    ds.save_as(path, enforce_file_format=True)
    return path


def write_text_sr(path: Path) -> Path:
    """A Basic Text SR whose free text names a doctor, a ward and a phone number."""
    ds = _document(BasicTextSRStorage, "SR")
    item = Dataset()
    item.RelationshipType, item.ValueType = "CONTAINS", "TEXT"
    item.TextValue = SR_TEXT
    ds.ValueType = "CONTAINER"
    ds.ContentSequence = DicomSequence([item])
    ds.save_as(path, enforce_file_format=True)
    return path
