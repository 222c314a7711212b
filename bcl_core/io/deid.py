"""De-identification after DICOM PS3.15 Annex E, Basic Application Level Confidentiality Profile.

Used by every feature that stores a case. The actions come from the committed copy of Table
E.1-1 (``data/ps3.15_table_e1-1.csv``, edition named in its header), every row of it:
``X`` remove, ``Z`` empty, ``D`` replace with a dummy value, ``U`` replace a UID with a new one
(consistently: the same original UID always maps to the same new one within a
:class:`Deidentifier`, so series, studies and frames of reference still link up); where the
table allows a choice, removal wins. SeriesDescription, StudyDescription and ProtocolName are
kept cleaned (Clean Descriptors Option): only the words of an allow-list that describe the
acquisition survive (:mod:`bcl_core.io.descriptors`).

Only the image SOP classes the pipeline reads are stored (:data:`STORABLE_SOP_CLASSES`):
reports, PDFs and other objects are set aside by :meth:`Deidentifier.write_files`, counted by
class, never stored.

Beyond the table, every element is also caught by its value representation, so attributes
added to the standard later are not missed: person names (PN) are emptied, dates and times
(DA, DT, TM) emptied, ages (AS) removed, and every UID that is not a registered DICOM UID
(SOP classes, transfer syntaxes and coding schemes stay) is remapped. Private elements are
removed unless listed as safe (PS3.15 Table E.3.10-1). Curves and overlays (groups 50xx and
60xx), which can carry burned-in text, are removed. Images flagged with burned-in annotation
are refused: text inside the pixels cannot be removed by header edits.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import hmac
import logging
import re
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.datadict import dictionary_has_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import BaseTag
from pydicom.uid import (
    UID,
    CTImageStorage,
    EnhancedCTImageStorage,
    EnhancedMRImageStorage,
    MRImageStorage,
    UID_dictionary,
)

from bcl_core.errors import DeidentificationError
from bcl_core.io.descriptors import clean_description
from bcl_core.io.private_files import make_private_dir, open_private_file
from bcl_core.io.quiet import quiet_pydicom
from bcl_core.io.sources import FileRef

logger = logging.getLogger(__name__)

#: DICOM PS3.15 Table E.1-1 as data (tag, name, basic-profile action, Clean Descriptors Option).
PROFILE_TABLE_PATH = Path(__file__).resolve().parent / "data" / "ps3.15_table_e1-1.csv"

#: Descriptions kept after cleaning by the allow-list (Clean Descriptors Option): they tell T2
#: from T1. Every other attribute the option would clean is removed as the basic profile says.
CLEAN: frozenset[str] = frozenset("SeriesDescription StudyDescription ProtocolName".split())

#: The only objects stored: the image SOP classes the pipeline reads (bcl_core.io). Reports
#: (Encapsulated PDF, Structured Reports), presentation states, key objects and secondary
#: captures carry identifying text that header edits cannot reach; they are set aside.
STORABLE_SOP_CLASSES: frozenset[str] = frozenset({
    CTImageStorage, EnhancedCTImageStorage, MRImageStorage, EnhancedMRImageStorage})

#: Private attributes known not to identify anyone (PS3.15 Table E.3.10-1): (creator, element).
SAFE_PRIVATE: frozenset[tuple[str, int]] = frozenset({
    ("Philips MR Imaging DD 001", 0x0D),  # MR scale intercept
    ("Philips MR Imaging DD 001", 0x0E),  # MR scale slope
})

_DUMMY_TEXT = "ANONYMIZED"
_REMOVED_VRS = {"AS", "UN"}  # ages; public elements of unknown meaning
_EMPTIED_VRS = {"PN", "DA", "DT", "TM"}
_DUMMY_TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_NUMBER_VRS = frozenset({"FD", "FL", "SL", "SS", "SV", "UL", "US", "UV", "US or SS"})
#: Method codes: Basic Application Confidentiality Profile, Clean Descriptors Option.
_METHOD_CODES = (("113100", "Basic Application Confidentiality Profile"),
                 ("113105", "Clean Descriptors Option"))
#: What this de-identifier does for each basic-profile code of Table E.1-1: where the table
#: allows a choice, removal (X) is preferred, and X/Z/U* (references to other instances) keeps
#: the sequence with its UIDs remapped, so a case's series still refer to each other.
_CHOSEN_ACTION = {"X": "X", "X/Z": "X", "X/D": "X", "X/Z/D": "X", "Z": "Z", "Z/D": "Z",
                  "D": "D", "U": "U", "X/Z/U*": "U"}
#: Set-aside reasons of files that are not stored (counted, never named).
NOT_DICOM = "not DICOM"
NO_SOP_CLASS = "DICOM without a SOP class"
UNREGISTERED_SOP_CLASS = "non-standard DICOM object"


@dataclass(frozen=True)
class ProfileRow:
    """One row of PS3.15 Table E.1-1.

    ``tag`` is the table's text, e.g. ``"(0010,0010)"`` or ``"(60XX,3000)"``; ``tag_value`` is
    the integer tag, ``None`` for the rows that stand for a group of tags (curves, overlays,
    private attributes).
    """

    tag: str
    name: str
    basic_profile: str
    clean_descriptors: str

    @property
    def tag_value(self) -> int | None:
        """The tag as an integer, ``None`` for a row with ``XX`` or ``GGGG`` wildcards."""
        digits = self.tag.strip("()").replace(",", "")
        return int(digits, 16) if re.fullmatch(r"[0-9A-Fa-f]{8}", digits) else None


@functools.cache
def profile_table() -> tuple[ProfileRow, ...]:
    """Every row of PS3.15 Table E.1-1 (the committed copy, see its header for the edition).

    Returns
    -------
    tuple of ProfileRow
        In the table's order (by tag).
    """
    with PROFILE_TABLE_PATH.open(newline="", encoding="utf-8") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    return tuple(ProfileRow(row["tag"], row["name"], row["basic_profile"],
                            row["clean_descriptors_option"])
                 for row in csv.DictReader(lines))


@functools.cache
def basic_profile_actions() -> dict[int, str]:
    """The action taken on each tag of Table E.1-1: ``X``, ``Z``, ``D`` or ``U``.

    Raises
    ------
    DeidentificationError
        If the table holds an action code this de-identifier does not know.
    """
    actions = {}
    for row in profile_table():
        if row.tag_value is None:
            continue  # curves, overlays and private groups are removed by group
        if row.basic_profile not in _CHOSEN_ACTION:
            raise DeidentificationError(
                f"Table E.1-1 row {row.tag} has the unknown action {row.basic_profile!r}; "
                "update bcl_core/io/deid.py before storing any file.")
        actions[row.tag_value] = _CHOSEN_ACTION[row.basic_profile]
    return actions


def set_aside_reason(ds: Dataset) -> str | None:
    """Why a dataset is not stored (its SOP class name), ``None`` when it may be stored.

    Only :data:`STORABLE_SOP_CLASSES` are stored.

    Examples
    --------
    >>> from pydicom.uid import EncapsulatedPDFStorage
    >>> ds = Dataset()
    >>> ds.SOPClassUID = EncapsulatedPDFStorage
    >>> set_aside_reason(ds)
    'Encapsulated PDF Storage'
    """
    meta = getattr(ds, "file_meta", None) or {}
    sop_class = str(ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID") or "").strip()
    if sop_class in STORABLE_SOP_CLASSES:
        return None
    if not sop_class:
        return NO_SOP_CLASS
    return UID(sop_class).name if is_registered_uid(sop_class) else UNREGISTERED_SOP_CLASS


_TEXT_VRS = frozenset({"AE", "CS", "DS", "IS", "LO", "LT", "SH", "ST", "UC", "UR", "UT"})
#: Control characters no text value may hold (tab, line feed, form feed, carriage return and
#: the escape that starts a character-set switch are allowed).
_FORBIDDEN_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")


def _check_kept_text(element: DataElement) -> None:
    """Refuse a kept text value holding control bytes: a damaged length can swallow the
    following elements (the patient's name among them) into an innocent one such as Modality."""
    if element.VR not in _TEXT_VRS or element.value is None:
        return
    values = element.value if element.VM > 1 else [element.value]
    if any(_FORBIDDEN_CONTROL.search(str(value)) for value in values):
        raise DeidentificationError(
            f"The file is damaged (element {element.tag} holds binary data where text belongs), "
            "so it cannot be de-identified safely and was not stored; export the series again."
        )


def _fresh_file_meta(ds: Dataset) -> FileMetaDataset:
    """New file meta information: only the transfer syntax survives from the old one (a
    damaged meta group can swallow the whole header into one of its values)."""
    old = getattr(ds, "file_meta", None)
    meta = FileMetaDataset()
    syntax = str(old.get("TransferSyntaxUID", "")) if old is not None else ""
    if syntax:
        transfer_syntax = UID(syntax)
        if not transfer_syntax.is_transfer_syntax:
            raise DeidentificationError(
                "The file is damaged (its transfer syntax is unreadable), so it cannot be "
                "de-identified safely and was not stored; export the series again."
            )
        meta.TransferSyntaxUID = transfer_syntax
    if "SOPClassUID" in ds:
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return meta


def _refuse_leftover_identifiers(ds: Dataset, identifying: set[str]) -> None:
    """Last check: no kept text value may still hold a word of the patient's name or ID."""
    words = {word for word in identifying if len(word) >= 3}
    if not words:
        return
    for element in ds.iterall():
        if element.VR not in _TEXT_VRS or element.value is None \
                or element.keyword in ("PatientID", "DeidentificationMethod"):
            continue
        if _words(str(element.value)) & words:
            raise DeidentificationError(
                f"An identifier of the patient was found in element {element.tag} after "
                "de-identification (the file may be damaged or non-standard); it was not "
                "stored. Export the series again or remove that element."
            )


def _empty_value(element: DataElement) -> Any:
    return DicomSequence([]) if element.VR == "SQ" else None


_PATIENT_KEYWORDS = ("PatientName", "PatientID", "OtherPatientNames", "PatientBirthName",
                     "PatientMotherBirthName")

def _words(text: str) -> set[str]:
    return {w.lower() for w in re.split(r"[\s^,=/\\_.()-]+", text) if len(w) > 1}


def _identifier_words(ds: Dataset, keywords: Sequence[str]) -> set[str]:
    """Words of the given identifying attributes (names, IDs)."""
    words: set[str] = set()
    for keyword in keywords:
        value = ds.get(keyword)
        if value:
            words |= _words(str(value))
    return words


@dataclass
class Deidentifier:
    """Applies the basic profile to datasets, remapping UIDs consistently across them.

    Parameters
    ----------
    pseudonym:
        Written as PatientID and PatientName (e.g. a study case number such as ``"BCL-0042"``).
    key:
        Secret for the UID remapping; the same key maps the same UID to the same new UID.
        Defaults to a random key (a different mapping every session). Never store it with
        the data.
    clean_descriptors:
        Keep SeriesDescription, StudyDescription and ProtocolName with only their acquisition
        words (Clean Descriptors Option, :func:`~bcl_core.io.descriptors.clean_description`);
        ``False`` removes them as the basic profile alone does.
    safe_private:
        ``(private creator, element byte)`` pairs of private attributes to keep.

    Examples
    --------
    >>> ds = Dataset()
    >>> ds.PatientName = "DOE^JANE"
    >>> ds.StudyInstanceUID = "1.2.3.4"
    >>> out = Deidentifier("CASE-1", key=b"k").dataset(ds)
    >>> str(out.PatientName), str(out.StudyInstanceUID).startswith("2.25.")
    ('CASE-1', True)
    """

    pseudonym: str
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    clean_descriptors: bool = True
    safe_private: frozenset[tuple[str, int]] = SAFE_PRIVATE
    uid_map: dict[str, str] = field(default_factory=dict, repr=False)
    #: Files :meth:`write_files` did not store, counted by reason (SOP class name, not DICOM).
    set_aside: Counter[str] = field(default_factory=Counter)

    def new_uid(self, uid: str) -> str:
        """The replacement of ``uid``: always the same for the same key and UID."""
        if uid not in self.uid_map:
            digest = hmac.new(self.key, uid.encode(), hashlib.sha256).digest()
            self.uid_map[uid] = "2.25." + str(int.from_bytes(digest[:16], "big"))
        return self.uid_map[uid]

    # --- element rules ----------------------------------------------------------------------
    def _private_creators(self, ds: Dataset) -> dict[tuple[int, int], str]:
        creators = {}
        for element in ds:
            tag = element.tag
            if tag.is_private and 0x10 <= tag.element <= 0xFF and isinstance(element.value, str):
                creators[(tag.group, tag.element)] = element.value.strip()
        return creators

    def _keep_private(self, tag: BaseTag, creators: Mapping[tuple[int, int], str]) -> bool:
        if tag.is_private_creator:
            block = tag.element
            return any((creators.get((tag.group, block)), offset) in self.safe_private
                       for offset in range(256))
        creator = creators.get((tag.group, tag.element >> 8))
        return (creator, tag.element & 0xFF) in self.safe_private

    def _process(self, ds: Dataset) -> None:
        creators = self._private_creators(ds)
        actions = basic_profile_actions()
        for element in list(ds):
            tag, keyword, vr = element.tag, element.keyword, element.VR
            action = actions.get(int(tag))
            if tag.is_private:
                if not self._keep_private(tag, creators):
                    del ds[tag]
            elif not dictionary_has_tag(tag) or tag.element == 0 or tag.group in (0, 2):
                # Unknown public elements and group lengths cannot be classified; command (0000)
                # and file meta (0002) elements have no place in a stored data set (PS3.10).
                del ds[tag]
            elif (tag.group & 0xFF00) in (0x5000, 0x6000) or tag.group in (0x4000, 0x4008):
                del ds[tag]  # curves, overlays, arbitrary comments, interpretations
            elif keyword in CLEAN:
                self._clean(ds, element)
            elif action == "X" or (action is None and vr in _REMOVED_VRS):
                del ds[tag]
            elif action == "D":
                element.value = self._dummy_value(element)
            elif action == "Z" or (action is None and vr in _EMPTIED_VRS):
                element.value = _empty_value(element)
            elif vr == "UI":
                self._remap(element)  # U, and every UID outside the table
            elif vr == "SQ":
                for item in element.value or []:
                    self._process(item)
            else:
                _check_kept_text(element)

    def _clean(self, ds: Dataset, element: DataElement) -> None:
        """Clean Descriptors Option: keep only the description's acquisition words."""
        if not self.clean_descriptors:
            del ds[element.tag]
            return
        _check_kept_text(element)
        text = "\\".join(element.value) if element.VM > 1 else str(element.value or "")
        element.value = clean_description(text)

    def _dummy_value(self, element: DataElement) -> Any:
        """A value of the element's VR that says nothing (D): text, zero, a new UID or empty."""
        vr = element.VR
        if vr in _DUMMY_TEXT_VRS:
            return _DUMMY_TEXT
        if vr in ("IS", "DS"):
            return "0"
        if vr in _NUMBER_VRS:
            return 0
        if vr == "UI":
            self._remap(element)
            return element.value
        return _empty_value(element)  # dates and times, binary values, sequences

    def _remap(self, element: DataElement) -> None:
        def remap(value: str) -> str:
            value = str(value).strip()
            return value if not value or is_registered_uid(value) else self.new_uid(value)

        if element.VM > 1:
            element.value = [remap(v) for v in element.value]
        elif element.value:
            element.value = remap(element.value)

    # --- public -----------------------------------------------------------------------------
    def dataset(self, ds: Dataset) -> Dataset:
        """De-identify ``ds`` in place and return it.

        Raises
        ------
        DeidentificationError
            If the image has burned-in annotation (identifying text inside the pixels).
        """
        if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
            raise DeidentificationError(
                "This image is flagged as having identifying text burned into its pixels, which "
                "header de-identification cannot remove; export the series without burned-in "
                "annotations (or use the scanner's original images)."
            )
        with quiet_pydicom():
            try:
                patient_words = _identifier_words(ds, _PATIENT_KEYWORDS)
                self._process(ds)
            except DeidentificationError:
                raise
            except Exception as exc:  # noqa: BLE001 - pydicom raises many types on bad values
                raise DeidentificationError(
                    f"The file is damaged ({type(exc).__name__} while reading its header), so it "
                    "cannot be de-identified safely and was not stored; export the series again."
                ) from exc
        ds.PatientName = self.pseudonym
        ds.PatientID = self.pseudonym
        ds.PatientIdentityRemoved = "YES"
        ds.LongitudinalTemporalInformationModified = "REMOVED"
        ds.DeidentificationMethod = "DICOM PS3.15 Annex E basic profile (BCL Predict)"
        codes = _METHOD_CODES if self.clean_descriptors else _METHOD_CODES[:1]
        items = []
        for value, meaning in codes:
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = DicomSequence(items)
        ds.file_meta = _fresh_file_meta(ds)
        _refuse_leftover_identifiers(ds, patient_words - _words(self.pseudonym))
        return ds

    def write_files(self, files: Sequence[FileRef], out_dir: str | Path) -> list[Path]:
        """De-identify DICOM image files into ``out_dir`` as ``00000.dcm``, ``00001.dcm``, ...

        Original file names are not kept (they often hold names or dates). Only image objects
        of :data:`STORABLE_SOP_CLASSES` are stored; every other file (not DICOM, a PDF, a
        structured report ...) is set aside and counted in :attr:`set_aside` by reason.
        ``out_dir`` is created 0700 and each file 0600 (owner only).

        Returns
        -------
        list of Path
            The files written, in order.

        Raises
        ------
        DeidentificationError
            If a file cannot be de-identified safely (see :meth:`dataset`).
        """
        folder = make_private_dir(out_dir)
        written: list[Path] = []
        for file in files:
            try:
                with quiet_pydicom(), file.open() as stream:
                    ds = dcmread(stream)
                    reason = set_aside_reason(ds)
            except Exception:  # noqa: BLE001 - not DICOM or unreadable: nothing to store
                logger.info("a file that is not readable DICOM was set aside")
                self.set_aside[NOT_DICOM] += 1
                continue
            if reason is not None:
                logger.info("a DICOM object was set aside: %s", reason)
                self.set_aside[reason] += 1
                continue
            self.dataset(ds)
            path = folder / f"{len(written):05d}.dcm"
            try:
                with open_private_file(path) as handle:
                    ds.save_as(handle, enforce_file_format=True)
            except Exception as exc:  # noqa: BLE001 - pydicom's writer rejects damaged headers
                path.unlink(missing_ok=True)
                raise DeidentificationError(
                    f"A de-identified file could not be written ({type(exc).__name__}); the "
                    "source file is probably damaged; export the series again."
                ) from exc
            written.append(path)
        return written


def is_registered_uid(value: str) -> bool:
    """Whether ``value`` is a UID defined by the DICOM standard (kept as is)."""
    return UID(value) in UID_dictionary
