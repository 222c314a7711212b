"""Series, study and protocol descriptions cleaned by an allow-list of acquisition words.

PS3.15 Annex E lists SeriesDescription, StudyDescription and ProtocolName for removal unless
they are cleaned (Clean Descriptors Option). Identifying words (a ward, a physician, a date such
as ``23NOV1941``) cannot be recognised reliably, so cleaning keeps only the words that are known
to describe the acquisition (weighting, plane, sequence, kernel, slice thickness, anatomy,
contrast) and drops every other word. This module is the one place that list lives: the
de-identification of stored files (:mod:`bcl_core.io.deid`) and every series description shown
on screen use :func:`clean_description`.
"""

from __future__ import annotations

import re

#: Words that describe an acquisition, upper case (compared case-insensitively).
ALLOWED_WORDS: frozenset[str] = frozenset("""
CT CTA MR MRI MRT
T1 T2 T1W T2W T1WI T2WI T2STAR T2* PD PDW PDWI STIR TIRM FLAIR DWI DTI ADC SWI DIXON
FS FATSAT FAT SAT SPIR SPAIR WATER IN OUT OPP INPHASE OPPPHASE OPPOSED PHASE
TSE FSE SE GRE FFE TFE SPGR FRFSE SSFSE HASTE BLADE PROPELLER MEDIC MERGE VIBE LAVA SPACE CUBE
VISTA MPRAGE IR TIR TRUFI FIESTA BFFE
SAG SAGITTAL AX AXIAL AXI COR CORONAL TRA TRANS TRANSVERSAL TRANSVERSE OBL OBLIQUE
SPINE LSPINE TSPINE CSPINE L-SPINE T-SPINE C-SPINE LS-SPINE LWS BWS HWS WS LUMBAR THORACIC
CERVICAL THORACOLUMBAR LUMBOSACRAL SACRUM SACRAL VERTEBRA VERTEBRAE VERTEBRAL BODY ABDOMEN
PELVIS CHEST THORAX WHOLE
WITH WITHOUT W/O WO W/ C+ C- +C -C CONTRAST NATIVE NATIV NON NONCON PRE POST GD GADO
ENHANCED
BONE BONEPLUS SOFT TISSUE STANDARD STD DETAIL SHARP SMOOTH LUNG EDGE KERNEL FILTER
RECON RECONSTRUCTION MPR MIP MINIP VR 2D 3D ISO ISOTROPIC VOL VOLUME HELICAL SPIRAL SEQ
THIN THICK SLICE SLICES HR HIGH LOW RES RESOLUTION DOSE ROUTINE
SCOUT TOPOGRAM LOCALIZER LOCALISER SURVEY PLANNING
ORIGINAL PRIMARY DERIVED SECONDARY REFORMAT REFORMATTED MAP
""".split())

#: Word shapes that describe an acquisition: slice thickness, kernels, spine levels.
ALLOWED_PATTERNS: tuple[re.Pattern[str], ...] = tuple(re.compile(p, re.IGNORECASE) for p in (
    r"\d{1,2}(\.\d{1,3})?mm",  # slice thickness / spacing: 3mm, 1.25mm, 0.625MM
    # Siemens reconstruction kernels: B30f, H30s, I26f, J30s; Br40, Bv36, Hr38, Qr40d
    r"[bhijd]\d{2}[fshu]",
    r"(br|bv|bf|hr|hf|ir|qr|jr|dr)\d{2}[a-z]?\d?",
    r"fc\d{2}",  # Canon / Toshiba kernels (FC03)
    r"[ctls]\d{1,2}",  # spine levels (L1, T12); T1 / T2 are weightings as well
    r"[ctls]\d{1,2}-[ctls]\d{1,2}",  # a range of levels (T10-L2)
))

#: Characters that separate words; '/', '+', '-' and '.' stay inside a word ("W/O", "1.25mm").
_SEPARATORS = re.compile(r"([\s_^,;:=|\\()\[\]{}\"'#]+)")
#: Characters that split a word that is not allowed as a whole ("T2-TSE" -> "T2", "TSE").
_INNER_SEPARATORS = re.compile(r"([/+\-.]+)")
_NUMBER_THEN_MM = re.compile(r"(\d)\s+(mm)\b", re.IGNORECASE)


def is_allowed_word(word: str) -> bool:
    """Whether ``word`` describes an acquisition (is on the allow-list).

    Examples
    --------
    >>> is_allowed_word("tse"), is_allowed_word("1.25mm"), is_allowed_word("23NOV1941")
    (True, True, False)
    """
    if not word:
        return False
    if word.upper() in ALLOWED_WORDS:
        return True
    return any(pattern.fullmatch(word) for pattern in ALLOWED_PATTERNS)


def _clean_word(word: str) -> str:
    """The word when allowed; else its allowed parts ("T2-TSE" kept, "T2-WARD7" -> "T2")."""
    if is_allowed_word(word):
        return word
    parts = _INNER_SEPARATORS.split(word)
    kept = [part for part in parts[::2] if is_allowed_word(part)]
    if len(kept) == len(parts[::2]):
        return word
    return " ".join(kept)


def clean_description(text: str | None) -> str:
    """Keep only the acquisition words of a description (SeriesDescription, StudyDescription,
    ProtocolName); every other word is dropped.

    Words keep their original spelling and, where two kept words were adjacent, the separator
    between them; a dropped word leaves a single space.

    Parameters
    ----------
    text:
        The description as stored in the header (``None`` or empty gives ``""``).

    Returns
    -------
    str
        The cleaned description, possibly empty.

    Examples
    --------
    >>> clean_description("T2 TSE SAG 4mm")
    'T2 TSE SAG 4mm'
    >>> clean_description("T2_TSE_SAG WARD7 23NOV1941 Dr Smith")
    'T2_TSE_SAG'
    """
    if not text:
        return ""
    pieces = _SEPARATORS.split(_NUMBER_THEN_MM.sub(r"\1\2", str(text)))
    out: list[str] = []
    previous_kept = False
    for position, piece in enumerate(pieces):
        if position % 2:  # a separator: wait until the next word is known
            continue
        word = _clean_word(piece)
        if not word:
            previous_kept = False
            continue
        if out:
            out.append(pieces[position - 1] if previous_kept else " ")
        out.append(word)
        previous_kept = word == piece
    return re.sub(r"\s+", " ", "".join(out)).strip()
