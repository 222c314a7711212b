"""Consult page: load a case, scroll it, mark the vertebra, predict, explain, export.

UI only: loading, series choice, marking, prediction and reports are in ``bcl_core.clinic.consult``,
``bcl_core.clinic.report`` and ``bcl_core.predict.pipeline``. Script page for ``st.Page("pages/consult.py")``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for `pages.components`

from bcl_core import SYNTHETIC_NOTICE  # noqa: E402
from bcl_core.clinic.card_summary import card_summary, load_model_card  # noqa: E402
from bcl_core.clinic.consult import (  # noqa: E402
    ROLE_NAMES,
    ROLES,
    STAGE_LABELS,
    ConsultCase,
    Role,
    is_new_click,
    load_case,
    mark_point,
    new_consult,
    run_prediction,
    slice_positions,
    user_message,
)
from bcl_core.clinic.demo_case import demo_case_dir, demo_points  # noqa: E402
from bcl_core.errors import BCLError  # noqa: E402
from bcl_core.leakage import LEAKAGE_TYPES, TYPE_LABELS  # noqa: E402
from pages.components import consult_state as keys  # noqa: E402
from pages.components.browser_viewer import (  # noqa: E402
    browser_viewer,
    start_viewers,
)
from pages.components.consult_viewer import empty_map_messages, heat_overlay  # noqa: E402
from pages.components.frame import require_frame  # noqa: E402
from pages.components.models import pipeline_models, status  # noqa: E402
from pages.components.viewer_widget import slice_key, viewer_widget  # noqa: E402

logger = logging.getLogger(__name__)

VIEWER_PLANES: dict[Role, tuple[Any, ...]] = {"ct": ("axial", "sagittal", "coronal"),
                                              "mr": ("sagittal",)}
NO_MAP = "none"
#: Widget keys that hold per-case view state: the viewers' and the typed points'.
VIEWER_KEY_PREFIXES = (*(f"consult_{role}_" for role in ROLES), "consult_point_")


def _load(source: Any, source_name: str, choices: dict[Role, int | None] | None = None) -> None:
    """Load a case into this session; a failure becomes a message, the page stays usable."""
    try:
        with st.spinner("Reading the DICOM series ..."):
            # The session's previous volumes go before the new ones are decoded: at most one
            # decoded volume per modality per session.
            case = load_case(source, choices, replacing=keys.consult())
    except Exception as exc:  # noqa: BLE001 - every failure must end in a message, not a trace
        logger.info("case could not be loaded (%s)", type(exc).__name__)  # no names or paths
        st.session_state[keys.LOAD_ERROR] = user_message(exc)
        return
    _reset_viewers()
    st.session_state[keys.CONSULT] = new_consult(case, source_name)
    st.session_state[keys.SOURCE] = source
    st.session_state[keys.LOAD_ERROR] = None
    st.session_state[keys.REPORTS] = {}
    st.session_state[keys.HEAT_HEAD] = NO_MAP


def _reset_viewers() -> None:
    """Forget the viewers' slices, windows and last clicks: they belonged to the previous case
    (a slider position may lie outside the new series, an old click must not mark it)."""
    for key in [k for k in st.session_state if str(k).startswith(VIEWER_KEY_PREFIXES)]:
        del st.session_state[key]
    st.session_state[keys.PENDING_SLICES] = {}


def _input_section() -> None:
    st.subheader("1. Case")
    upload_tab, demo_tab = st.tabs(["Upload DICOM", "Demo case"])
    with upload_tab:
        folder = st.file_uploader("A DICOM folder (CT and MRI of the patient)",
                                  accept_multiple_files="directory", key="consult_folder")
        files = st.file_uploader("Or DICOM files, or one zip with both series",
                                 accept_multiple_files=True, key="consult_files")
        uploads = list(folder or []) + list(files or [])
        if st.button("Load uploaded case", disabled=not uploads, key="consult_load_upload"):
            _load(uploads, f"upload ({len(uploads)} file(s))")
    with demo_tab:
        st.write("A synthetic case made by the project (no patient): full-size CT and sagittal "
                 "T2 MRI of a thoracolumbar compression fracture.")
        if st.button("Load demo case", key="consult_load_demo"):
            try:
                with st.spinner("Preparing the demo case (the first time takes about 20 s) ..."):
                    folder_path = demo_case_dir()
            except Exception as exc:  # noqa: BLE001
                st.session_state[keys.LOAD_ERROR] = user_message(exc)
            else:
                _load(folder_path, "demo case (synthetic)")
    if st.session_state[keys.LOAD_ERROR]:
        st.error(st.session_state[keys.LOAD_ERROR])


def _case_summary(consult: ConsultCase) -> None:
    case = consult.case
    assert case is not None
    import pandas as pd

    st.caption(f"Loaded: {consult.source_name}")
    table = pd.DataFrame([row.__dict__ for row in case.rows]).rename(columns={
        "index": "#", "label": "series", "spacing_mm": "spacing (mm)", "use": "serves as",
        "fit": "fit for prediction"})
    st.dataframe(table, hide_index=True, width="stretch")
    if case.skipped:
        st.caption(f"Files set aside: {case.skipped}.")
    repairs = [f"{role.upper()}: {r}" for role, volume in case.volumes.items()
               for r in volume.metadata.get("repairs", [])]
    for line in repairs:
        st.info(f"Repaired while loading: {line}")
    _series_choice(consult)
    if case.missing_message:
        st.error(case.missing_message)


def _series_choice(consult: ConsultCase) -> None:
    case = consult.case
    assert case is not None
    labels = {row.index: f"[{row.index}] {row.label}" for row in case.rows}
    options = list(labels)
    columns = st.columns(2)
    wanted: dict[Role, int | None] = {}
    for column, role in zip(columns, ROLES, strict=True):
        current = case.choices.get(role)
        wanted[role] = column.selectbox(
            f"Series used as the {ROLE_NAMES[role]}", options,
            index=options.index(current) if current in options else None,
            format_func=labels.__getitem__, key=f"consult_choice_{role}",
            placeholder="no fit series found")
    if any(wanted[r] is not None and wanted[r] != case.choices.get(r) for r in ROLES):
        _load(st.session_state[keys.SOURCE], consult.source_name, wanted)
        st.rerun()


def _point_inputs(consult: ConsultCase, role: Role) -> None:
    """Keyboard entry of the point (also what tests drive: AppTest cannot click an image)."""
    current = consult.marks[role].point_mm or tuple(
        float(v) for v in consult.case.volumes[role].center_mm)  # type: ignore[union-attr]
    with st.expander(f"Type the point on the {ROLE_NAMES[role]} (LPS mm)"):
        with st.form(f"consult_point_form_{role}"):
            cols = st.columns(3)
            values = [cols[a].number_input(axis, value=float(current[a]), format="%.1f",
                                           key=f"consult_point_{role}_{axis}")
                      for a, axis in enumerate("xyz")]
            if st.form_submit_button("Mark this point"):
                _mark(consult, {role: values})


def _viewer_key(role: Role) -> str:
    """Key prefix of a role's viewer widgets (see VIEWER_KEY_PREFIXES)."""
    return f"consult_{role}"


def _show_slice(consult: ConsultCase, role: Role, point_mm: Any) -> None:
    """Move the role's viewer to the slices through the marked point."""
    volume = consult.case.volumes.get(role) if consult.case else None
    if volume is None:
        return
    try:
        positions = slice_positions(volume, point_mm, VIEWER_PLANES[role])
    except BCLError:  # too oblique to show: the viewer reports that itself
        return
    # The slider may already be drawn in this run: move it before it is drawn in the next.
    st.session_state[keys.PENDING_SLICES][role] = positions


def _heat_choice(consult: ConsultCase) -> str:
    if consult.result is None:
        return NO_MAP
    options = [NO_MAP, *LEAKAGE_TYPES]
    return st.radio("Heat map on the images (what drove the model estimate)", options,
                    format_func=lambda h: "none" if h == NO_MAP else TYPE_LABELS[h],
                    horizontal=True, key=keys.HEAT_HEAD)


def _viewers(consult: ConsultCase) -> None:
    st.subheader("2. Mark the fractured vertebra")
    st.write("Click the centre of the fractured vertebral body on the CT and on the MRI. The "
             "outline appears at once; click again to replace it.")
    browser = start_viewers()
    head = st.session_state[keys.HEAT_HEAD] if consult.result is not None else NO_MAP
    columns = st.columns(2)
    for column, role in zip(columns, ROLES, strict=True):
        volume = consult.case.volumes.get(role) if consult.case else None
        with column:
            if volume is None:
                st.info(f"No {ROLE_NAMES[role]} loaded.")
                continue
            if browser:
                _browser_viewer(consult, role, head)
            else:
                _static_viewer(consult, role, head)
            _mark_feedback(consult, role)
            _point_inputs(consult, role)
    points = demo_points(st.session_state[keys.SOURCE]) if _is_demo(consult) else None
    if points and st.button("Demo only: mark the target vertebra for me",
                            key="consult_demo_points"):
        _mark(consult, points)


def _browser_viewer(consult: ConsultCase, role: Role, head: str) -> None:
    """The WebGL viewer: scrolling, windowing and zoom in the browser; a click marks."""
    volume = consult.case.volumes[role]  # type: ignore[union-attr]
    mark = consult.marks[role]
    state = browser_viewer(volume, key=_viewer_key(role), title=ROLE_NAMES[role].upper(),
                           planes=VIEWER_PLANES[role], mask=mark.mask,
                           heat=heat_overlay(consult, role, head) if head != NO_MAP else None,
                           focus_mm=mark.point_mm, clickable=True)
    if state.marked_mm is not None:
        _mark(consult, {role: state.marked_mm})


def _static_viewer(consult: ConsultCase, role: Role, head: str) -> None:
    """The server-rendered viewer (browsers without WebGL 2)."""
    volume = consult.case.volumes[role]  # type: ignore[union-attr]
    for plane, position in st.session_state[keys.PENDING_SLICES].pop(role, {}).items():
        st.session_state[slice_key(_viewer_key(role), plane)] = position
    mark = consult.marks[role]
    found = getattr(consult.result, role) if consult.result is not None else None
    heat = found.maps.get(head) if found is not None and head != NO_MAP else None
    state = viewer_widget(volume, key=_viewer_key(role), title=ROLE_NAMES[role].upper(),
                          planes=VIEWER_PLANES[role], mask=mark.mask, heatmap=heat,
                          point_mm=mark.point_mm, clickable=True, image_width="stretch")
    if state.clicked_mm is not None and is_new_click(consult, role, state.click):
        _mark(consult, {role: state.clicked_mm})


def _mark(consult: ConsultCase, points: dict[Role, Any]) -> None:
    """Mark (and outline) the given points; a failure becomes the mark's message."""
    with st.spinner("Outlining the vertebra ..."):
        for role, point_mm in points.items():
            try:
                mark_point(consult, role, point_mm)
            except Exception as exc:  # noqa: BLE001 - e.g. no segmentation model installed
                consult.marks[role].message = user_message(exc)
            _show_slice(consult, role, point_mm)
    st.session_state[keys.REPORTS] = {}
    st.rerun()


def _is_demo(consult: ConsultCase) -> bool:
    return consult.source_name.startswith("demo") and isinstance(
        st.session_state[keys.SOURCE], str | Path)


def _mark_feedback(consult: ConsultCase, role: Role) -> None:
    mark = consult.marks[role]
    if mark.message:
        st.error(mark.message)
    elif mark.mask is not None and mark.point_mm is not None:
        point = ", ".join(f"{v:.1f}" for v in mark.point_mm)
        st.success(f"Vertebra outlined ({mark.mask.metadata.get('volume_ml', 0):.0f} ml) at "
                   f"({point}) mm.")


def _predict(consult: ConsultCase) -> None:
    st.subheader("3. Predict")
    model = status()
    if not model.ready:
        st.error("No trained model installed: a prediction cannot run yet. Install the models "
                 f"(fusion, seg_ct, seg_mr) into {model.model_dir}.")
        return
    ready = consult.case is not None and consult.case.ready and consult.points_ready
    if not ready:
        st.caption("Mark the vertebra on both series to predict.")
    if st.button("Predict leakage risk", type="primary", disabled=not ready,
                 key="consult_predict"):
        with st.status("Predicting ...", expanded=True) as progress:
            try:
                run_prediction(consult, progress=lambda s: progress.write(STAGE_LABELS.get(s, s)),
                               models=pipeline_models())
            except Exception as exc:  # noqa: BLE001 - shown as a message, never a trace
                progress.update(label="Prediction failed", state="error")
                st.error(user_message(exc))
                return
            progress.update(label="Prediction done", state="complete", expanded=False)
        st.session_state[keys.REPORTS] = {}
        st.rerun()


def _results(consult: ConsultCase) -> None:
    result = consult.result
    if result is None:
        return
    import pandas as pd

    from bcl_core.clinic.report import probabilities_table
    from pages.components.results_chart import probability_chart

    st.subheader("4. Model estimate per leakage type")
    st.caption("Model estimate, not a diagnosis. " + SYNTHETIC_NOTICE)
    type4 = result.probabilities["type4"]
    message = (f"**Type IV (spinal canal): {100 * type4:.0f} %** model estimate, threshold "
               f"{100 * result.thresholds['type4']:.0f} %: "
               + ("**high**: plan to avoid canal leakage." if result.calls["type4"]
                  else "low."))
    (st.error if result.calls["type4"] else st.success)(message)
    columns = st.columns(len(LEAKAGE_TYPES))
    for column, name in zip(columns, LEAKAGE_TYPES, strict=True):
        column.metric(TYPE_LABELS[name].split(":")[0], f"{100 * result.probabilities[name]:.1f} %",
                      "high" if result.calls[name] else "low", delta_arrow="off",
                      delta_color="red" if result.calls[name] else "gray", border=True,
                      help=f"{TYPE_LABELS[name]}; threshold "
                           f"{100 * result.thresholds[name]:.1f} %")
    table = pd.DataFrame(probabilities_table(result))
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "Probability": st.column_config.NumberColumn(format="%.3f"),
        "Threshold": st.column_config.NumberColumn(format="%.3f")})
    st.plotly_chart(probability_chart(result), width="stretch")
    head = _heat_choice(consult)
    if head != NO_MAP:
        st.caption("The heat map is drawn on both viewers above, inside the vertebra only, with "
                   "its colour scale under each image.")
        for message in empty_map_messages(consult, head):
            st.info(message)
    timings = "; ".join(f"{STAGE_LABELS.get(k, k)} {v:.2f} s"
                        for k, v in result.timings_s.items() if k != "total")
    st.caption(f"Model {result.model_name} {result.model_version} on {result.provider}. "
               f"Time {result.timings_s.get('total', 0):.1f} s ({timings}).")
    _export(consult)


def _report_bytes(consult: ConsultCase, kind: str) -> bytes:
    """The report, built once per result, label and map (kept in this session only)."""
    result = consult.result
    assert result is not None and consult.case is not None
    label = st.session_state[keys.PATIENT_LABEL]
    head = st.session_state[keys.HEAT_HEAD]
    token = (id(result), label, head)
    cached = st.session_state[keys.REPORTS].get(kind)
    if cached and cached[0] == token:
        return cached[1]
    from bcl_core.clinic.report import report_json, report_pdf

    card = card_summary(load_model_card())
    if kind == "pdf":
        data = report_pdf(result, consult.case.volumes["ct"], consult.case.volumes["mr"],
                          patient_label=label, card=card,
                          map_head=head if head != NO_MAP else "type4")
    else:
        data = report_json(result, patient_label=label, card=card)
    st.session_state[keys.REPORTS][kind] = (token, data)
    return data


def _export(consult: ConsultCase) -> None:
    st.subheader("5. Report")
    st.text_input("Patient name or ID to print on the report (optional; leave empty for none)",
                  key=keys.PATIENT_LABEL)
    left, right = st.columns(2)
    left.download_button("Download PDF report", _report_bytes(consult, "pdf"),
                         file_name="bcl_report.pdf", mime="application/pdf",
                         key="consult_pdf", on_click="ignore")
    right.download_button("Download JSON", _report_bytes(consult, "json"),
                          file_name="bcl_report.json", mime="application/json",
                          key="consult_json", on_click="ignore")
    try:
        st.page_link("pages/patient_view.py", label="Explain to the patient (plain-language view)")
    except StreamlitAPIException:  # the page runs alone (tests), outside the app's navigation
        st.caption("Open the Patient view page to explain the estimate in plain words.")


def render() -> None:
    """The consult page."""
    keys.init_state()
    st.title("Consult: cement leakage risk before kyphoplasty")
    st.warning(SYNTHETIC_NOTICE)
    if not status().ready:
        st.error("No trained model installed. You can load and view a case; predictions need "
                 "the models.")
    _input_section()
    consult = keys.consult()
    if consult.case is None:
        return
    _case_summary(consult)
    if consult.case.volumes:
        _viewers(consult)
    _predict(consult)
    _results(consult)


require_frame()  # before any output: a deep link opened first gets the frame
render()
