"""Domain exceptions of BCL Predict, all in one place.

Every exception carries a message a clinician or researcher can act on: what went wrong,
and what to do next. User-facing layers (the ``bcl`` command, the app) catch
:class:`BCLError` and show its message; anything else is a bug.
"""

from __future__ import annotations


class BCLError(Exception):
    """Base class of every error BCL Predict raises on purpose."""


# --- geometry -------------------------------------------------------------------------------
class GeometryError(BCLError):
    """A volume's geometry is missing, inconsistent or cannot be used."""


# --- input / DICOM --------------------------------------------------------------------------
class InputError(BCLError):
    """The input path, upload or archive cannot be used."""


class NoImagesError(InputError):
    """No readable image series was found in the input."""


class UnsafeArchiveError(InputError):
    """A zip archive was refused (path traversal, links, too many entries, too large)."""


class SeriesError(InputError):
    """An image series cannot be assembled or decoded."""


class AmbiguousSeriesError(InputError):
    """Several image series were found where exactly one was expected."""


class InputLimitError(InputError):
    """The input exceeds a safety limit (decoded image size, folder depth, path length)."""


class DeidentificationError(BCLError):
    """A dataset could not be de-identified safely."""


# --- synthetic cases ------------------------------------------------------------------------
class PhantomError(BCLError):
    """The synthetic case generator was given settings it cannot honour."""


# --- models and inference -------------------------------------------------------------------
class ModelError(BCLError):
    """A model file or its sidecar is missing, corrupt or inconsistent."""


class SegmentationError(BCLError):
    """The target vertebra could not be segmented (e.g. the click is off any vertebra)."""


class PipelineError(BCLError):
    """A prediction could not be completed."""


# --- evaluation -----------------------------------------------------------------------------
class StatsError(BCLError):
    """Statistics were asked of data that cannot support them (e.g. one class only)."""


class EvaluationInputError(BCLError):
    """A predictions, labels or reads table is missing columns or does not match."""


# --- reader study ---------------------------------------------------------------------------
class StudyError(BCLError):
    """A reader-study operation cannot be carried out."""


class AuthenticationError(StudyError):
    """Login failed, the account is locked, or the session expired."""


class PermissionDeniedError(StudyError):
    """The signed-in user's role does not allow this operation."""


class NotFoundError(StudyError):
    """The requested study, case, user or read does not exist."""


class ConflictError(StudyError):
    """The operation conflicts with stored state (e.g. an answer already locked)."""
