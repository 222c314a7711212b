"""``bcl study``: the reader study from the command line (a thin front over bcl_core.study).

Every action except ``init`` signs in as a coordinator: ``--user`` (or ``BCL_STUDY_USER``) and
the password from ``BCL_STUDY_PASSWORD`` or a prompt. The database is ``BCL_DATABASE_URL`` or a
SQLite file under ``BCL_STUDY_DIR`` (default ``./study_data``). ``init`` also creates the study
key that hashes source case ids (``BCL_STUDY_KEY``, ``BCL_STUDY_KEY_FILE`` or
``<data folder>/study.key``; see :mod:`bcl_core.study.keys`).
"""

from __future__ import annotations

import argparse
import functools
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path

from bcl_core.commands import command_help
from bcl_core.errors import AuthenticationError, StudyError
from bcl_core.study import (
    LEAK_TYPES,
    Role,
    StudyDatabase,
    assign_reader,
    bootstrap_coordinator,
    change_password,
    create_study,
    create_user,
    database_from_env,
    import_cases,
    import_predictions_csv,
    import_reference_labels,
    imrmc_input,
    labels_csv,
    list_predictions,
    login,
    logout,
    long_csv,
    predictions_csv,
    reference_labels,
    study_progress,
)
from bcl_core.study.cases import ensure_study_key, protect_legacy_source_keys
from bcl_core.study.keys import key_file_path, load_study_key

USER_ENV = "BCL_STUDY_USER"
PASSWORD_ENV = "BCL_STUDY_PASSWORD"


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _password(prompt: str = "Password: ") -> str:
    return os.environ.get(PASSWORD_ENV) or getpass.getpass(prompt)


def _signed_in(
    action: Callable[[argparse.Namespace, StudyDatabase, str], int],
) -> Callable[[argparse.Namespace], int]:
    """Run ``action(args, db, token)`` signed in as ``--user``; signed out afterwards."""

    @functools.wraps(action)
    def run(args: argparse.Namespace) -> int:
        username = args.user or os.environ.get(USER_ENV)
        if not username:
            raise AuthenticationError(f"Give --user (or set {USER_ENV}) to sign in.")
        db = database_from_env()
        session = login(db, username, _password())
        try:
            if session.must_change_password:
                raise AuthenticationError("Replace the one-time password first: bcl study "
                                          f"passwd --user {username}.")
            return action(args, db, session.token)
        finally:
            logout(db, session.token)
            db.dispose()

    return run


def _init(args: argparse.Namespace) -> int:
    db = database_from_env()
    had_key = load_study_key(db.root) is not None
    key = ensure_study_key(db)
    if not had_key:
        _out(f"Study key created: {key_file_path(db.root)} (owner-only). Back it up apart from "
             "the database: without it, source case ids no longer match imported cases.")
    converted = db.run(lambda session: protect_legacy_source_keys(session, key), write=True)
    if converted:
        _out(f"Keyed the source hashes of {converted} case(s) imported by an older version.")
    created = bootstrap_coordinator(db, args.coordinator)
    _out(f"Study database ready ({db.dialect}). Coordinator {created.username}; one-time "
         f"password (shown once): {created.one_time_password}")
    _out(f"Next: bcl study passwd --user {created.username}")
    return 0


def _passwd(args: argparse.Namespace) -> int:
    username = args.user or os.environ.get(USER_ENV)
    if not username:
        raise AuthenticationError(f"Give --user (or set {USER_ENV}).")
    db = database_from_env()
    old = getpass.getpass("Current (or one-time) password: ")
    new = os.environ.get(PASSWORD_ENV) or getpass.getpass("New password: ")
    session = login(db, username, old)
    change_password(db, session.token, old, new)
    logout(db, session.token)
    _out("Password changed.")
    return 0


@_signed_in
def _create_study(args: argparse.Namespace, db: StudyDatabase, token: str) -> int:
    study = create_study(db, token, args.name, args.description, args.seed)
    _out(f"study {study.study_id}: {study.name}")
    return 0


@_signed_in
def _import(args: argparse.Namespace, db: StudyDatabase, token: str) -> int:
    report = import_cases(db, token, args.study, args.folder)
    _out(f"imported {len(report.imported)} case(s), {report.skipped_duplicates} already "
         "present")
    if report.set_aside:
        _out(f"set aside (not stored; only CT and MR images are): {report.set_aside_summary()}")
    if args.labels:
        count = import_reference_labels(db, token, args.study, args.labels)
        _out(f"{count} reference label(s) set")
    return 0


@_signed_in
def _add_user(args: argparse.Namespace, db: StudyDatabase, token: str) -> int:
    created = create_user(db, token, args.username, args.role, args.sso_email)
    if created.one_time_password:
        _out(f"{created.username} ({created.role.value}); one-time password (shown once): "
             f"{created.one_time_password}")
    else:
        _out(f"{created.username} ({created.role.value}) signs in with the organisation login")
    return 0


@_signed_in
def _assign(args: argparse.Namespace, db: StudyDatabase, token: str) -> int:
    for username in args.usernames:
        _out(f"{username}: {assign_reader(db, token, args.study, username)} case(s)")
    return 0


@_signed_in
def _progress(args: argparse.Namespace, db: StudyDatabase, token: str) -> int:
    for row in study_progress(db, token, args.study):
        _out(f"{row.username}\t{row.role.value}\t{row.done}/{row.total}")
    return 0


@_signed_in
def _predictions(args: argparse.Namespace, db: StudyDatabase, token: str) -> int:
    count = import_predictions_csv(db, token, args.study, args.csv, args.model_version)
    _out(f"{count} prediction(s) stored")
    return 0


@_signed_in
def _export(args: argparse.Namespace, db: StudyDatabase, token: str) -> int:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    written = {"reads.csv": long_csv(db, token, args.study),
               "labels.csv": labels_csv(db, token, args.study)}
    for version in sorted({p.model_version for p in list_predictions(db, token, args.study)}):
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in version)
        written[f"predictions_{safe}.csv"] = predictions_csv(db, token, args.study, version)
    if reference_labels(db, token, args.study):
        for leak_type in LEAK_TYPES:
            try:
                written[f"{leak_type}.imrmc"] = imrmc_input(db, token, args.study, leak_type)
            except StudyError:
                break  # no labelled case read yet
    for name, text in written.items():
        (out / name).write_text(text, encoding="utf-8")
        _out(str(out / name))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``study`` subcommand and its actions."""
    parser = subparsers.add_parser(
        "study", help=command_help("study"),
        description="Run a reader study: init the database, import de-identified cases, create "
        "accounts, assign readers, export reads/labels/predictions and iMRMC files. "
        "See docs/reader_study.md.")
    actions = parser.add_subparsers(dest="study_command", metavar="ACTION", required=True)

    def action(name: str, help_text: str, func: Callable[[argparse.Namespace], int],
               signed_in: bool = True) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        if signed_in:
            sub.add_argument("--user", help=f"coordinator username (default ${USER_ENV})")
        sub.set_defaults(func=func)
        return sub

    init = action("init", "create or migrate the database and its first coordinator", _init,
                  signed_in=False)
    init.add_argument("--coordinator", required=True, help="username of the first coordinator")
    action("passwd", "replace your (one-time) password", _passwd)
    create = action("create-study", "create a study", _create_study)
    create.add_argument("name")
    create.add_argument("--description", default="")
    create.add_argument("--seed", type=int, default=None, help="seed of the readers' case orders")
    imp = action("import", "import (and de-identify) a folder of cases", _import)
    imp.add_argument("study", type=int, help="study id")
    imp.add_argument("folder", type=Path, help="folder of cases (DIR/<case>/ct, DIR/<case>/mr)")
    imp.add_argument("--labels", type=Path, help="reference labels CSV (case_id,type1..type4)")
    add = action("add-user", "create an account with a one-time password", _add_user)
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--sso-email", default=None,
                     help="link the account to this organisation (OIDC) login instead of a password")
    assign = action("assign", "assign every case to readers (seeded random order each)", _assign)
    assign.add_argument("study", type=int)
    assign.add_argument("usernames", nargs="+")
    progress = action("progress", "cases done per reader", _progress)
    progress.add_argument("study", type=int)
    predictions = action("predictions", "store bcl predict-batch output for the study's cases",
                         _predictions)
    predictions.add_argument("study", type=int)
    predictions.add_argument("csv", type=Path)
    predictions.add_argument("--model-version", required=True)
    export = action("export", "write reads.csv, labels.csv, predictions_*.csv, type*.imrmc",
                    _export)
    export.add_argument("study", type=int)
    export.add_argument("--out", type=Path, required=True)
