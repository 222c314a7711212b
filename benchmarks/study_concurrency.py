"""Reader-study database under load, and after a writer is killed mid-submission.

Concurrency: P reader processes start together (a barrier) and each reads R cases as fast as it
can (next case, submit). Afterwards: every read present exactly once, none lost, none
duplicated, and no "database is locked" (or any other error) reached a reader.

Crash: a reader process submits in a loop and is killed with SIGKILL at a random moment; the
database must pass ``PRAGMA integrity_check``, hold every read the process saw committed (at
most the one in flight may be missing), and the reader must resume at the first unread case of
its stored order. Repeated K times.

    python benchmarks/study_concurrency.py                       # 8 x 250, 5 kills, SQLite
    python benchmarks/study_concurrency.py --processes 2 --reads 10 --kills 1   # quick look
    python benchmarks/study_concurrency.py --url postgresql+psycopg://.../empty_db  # PostgreSQL
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from argon2 import PasswordHasher  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from bcl_core.study import (  # noqa: E402
    StudyDatabase,
    assign_reader,
    bootstrap_coordinator,
    change_password,
    create_study,
    create_user,
    login,
    next_case,
    submit_read,
)
from bcl_core.study.constants import Role  # noqa: E402
from bcl_core.study.models import Case, Read  # noqa: E402

PASSWORD = "benchmark password"
#: Cheap hashing: the benchmark measures the database, not argon2.
HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
ANSWER = {"type1": 1, "type2": 0, "type3": 0, "type4": 1}


def _database(url: str, data_dir: Path) -> StudyDatabase:
    return StudyDatabase(url=url, data_dir=data_dir, password_hasher=HASHER)


def _activate(db: StudyDatabase, username: str, otp: str) -> None:
    first = login(db, username, otp)
    change_password(db, first.token, otp, PASSWORD)


def setup(url: str, data_dir: Path, n_readers: int, n_cases: int) -> int:
    """A study with ``n_cases`` cases assigned to readers ``reader0``..; returns its id."""
    db = _database(url, data_dir)
    db.upgrade()
    boss = bootstrap_coordinator(db, "coordinator")
    _activate(db, "coordinator", boss.one_time_password)
    token = login(db, "coordinator", PASSWORD).token
    study = create_study(db, token, f"bench-{time.time_ns()}", "", 1)

    def add(session: Any) -> None:
        session.add_all(Case(study_id=study.study_id, code=f"C{n:05d}",
                             source_key_sha256=f"{n:064x}", content_sha256=f"{n:064x}",
                             storage_path=f"none/C{n:05d}", series="ct,mr")
                        for n in range(1, n_cases + 1))

    db.run(add, write=True)
    for n in range(n_readers):
        created = create_user(db, token, f"reader{n}", Role.READER)
        _activate(db, created.username, created.one_time_password)
        assign_reader(db, token, study.study_id, created.username)
    db.dispose()
    return study.study_id


def _reader(url: str, data_dir: str, username: str, study_id: int, barrier: Any,
            results: Any, progress: Any = None) -> None:
    db = _database(url, Path(data_dir))
    token = login(db, username, PASSWORD).token
    errors: list[str] = []
    done = 0
    if barrier is not None:
        barrier.wait()
    start = time.perf_counter()
    while True:
        try:
            case = next_case(db, token, study_id)
            if case is None:
                break
            submit_read(db, token, study_id, case.case_id, ANSWER, {"type1": 60}, 1.0)
            done += 1
            if progress is not None:
                progress.value = done  # acknowledged: committed before this line runs
        except Exception as exc:  # noqa: BLE001 - every error is counted and reported
            errors.append(f"{type(exc).__name__}: {exc}")
            if len(errors) > 50:
                break
    if results is not None:
        results.put({"reader": username, "done": done, "errors": errors,
                     "seconds": time.perf_counter() - start})


def concurrency(url: str, data_dir: Path, processes: int, reads: int) -> dict[str, Any]:
    study_id = setup(url, data_dir, processes, reads)
    context = mp.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = [context.Process(target=_reader, args=(url, str(data_dir), f"reader{n}", study_id,
                                                     barrier, results))
               for n in range(processes)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=1800) for _ in workers]
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - start
    db = _database(url, data_dir)
    with db.read_session() as session:
        stored = session.scalar(select(func.count(Read.id)).where(Read.study_id == study_id))
        distinct = session.scalar(select(func.count()).select_from(
            select(Read.case_id, Read.reader_id).where(Read.study_id == study_id)
            .distinct().subquery()))
    db.dispose()
    errors = [e for o in outcomes for e in o["errors"]]
    expected = processes * reads
    return {
        "backend": url.split(":", 1)[0], "processes": processes, "reads_per_process": reads,
        "expected_reads": expected, "stored_reads": stored,
        "lost": expected - distinct, "duplicated": stored - distinct,
        "errors_surfaced": len(errors),
        "database_is_locked": sum("locked" in e.lower() or "busy" in e.lower() for e in errors),
        "error_examples": errors[:3], "wall_s": round(wall, 2),
        "reads_per_s": round(expected / wall, 1),
    }


def crash(url: str, data_dir: Path, kills: int, seed: int) -> dict[str, Any]:
    """Kill a submitting reader ``kills`` times; check integrity, losses and resumption."""
    rng = random.Random(seed)
    study_id = setup(url, data_dir, 1, 200 + 80 * kills)  # more cases than the kills use
    context = mp.get_context("spawn")
    trials = []
    for _ in range(kills):
        progress = context.Value("i", 0)
        db = _database(url, data_dir)
        with db.read_session() as session:
            before = session.scalar(select(func.count(Read.id)))
        worker = context.Process(target=_reader, args=(url, str(data_dir), "reader0", study_id,
                                                       None, None, progress))
        worker.start()
        threshold = rng.randint(20, 60)
        while progress.value < threshold and worker.is_alive():
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.02))  # land anywhere inside the next submission
        os.kill(worker.pid, signal.SIGKILL)
        worker.join()
        acknowledged = before + progress.value
        with db.read_session() as session:
            stored = session.scalar(select(func.count(Read.id)))
            integrity = (session.execute(text("PRAGMA integrity_check")).scalar()
                         if db.dialect == "sqlite" else "n/a (PostgreSQL)")
        token = login(db, "reader0", PASSWORD).token
        resumed = next_case(db, token, study_id)
        with db.read_session() as session:
            already = session.scalar(select(func.count(Read.id)).where(
                Read.case_id == resumed.case_id))
        db.dispose()
        trials.append({
            "acknowledged": acknowledged, "stored": stored,
            "lost_acknowledged": max(0, acknowledged - stored),
            "in_flight_committed": stored - acknowledged,
            "integrity_check": integrity,
            "resumes_at_position": resumed.position, "expected_position": stored + 1,
            "resumed_case_unread": already == 0,
        })
    ok = all(t["lost_acknowledged"] == 0 and t["in_flight_committed"] in (0, 1)
             and t["integrity_check"] in ("ok", "n/a (PostgreSQL)")
             and t["resumes_at_position"] == t["expected_position"] and t["resumed_case_unread"]
             for t in trials)
    return {"kills": kills, "all_ok": ok, "trials": trials}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--reads", type=int, default=250)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--url", default=None, help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        url = args.url or f"sqlite:///{root / 'load.sqlite'}"
        load = concurrency(url, root, args.processes, args.reads)
        print(json.dumps(load, indent=2))
        # The crash check is SQLite's (PRAGMA integrity_check) and needs a second empty
        # database; with --url it runs on a fresh SQLite file.
        killed = crash(f"sqlite:///{root / 'crash.sqlite'}", root / "crash", args.kills,
                       args.seed)
        print(json.dumps(killed, indent=2))
    results = {"concurrency": load, "crash": killed}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    passed = (load["lost"] == 0 and load["duplicated"] == 0 and load["errors_surfaced"] == 0
              and killed["all_ok"])
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
