"""Reader study: database, accounts, blinded reading, reference standard, exports.

Every service function is called as ``fn(db, token, ...)`` with a :class:`StudyDatabase` and the
session token from :func:`login`; the caller's role is checked before anything else happens.

Examples
--------
>>> from bcl_core.study import StudyDatabase, bootstrap_coordinator, login, create_study
>>> db = StudyDatabase("sqlite://"); db.upgrade()
>>> first = bootstrap_coordinator(db, "coordinator")
>>> # login, change_password, then create_study(db, token, "Pilot") ...
"""

from __future__ import annotations

from bcl_core.study.access import SERVICE_REGISTRY, ServiceSpec
from bcl_core.study.accounts import create_user, list_users, reset_password, set_active
from bcl_core.study.auth import (
    bootstrap_coordinator,
    change_password,
    login,
    login_external,
    logout,
)
from bcl_core.study.cases import import_cases, list_cases
from bcl_core.study.constants import LEAK_TYPES, Role
from bcl_core.study.db import StudyDatabase, database_from_env
from bcl_core.study.export import (
    imrmc_input,
    labels_csv,
    long_csv,
    predictions_csv,
    reader_score,
)
from bcl_core.study.predictions import import_predictions_csv, list_predictions, run_model
from bcl_core.study.reading import (
    allow_amendment,
    my_progress,
    my_reads,
    next_case,
    reader_reads,
    submit_read,
)
from bcl_core.study.reference import (
    adjudicate,
    adjudication_queue,
    import_reference_labels,
    reference_labels,
    submit_reference_read,
)
from bcl_core.study.studies import assign_reader, create_study, list_studies, study_progress

#: Functions callable without a session (they establish or end one).
PUBLIC_FUNCTIONS = (
    "bootstrap_coordinator", "login", "login_external", "logout", "change_password",
)

__all__ = [
    "LEAK_TYPES", "PUBLIC_FUNCTIONS", "Role", "SERVICE_REGISTRY", "ServiceSpec",
    "StudyDatabase", "adjudicate", "adjudication_queue", "allow_amendment", "assign_reader",
    "bootstrap_coordinator", "change_password", "create_study", "create_user",
    "database_from_env", "import_cases", "import_predictions_csv", "import_reference_labels",
    "imrmc_input", "labels_csv", "list_cases", "list_predictions", "list_studies",
    "list_users", "login", "login_external", "logout", "long_csv", "my_progress", "my_reads",
    "next_case", "predictions_csv", "reader_reads", "reader_score", "reference_labels",
    "reset_password", "run_model", "set_active", "study_progress", "submit_read",
    "submit_reference_read",
]
