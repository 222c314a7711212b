"""De-identification after DICOM PS3.15 Annex E, Basic Application Level Confidentiality Profile.

Used by every feature that stores a case. Per attribute of Table E.1-1, the action is one of:
``X`` remove, ``Z`` empty, ``D`` replace with a dummy value, ``U`` replace a UID with a new one
(consistently: the same original UID always maps to the same new one within a
:class:`Deidentifier`, so series, studies and frames of reference still link up), ``C`` clean
(Clean Descriptors Option: keep a description with identifying words removed).

Beyond the table, every element is also caught by its value representation, so attributes
added to the standard later are not missed: person names (PN) are emptied, dates and times
(DA, DT, TM) emptied, ages (AS) removed, and every UID that is not a registered DICOM UID
(SOP classes, transfer syntaxes and coding schemes stay) is remapped. Private elements are
removed unless listed as safe (PS3.15 Table E.3.10-1). Curves and overlays (groups 50xx and
60xx), which can carry burned-in text, are removed. Images flagged with burned-in annotation
are refused: text inside the pixels cannot be removed by header edits.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.datadict import dictionary_has_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import BaseTag
from pydicom.uid import UID, UID_dictionary

from bcl_core.errors import DeidentificationError
from bcl_core.io.quiet import quiet_pydicom
from bcl_core.io.sources import FileRef

logger = logging.getLogger(__name__)

#: Attributes removed (X, and X/Z or X/D where removal is allowed).
REMOVE: frozenset[str] = frozenset("""
AcquisitionComments AcquisitionDeviceProcessingDescription AcquisitionProtocolDescription
ActualHumanPerformersSequence AdditionalPatientHistory AdmissionID AdmittingDate
AdmittingDiagnosesCodeSequence AdmittingDiagnosesDescription AdmittingTime Allergies Arbitrary
AuthorObserverSequence BranchOfService CassetteID CommentsOnThePerformedProcedureStep
CommentsOnRadiationDose ConfidentialityConstraintOnPatientDataDescription
ConsultingPhysicianIdentificationSequence ContentCreatorIdentificationCodeSequence
ContributionDescription CountryOfResidence CurrentPatientLocation CurveDate CurveTime
CustodialOrganizationSequence DataSetTrailingPadding DateOfLastCalibration
DateOfSecondaryCapture DerivationDescription DetectorID DeviceDescription DeviceSerialNumber
DigitalSignaturesSequence DischargeDate DischargeDiagnosisDescription DischargeTime
DistributionAddress DistributionName EthnicGroup FrameComments GantryID GeneratorID
HumanPerformerName HumanPerformerOrganization IconImageSequence IdentifyingComments
ImageComments ImagePresentationComments ImagingServiceRequestComments Impressions
InstanceCreationDate InstanceCreationTime InstanceCreatorUID InstitutionAddress
InstitutionCodeSequence InstitutionName InstitutionalDepartmentName
InstitutionalDepartmentTypeCodeSequence InsurancePlanIdentification
IntendedRecipientsOfResultsIdentificationSequence InterpretationApproverSequence
InterpretationAuthor InterpretationDiagnosisDescription InterpretationIDIssuer
InterpretationRecorder InterpretationText InterpretationTranscriber IssuerOfAdmissionID
IssuerOfAdmissionIDSequence IssuerOfPatientID IssuerOfPatientIDQualifiersSequence
IssuerOfServiceEpisodeID IssuerOfServiceEpisodeIDSequence LastMenstrualDate MedicalAlerts
MedicalRecordLocator MilitaryRank ModifiedAttributesSequence ModifiedImageDescription
ModifyingDeviceID NameOfPhysiciansReadingStudy NamesOfIntendedRecipientsOfResults NetworkID
Occupation OperatorIdentificationSequence OperatorsName OrderCallbackPhoneNumber
OrderCallbackTelecomInformation OrderEnteredBy OrderEntererLocation OriginalAttributesSequence
OtherPatientIDs OtherPatientIDsSequence OtherPatientNames PatientAddress PatientAge
PatientBirthDateInAlternativeCalendar PatientBirthName PatientBirthTime PatientComments
PatientDeathDateInAlternativeCalendar PatientInsurancePlanCodeSequence PatientMotherBirthName
PatientPrimaryLanguageCodeSequence PatientPrimaryLanguageModifierCodeSequence
PatientReligiousPreference PatientSexNeutered PatientSize PatientState PatientTelecomInformation
PatientTelephoneNumbers PatientTransportArrangements PatientWeight PerformedLocation
PerformedProcedureStepDescription PerformedProcedureStepEndDate PerformedProcedureStepEndTime
PerformedProcedureStepID PerformedProcedureStepStartDate PerformedProcedureStepStartTime
PerformedStationAETitle PerformedStationGeographicLocationCodeSequence PerformedStationName
PerformedStationNameCodeSequence PerformingPhysicianIdentificationSequence
PerformingPhysicianName PersonAddress PersonTelecomInformation PersonTelephoneNumbers
PhysicianApprovingInterpretation PhysiciansOfRecord PhysiciansOfRecordIdentificationSequence
PhysiciansReadingStudyIdentificationSequence PlateID PreMedication PregnancyStatus
ReasonForStudy ReasonForTheImagingServiceRequest ReferencedDigitalSignatureSequence
ReferencedPatientAliasSequence ReferencedPatientPhotoSequence ReferencedPatientSequence
ReferencedSOPInstanceMACSequence ReferringPhysicianAddress
ReferringPhysicianIdentificationSequence ReferringPhysicianTelephoneNumbers RegionOfResidence
RequestAttributesSequence RequestedContrastAgent RequestedProcedureComments
RequestedProcedureDescription RequestedProcedureID RequestedProcedureLocation
RequestingPhysician RequestingService ResponsibleOrganization ResponsiblePerson
ResponsiblePersonRole ResultsComments ResultsDistributionListSequence ResultsIDIssuer
ScheduledHumanPerformersSequence ScheduledPatientInstitutionResidence
ScheduledPerformingPhysicianIdentificationSequence ScheduledPerformingPhysicianName
ScheduledProcedureStepDescription ScheduledProcedureStepEndDate ScheduledProcedureStepEndTime
ScheduledProcedureStepLocation ScheduledProcedureStepStartDate ScheduledProcedureStepStartTime
ScheduledStationAETitle ScheduledStationGeographicLocationCodeSequence ScheduledStationName
ScheduledStationNameCodeSequence ScheduledStudyLocation ScheduledStudyLocationAETitle
SeriesDate SeriesTime ServiceEpisodeDescription ServiceEpisodeID SmokingStatus SourceSerialNumber
SpecialNeeds StationName StudyComments StudyDescription StudyIDIssuer TextComments TextString
TopicAuthor TopicKeywords TopicSubject TopicTitle UniqueDeviceIdentifier VisitComments
AcquisitionDate AcquisitionTime AcquisitionDateTime
""".split())

#: Attributes kept but emptied (Z), type 2 attributes that must stay present.
EMPTY: frozenset[str] = frozenset("""
AccessionNumber ConsultingPhysicianName ContentCreatorName FillerOrderNumberImagingServiceRequest
PatientBirthDate PatientSex PlacerOrderNumberImagingServiceRequest ReferringPhysicianName
StudyDate StudyID StudyTime ContentDate ContentTime ClinicalTrialProtocolName
ClinicalTrialSiteID ClinicalTrialSiteName ClinicalTrialTimePointID
""".split())

#: Attributes replaced by a dummy value (D).
DUMMY: frozenset[str] = frozenset("""
ClinicalTrialSponsorName ClinicalTrialProtocolID ClinicalTrialSubjectID
ClinicalTrialSubjectReadingID PersonName VerifyingObserverName VerifyingOrganization
ContainerIdentifier SpecimenIdentifier DeviceLabel
""".split())

#: Descriptions kept after cleaning (Clean Descriptors Option): they tell T2 from T1.
CLEAN: frozenset[str] = frozenset("SeriesDescription ProtocolName".split())

#: Private attributes known not to identify anyone (PS3.15 Table E.3.10-1): (creator, element).
SAFE_PRIVATE: frozenset[tuple[str, int]] = frozenset({
    ("Philips MR Imaging DD 001", 0x0D),  # MR scale intercept
    ("Philips MR Imaging DD 001", 0x0E),  # MR scale slope
})

_DUMMY_TEXT = "ANONYMIZED"
_REMOVED_VRS = {"AS", "UN"}  # ages; public elements of unknown meaning
_EMPTIED_VRS = {"PN", "DA", "DT", "TM"}
#: Method codes: Basic Application Confidentiality Profile, Clean Descriptors Option.
_METHOD_CODES = (("113100", "Basic Application Confidentiality Profile"),
                 ("113105", "Clean Descriptors Option"))
_LONG_NUMBER = re.compile(r"\d{5,}|\d{1,4}[-./]\d{1,2}[-./]\d{1,4}")  # IDs and dates


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
        if not UID(syntax).is_transfer_syntax:
            raise DeidentificationError(
                "The file is damaged (its transfer syntax is unreadable), so it cannot be "
                "de-identified safely and was not stored; export the series again."
            )
        meta.TransferSyntaxUID = syntax
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
_STAFF_AND_PLACE_KEYWORDS = ("AccessionNumber", "InstitutionName", "ReferringPhysicianName",
                             "PerformingPhysicianName", "OperatorsName")


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


def clean_descriptor(text: str, identifying_words: Iterable[str]) -> str:
    """Remove identifying words and long digit runs (dates, IDs) from a description.

    Examples
    --------
    >>> clean_descriptor("T2_TSE_SAG SMITH 20240102", {"smith"})
    'T2_TSE_SAG'
    """
    banned = {w.lower() for w in identifying_words}
    tokens = re.split(r"(\s+)", text)
    kept = [token for token in tokens
            if token.strip() == "" or (token.lower().strip("^,;:()[]") not in banned
                                       and not _LONG_NUMBER.search(token))]
    cleaned = "".join(kept)
    # Identifying words glued to other text (e.g. "SMITH_T2") are cut out too.
    for word in banned:
        cleaned = re.sub(re.escape(word), "", cleaned, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", cleaned).strip(" _-")


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
        Keep SeriesDescription and ProtocolName after cleaning (Clean Descriptors Option);
        ``False`` removes them as the basic profile alone does.
    safe_private:
        ``(private creator, element byte)`` pairs of private attributes to keep.

    Examples
    --------
    >>> from pydicom.datadict import dictionary_has_tag
from pydicom.dataset import Dataset, FileMetaDataset
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

    def _process(self, ds: Dataset, identifying: set[str]) -> None:
        creators = self._private_creators(ds)
        for element in list(ds):
            tag, keyword, vr = element.tag, element.keyword, element.VR
            if tag.is_private:
                if not self._keep_private(tag, creators):
                    del ds[tag]
                continue
            if not dictionary_has_tag(tag) or tag.element == 0:
                del ds[tag]  # unknown public element (or group length): cannot be classified
            elif (tag.group & 0xFF00) in (0x5000, 0x6000) or tag.group in (0x4000, 0x4008):
                del ds[tag]  # curves, overlays, arbitrary comments, interpretations
            elif keyword in REMOVE or vr in _REMOVED_VRS:
                del ds[tag]
            elif keyword in CLEAN:
                if self.clean_descriptors:
                    _check_kept_text(element)
                    text = "\\".join(element.value) if element.VM > 1 else str(element.value or "")
                    element.value = clean_descriptor(text, identifying)
                else:
                    del ds[tag]
            elif keyword in DUMMY:
                element.value = _DUMMY_TEXT if vr not in _EMPTIED_VRS - {"PN"} else None
            elif keyword in EMPTY or vr in _EMPTIED_VRS:
                element.value = _empty_value(element)
            elif vr == "UI":
                self._remap(element)
            elif vr == "SQ":
                for item in element.value or []:
                    self._process(item, identifying)
            else:
                _check_kept_text(element)

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
                identifying = patient_words | _identifier_words(ds, _STAFF_AND_PLACE_KEYWORDS)
                self._process(ds, identifying)
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
        """De-identify DICOM files into ``out_dir`` as ``00000.dcm``, ``00001.dcm``, ...

        Original file names are not kept (they often hold names or dates). Files that are not
        DICOM are skipped.

        Raises
        ------
        DeidentificationError
            If a file cannot be de-identified safely (see :meth:`dataset`).
        """
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for file in files:
            try:
                with quiet_pydicom(), file.open() as stream:
                    ds = dcmread(stream)
            except Exception:  # noqa: BLE001 - not DICOM or unreadable: nothing to store
                logger.info("skipping a file that is not readable DICOM")
                continue
            self.dataset(ds)
            path = folder / f"{len(written):05d}.dcm"
            try:
                ds.save_as(path, enforce_file_format=True)
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
