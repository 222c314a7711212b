"""Reader study page: blinded prediction reads, reference reads and adjudication.

UI only; every rule (roles, blinding, locking, order) is enforced in ``bcl_core.study``.
Script page for ``st.Page("pages/reader_study.py")``.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for `pages.components`

from bcl_core import SYNTHETIC_NOTICE  # noqa: E402
from bcl_core.clinic.viewer import ViewPlane  # noqa: E402
from bcl_core.errors import BCLError  # noqa: E402
from bcl_core.study import (  # noqa: E402
    adjudicate,
    adjudication_queue,
    my_progress,
    next_case,
    submit_read,
    submit_reference_read,
)
from bcl_core.study.constants import LEAK_TYPES, Role  # noqa: E402
from bcl_core.study.models import utcnow  # noqa: E402
from bcl_core.study.views import CaseToRead  # noqa: E402
from bcl_core.volume import Volume  # noqa: E402
from pages.components import study_session as session  # noqa: E402
from pages.components.browser_viewer import (  # noqa: E402
    browser_viewer,
    start_viewers,
)
from pages.components.frame import require_frame  # noqa: E402
from pages.components.viewer_widget import slice_key, viewer_widget  # noqa: E402

TYPE_NAMES = {
    "type1": "Type I: segmental vein",
    "type2": "Type II: cortical defect into soft tissue",
    "type3": "Type III: into the disc",
    "type4": "Type IV: into the spinal canal",
}
SERIES_TITLES = {"ct": "CT (preoperative)", "mr": "MRI (preoperative)",
                 "postop": "Postoperative"}
YES_NO = ("No", "Yes")
#: Session-state key of answers waiting for confirmation: (case_id, calls, confidences, comment).
PENDING_READ = "study_pending_read"
#: Planes offered per series (the acquisition plane opens first).
PLANES: tuple[ViewPlane, ...] = ("axial", "sagittal", "coronal")
#: Answers of one case: calls and confidences per type, and the comment.
Answers = tuple[dict[str, int | None], dict[str, int | None], str]


def _volumes(case: CaseToRead) -> dict[str, Volume]:
    """The case's series, loaded once per case and kept for this session only."""
    cached = st.session_state[session.VOLUMES]
    if cached is not None and cached[0] == case.case_id:
        return cached[1]
    from bcl_core.io import load_volume

    volumes: dict[str, Volume] = {}
    for name, folder in case.series_dirs.items():
        try:
            volumes[name] = load_volume(folder)
        except BCLError as exc:
            st.error(f"{SERIES_TITLES.get(name, name)} cannot be shown: {exc}")
    st.session_state[session.VOLUMES] = (case.case_id, volumes)
    return volumes


def _show_images(case: CaseToRead) -> None:
    volumes = _volumes(case)
    target = case.target
    if target is not None:
        st.caption(f"Target vertebra{' ' + target.level if target.level else ''}: the viewers "
                   "open on its body centre, marked by the crosshair and a cyan ring.")
    points = {"ct": target.ct_point_mm, "mr": target.mr_point_mm} if target else {}
    browser = start_viewers()
    columns = st.columns(max(1, len(volumes)))
    for column, (name, volume) in zip(columns, volumes.items(), strict=False):
        with column:
            title = SERIES_TITLES.get(name, name)
            if browser:
                browser_viewer(volume, key=f"view_{name}", title=title, planes=PLANES,
                               focus_mm=points.get(name), show_marker=True)
            else:
                _open_at(case, f"view_{name}", volume, points.get(name))
                viewer_widget(volume, key=f"view_{name}", title=title,
                              point_mm=points.get(name))


def _open_at(case: CaseToRead, key: str, volume: Volume,
             point_mm: tuple[float, float, float] | None) -> None:
    """Put the static viewer's sliders on the target's slices, once per case."""
    from bcl_core.clinic.consult import slice_positions

    marker = f"{key}_opened_case"
    if point_mm is None or st.session_state.get(marker) == case.case_id:
        return
    try:
        positions = slice_positions(volume, point_mm, PLANES)
    except BCLError:  # too oblique for the static planes: it opens in the middle
        positions = {}
    for plane, position in positions.items():
        st.session_state[slice_key(key, plane)] = position
    st.session_state[marker] = case.case_id


def _started(case: CaseToRead) -> datetime:
    opened = st.session_state[session.CASE_OPENED]
    if opened is None or opened[0] != case.case_id:
        opened = (case.case_id, utcnow())
        st.session_state[session.CASE_OPENED] = opened
    return opened[1]


def _calls_form(case: CaseToRead, with_confidence: bool, submit_label: str) -> Answers | None:
    """Per-type yes/no (required) and optional probability; returns the confirmed answers.

    Enter in a box never submits (``enter_to_submit=False``). "Review answers" shows what
    will be saved; only the explicit submit button under that review saves (and, for a
    reader, locks) the answers.
    """
    with st.form(f"answers_{case.case_id}", enter_to_submit=False):
        calls: dict[str, int | None] = {}
        confidences: dict[str, int | None] = {}
        for leak_type in LEAK_TYPES:
            left, right = st.columns([2, 1])
            answer = left.radio(TYPE_NAMES[leak_type], YES_NO, index=None, horizontal=True,
                                key=f"call_{case.case_id}_{leak_type}")
            calls[leak_type] = None if answer is None else YES_NO.index(answer)
            if with_confidence:
                confidences[leak_type] = right.number_input(
                    "Probability (0-100, optional)", min_value=0, max_value=100, value=None,
                    step=5, key=f"conf_{case.case_id}_{leak_type}")
        comment = st.text_area("Comment (optional)", key=f"comment_{case.case_id}",
                               max_chars=2000)
        reviewed = st.form_submit_button("Review answers")
    if reviewed:
        missing = [TYPE_NAMES[t] for t, v in calls.items() if v is None]
        if missing:
            st.session_state[PENDING_READ] = None
            st.error("Answer every type before submitting: " + "; ".join(missing) + ".")
            return None
        st.session_state[PENDING_READ] = (case.case_id, calls, confidences, comment)
    return _confirm(case, with_confidence, submit_label)


def _confirm(case: CaseToRead, with_confidence: bool, submit_label: str) -> Answers | None:
    """The answers under review and the one button that saves them; returns them when pressed."""
    pending = st.session_state.get(PENDING_READ)
    if pending is None or pending[0] != case.case_id:
        return None
    _, calls, confidences, comment = pending
    rows = [{"type": TYPE_NAMES[t], "answer": YES_NO[calls[t]],
             **({"probability (%)": "not given" if confidences.get(t) is None
                 else str(confidences[t])}
                if with_confidence else {})} for t in LEAK_TYPES]
    with st.container(border=True):
        st.markdown("**Check your answers before submitting**")
        st.dataframe(pd.DataFrame(rows), hide_index=True)  # shown as data, never as HTML
        if comment:
            st.text("Comment: " + comment)  # plain text: never markdown or HTML
        left, right = st.columns(2)
        confirmed = left.button(submit_label, type="primary", key=f"confirm_{case.case_id}")
        if right.button("Change answers", key=f"change_{case.case_id}"):
            st.session_state[PENDING_READ] = None
            st.rerun()
    if not confirmed:
        return None
    st.session_state[PENDING_READ] = None
    return calls, confidences, comment


def _finish_case(message: str) -> None:
    st.session_state[PENDING_READ] = None
    st.session_state[session.CASE_OPENED] = None
    st.session_state[session.VOLUMES] = None
    st.session_state[session.NOTICE] = message
    st.rerun()


def _progress(study_id: int) -> bool:
    progress = session.call(my_progress, study_id)
    if progress is None:
        return False
    st.progress(progress.done / max(1, progress.total),
                text=f"{progress.done} of {progress.total} cases done")
    return progress.done >= progress.total


def _read_cases(study_id: int, role: Role) -> None:
    if _progress(study_id):
        st.success("All your cases are done. Thank you!")
        return
    case = session.call(next_case, study_id)
    if case is None:
        st.success("All your cases are done. Thank you!")
        return
    started = _started(case)
    st.subheader(f"Case {case.code} ({case.position} of {case.total})")
    if case.amendment:
        st.warning("The coordinator reopened this answer for an amendment.")
    _show_images(case)
    if role is Role.READER:
        answers = _calls_form(case, with_confidence=True, submit_label="Submit (locks the answer)")
    else:
        st.caption("Record the leakage types you observe (postoperative images where shown).")
        answers = _calls_form(case, with_confidence=False, submit_label="Submit")
    if answers is None:
        return
    calls, confidences, comment = answers
    spent = (utcnow() - started).total_seconds()
    done: object
    if role is Role.READER:
        done = session.call(submit_read, study_id, case.case_id, calls, confidences, spent,
                            comment, started)
    else:
        done = session.call(submit_reference_read, study_id, case.case_id, calls, comment)
    if done is not None:
        _finish_case(f"Case {case.code} saved.")


def _adjudicate(study_id: int) -> None:
    queue = session.call(adjudication_queue, study_id) or []
    if not queue:
        st.success("No disagreement waits for adjudication.")
        return
    st.write(f"{len(queue)} case(s) wait for adjudication.")
    item = st.selectbox("Case", queue, format_func=lambda d: d.code, key="adjudication_case")
    table = pd.DataFrame(
        [{"reader": name, **{TYPE_NAMES[t]: YES_NO[v] for t, v in calls.items()},
          "comment": comment} for name, calls, comment in item.reads])
    st.dataframe(table, hide_index=True)  # text shown as data, never as HTML
    case = CaseToRead(study_id, item.case_id, item.code, 0, 0, item.series_dirs, False,
                      item.target)
    _show_images(case)
    answers = _calls_form(case, with_confidence=False, submit_label="Decide")
    if answers is None:
        return
    calls, _, note = answers
    if session.call(adjudicate, study_id, item.case_id, calls, note) is not None:
        _finish_case(f"Case {item.code} decided.")


def main() -> None:
    st.title("Reader study")
    st.caption(SYNTHETIC_NOTICE)
    st.session_state.setdefault(PENDING_READ, None)
    role = session.require_login((Role.READER, Role.REFERENCE_READER, Role.ADJUDICATOR))
    if role is None:
        return
    study = session.choose_study()
    if study is None:
        return
    if role is Role.ADJUDICATOR:
        _adjudicate(study.study_id)
    else:
        _read_cases(study.study_id, role)


require_frame()  # before any output: a deep link opened first gets the frame
main()
