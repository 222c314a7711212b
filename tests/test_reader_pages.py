"""AppTest of the reader-study pages: login, read three cases, resume, finish; admin page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest
from test_study_support import FAST_HASHER, PASSWORD, PLANTED, build_world, write_case

from bcl_core import SYNTHETIC_NOTICE
from bcl_core.study import StudyDatabase, create_study
from bcl_core.study.cases import study_folder
from bcl_core.study.models import Case, Read

REPO = Path(__file__).resolve().parent.parent
READER_PAGE = str(REPO / "pages" / "reader_study.py")
ADMIN_PAGE = str(REPO / "pages" / "study_admin.py")


@pytest.fixture
def study_world(tmp_path, monkeypatch, repo_root):
    """A SQLite study with three cases holding real (tiny) DICOM, set up for the pages."""
    monkeypatch.chdir(repo_root)
    data = tmp_path / "data"
    url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    monkeypatch.setenv("BCL_DATABASE_URL", url)
    monkeypatch.setenv("BCL_STUDY_DIR", str(data))
    db = StudyDatabase(url=url, data_dir=data, password_hasher=FAST_HASHER)
    db.upgrade()
    world = build_world(db, n_cases=3)
    for n in range(1, 4):
        write_case(data / study_folder(world.study_id) / "cases", f"C{n:04d}", seed=n)
    target = json.dumps({"ct_point_mm": [2.0, 2.0, 2.0], "mr_point_mm": [2.0, 2.0, 2.0],
                         "level": "L1"})
    db.run(lambda session: session.execute(update(Case).values(target_json=target)), write=True)
    yield world
    db.dispose()


def _app(page: str) -> AppTest:
    app = AppTest.from_file(page, default_timeout=60)
    app.run()
    return app


def _login(app: AppTest, username: str) -> None:
    app.text_input(key="study_login_username").input(username)
    app.text_input(key="study_login_password").input(PASSWORD)
    app.button[0].click().run()
    assert not app.exception, app.exception


def _review_and_submit(app: AppTest, submit_label: str) -> None:
    """Press "Review answers", then the explicit submit button under the review."""
    next(b for b in app.button if b.label == "Review answers").click().run()
    assert not app.exception, app.exception
    next(b for b in app.button if b.label.startswith(submit_label)).click().run()
    assert not app.exception, app.exception


def _read_current_case(app: AppTest, answer: str) -> str:
    heading = app.subheader[0].value
    for radio in [r for r in app.radio if (r.key or "").startswith("call_")]:
        radio.set_value(answer)
    confidences = [n for n in app.number_input if (n.key or "").startswith("conf_")]
    confidences[0].set_value(75)
    _review_and_submit(app, "Submit")
    return heading


def _views(app: AppTest) -> list[dict]:
    """Data the page sent to each browser viewer on the last run."""
    return [json.loads(e.proto.json) for e in app.get("bidi_component")
            if e.proto.component_name == "bcl_viewer_view"]


def test_reader_logs_in_reads_three_cases_with_a_resume_and_finishes(study_world):
    app = _app(READER_PAGE)
    assert any(SYNTHETIC_NOTICE in c.value for c in app.caption)
    _login(app, "reader")
    assert app.subheader[0].value.endswith("(1 of 3)")
    assert len(_views(app)) == 2  # CT and MRI viewers
    assert any("Target vertebra L1" in c.value for c in app.caption)
    _read_current_case(app, "No")
    assert app.subheader[0].value.endswith("(2 of 3)")
    _read_current_case(app, "Yes")

    # Stop and come back later: a new browser session resumes at the third case.
    resumed = _app(READER_PAGE)
    _login(resumed, "reader")
    assert resumed.subheader[0].value.endswith("(3 of 3)")
    _read_current_case(resumed, "No")
    assert any("All your cases are done" in s.value for s in resumed.success)

    with study_world.db.read_session() as session:
        reads = list(session.scalars(select(Read).order_by(Read.submitted_at)))
    assert len(reads) == 3 and all(r.locked for r in reads)
    assert [r.type1 for r in reads] == [0, 1, 0] and all(r.confidence1 == 75 for r in reads)
    assert all(r.time_spent_s >= 0 and r.started_at <= r.submitted_at for r in reads)


def test_unanswered_types_block_submission(study_world):
    app = _app(READER_PAGE)
    _login(app, "reader")
    next(b for b in app.button if b.label == "Review answers").click().run()
    assert any("Answer every type" in e.value for e in app.error)
    assert not [b for b in app.button if b.label.startswith("Submit")]  # nothing to confirm
    with study_world.db.read_session() as session:
        assert session.scalars(select(Read)).first() is None


def test_wrong_password_is_refused_and_the_page_stays_locked(study_world):
    app = _app(READER_PAGE)
    app.text_input(key="study_login_username").input("reader")
    app.text_input(key="study_login_password").input("wrong password!")
    app.button[0].click().run()
    assert any("Wrong username or password" in e.value for e in app.error)
    assert not app.subheader


def test_admin_page_shows_user_text_escaped_and_refuses_readers(study_world):
    payload = "<script>alert('x')</script>"
    create_study(study_world.db, study_world.token("coordinator"), payload, payload)
    app = _app(ADMIN_PAGE)
    _login(app, "coordinator")
    assert not app.exception
    assert len(app.tabs) == 8
    # Raw HTML never reaches markdown; the name appears only as widget/table data.
    assert all("<script>" not in m.value for m in app.markdown)
    assert payload in app.selectbox(key="study_choice").options

    reader = _app(ADMIN_PAGE)
    _login(reader, "reader")
    assert any("not for your role" in w.value for w in reader.warning)
    assert not reader.tabs


def _target_at_z4(study_world) -> None:
    """Targets on the last CT slice (write_case: 3 slices 2 mm apart, z = 0, 2, 4 mm)."""
    target = json.dumps({"ct_point_mm": [2.0, 2.0, 4.0], "mr_point_mm": [2.0, 2.0, 2.0],
                         "level": "L1"})
    study_world.db.run(lambda session: session.execute(update(Case).values(target_json=target)),
                       write=True)


def test_viewers_open_at_the_target_with_the_marker(study_world):
    _target_at_z4(study_world)
    app = _app(READER_PAGE)
    _login(app, "reader")
    ct, mr = _views(app)
    # LPS (2, 2, 4) is RAS (-2, -2, 4); the ring marks it.
    assert ct["focus_ras"] == pytest.approx([-2.0, -2.0, 4.0])
    assert mr["focus_ras"] == pytest.approx([-2.0, -2.0, 2.0])
    assert ct["show_marker"] and mr["show_marker"] and not ct["clickable"]
    assert [p["name"] for p in ct["presets"]] == ["bone", "soft tissue", "auto"]
    assert [p["name"] for p in mr["presets"]] == ["auto"]  # no CT preset on the MRI


def test_only_voxels_and_geometry_reach_the_browser(study_world):
    """The cases carry planted identifiers in their DICOM headers: none reaches the viewer."""
    from bcl_core.clinic.viewer_data import unpack_payload

    app = _app(READER_PAGE)
    _login(app, "reader")
    sent = [e.proto for e in app.get("bidi_component")
            if e.proto.component_name in ("bcl_viewer_store", "bcl_viewer_view")]
    blobs = [blob for p in sent if p.bytes for blob in unpack_payload(p.bytes).values()]
    texts = [p.json for p in sent if p.json]
    assert len(blobs) == 4 and len(texts) == 2  # grid + voxels per series; two viewers
    for value in PLANTED.values():
        needle = str(value).encode()
        assert not any(needle in blob for blob in blobs)
        assert not any(str(value) in text for text in texts)


def test_without_webgl_the_static_viewer_opens_at_the_target(study_world):
    _target_at_z4(study_world)
    app = _app(READER_PAGE)
    app.session_state["bcl_viewer_webgl"] = False
    _login(app, "reader")
    assert any("no WebGL 2" in i.value for i in app.info)
    caption = app.get("image")[0].proto.imgs[0].caption
    assert caption.startswith("axial slice 3/3 at z = 4.0 mm"), caption  # not the middle (2/3)
    app.slider(key="view_ct_axial_mm").set_value(0.0).run()
    assert app.get("image")[0].proto.imgs[0].caption.startswith("axial slice 1/3 at z = 0.0 mm")


def test_a_read_is_saved_only_by_the_submit_button_after_the_review(study_world):
    app = _app(READER_PAGE)
    _login(app, "reader")
    for radio in [r for r in app.radio if (r.key or "").startswith("call_")]:
        radio.set_value("Yes")
    [n for n in app.number_input if (n.key or "").startswith("conf_")][1].set_value(40)
    next(b for b in app.button if b.label == "Review answers").click().run()
    review = app.dataframe[-1].value
    assert list(review["answer"]) == ["Yes"] * 4
    assert list(review["probability (%)"]) == ["not given", "40", "not given", "not given"]
    with study_world.db.read_session() as session:
        assert not list(session.scalars(select(Read)))  # nothing saved by the review
    next(b for b in app.button if b.label == "Change answers").click().run()
    assert not [b for b in app.button if b.label.startswith("Submit")]
    next(b for b in app.button if b.label == "Review answers").click().run()
    next(b for b in app.button if b.label.startswith("Submit")).click().run()
    with study_world.db.read_session() as session:
        reads = list(session.scalars(select(Read)))
    assert len(reads) == 1 and reads[0].locked and reads[0].confidence2 == 40


PAYLOAD = "<script>alert('x')</script> '; DROP TABLE read;--"


def _answer_all(app: AppTest, answer: str, button: str) -> None:
    for radio in [r for r in app.radio if (r.key or "").startswith("call_")]:
        radio.set_value(answer)
    comment = next((t for t in app.text_area if (t.key or "").startswith("comment_")), None)
    if comment is not None:
        comment.input(PAYLOAD)
    _review_and_submit(app, button)


def test_reference_readers_disagree_and_the_adjudicator_decides(study_world):
    for who, answer in (("reference1", "Yes"), ("reference2", "No")):
        app = _app(READER_PAGE)
        _login(app, who)
        assert not [n for n in app.number_input if (n.key or "").startswith("conf_")]
        for _ in range(3):  # each reference reader has its own order: read them all
            _answer_all(app, answer, "Submit")
            assert any("saved" in i.value for i in app.info)
        assert any("All your cases are done" in s.value for s in app.success)
    judge = _app(READER_PAGE)
    _login(judge, "adjudicator")
    assert any("3 case(s) wait" in m.value for m in judge.markdown)
    shown = judge.dataframe[0].value
    assert set(shown["reader"]) == {"reference1", "reference2"}
    assert set(shown["comment"]) == {PAYLOAD.strip()}  # shown as table data, escaped
    assert all("<script>" not in m.value for m in judge.markdown)
    _answer_all(judge, "Yes", "Decide")
    assert any("2 case(s) wait" in m.value for m in judge.markdown)
    from bcl_core.study import reference_labels

    labels = reference_labels(study_world.db, study_world.token("coordinator"),
                              study_world.study_id)
    assert [(lab.source, lab.decided_by, lab.note) for lab in labels] == [
        ("adjudicated", "adjudicator", PAYLOAD.strip())]


def test_coordinator_creates_an_account_and_sees_its_one_time_password_once(study_world):
    app = _app(ADMIN_PAGE)
    _login(app, "coordinator")
    app.text_input(key="new_username").input("newreader")
    app.selectbox(key="new_user_role").set_value("reader")
    next(b for b in app.button if b.label == "Create account").click().run()
    assert not app.exception
    assert any("One-time password for newreader" in s.value for s in app.success)
    assert len(app.code) == 1 and len(app.code[0].value) >= 12
    app.run()
    assert not app.code  # shown once
    users = app.dataframe[0].value
    assert "newreader" in set(users["username"])
    assert users.set_index("username").loc["newreader", "role"] == "reader"


def test_a_new_account_has_no_default_role_and_needs_one(study_world):
    # Issue 16: the role used to default to coordinator.
    app = _app(ADMIN_PAGE)
    _login(app, "coordinator")
    assert app.selectbox(key="new_user_role").value is None
    app.text_input(key="new_username").input("newcomer")
    next(b for b in app.button if b.label == "Create account").click().run()
    assert not app.exception
    assert any("Choose the account's role" in e.value for e in app.error)
    assert not app.code  # no one-time password: nothing was created
    from bcl_core.study import list_users

    names = {u.username for u in list_users(study_world.db, study_world.token("coordinator"))}
    assert "newcomer" not in names


def test_the_login_form_names_its_client_for_the_login_budget(study_world, monkeypatch):
    from pages.components import study_session

    seen = []
    real_login = study_session.login

    def recording_login(db, username, password, client_key=None):
        seen.append(client_key)
        return real_login(db, username, password, client_key=client_key)

    monkeypatch.setattr(study_session, "login", recording_login)
    app = _app(READER_PAGE)
    _login(app, "reader")
    assert seen == ["local"]  # AppTest, like a browser on this computer, has no remote address


def test_admin_tabs_render_with_reads_labels_and_predictions(study_world):
    from bcl_core.study import next_case, run_model, submit_read, submit_reference_read

    db, study = study_world.db, study_world.study_id
    case = next_case(db, study_world.token("reader"), study)
    submit_read(db, study_world.token("reader"), study, case.case_id,
                {"type1": 1, "type2": 0, "type3": 0, "type4": 0}, {"type1": 90}, 5.0)
    for who in ("reference1", "reference2"):
        submit_reference_read(db, study_world.token(who), study, case.case_id,
                              {"type1": 1, "type2": 0, "type3": 0, "type4": 0})
    run_model(db, study_world.token("coordinator"), study,
              lambda dirs, target: ({"type1": 0.8, "type2": 0.1, "type3": 0.1, "type4": 0.1},
                                    {"type1": 1, "type2": 0, "type3": 0, "type4": 0}), "m1")
    app = _app(ADMIN_PAGE)
    _login(app, "coordinator")
    assert not app.exception
    downloads = app.get("download_button")
    assert len(downloads) == 3  # reads.csv, labels.csv, predictions.csv
    app.button(key="prepare_imrmc").click().run()
    assert not app.exception and len(app.get("download_button")) == 4
    progress = next(d.value for d in app.dataframe if "done" in d.value.columns)
    assert progress.set_index("username").loc["reader", "done"] == 1


def test_an_ended_session_sends_the_reader_back_to_login(study_world):
    from bcl_core.study import logout

    app = _app(READER_PAGE)
    _login(app, "reader")
    logout(study_world.db, app.session_state["study_token"])  # e.g. expired or reset
    app.run()
    assert any("log in again" in i.value for i in app.info)
    assert app.text_input(key="study_login_username") is not None and not app.subheader


def test_organisation_login_is_offered_only_when_configured(study_world):
    plain = _app(READER_PAGE)
    assert not [b for b in plain.button if b.key == "study_sso"]
    configured = AppTest.from_file(READER_PAGE, default_timeout=60)
    configured.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback",
                                  "cookie_secret": "x" * 32, "client_id": "bcl",
                                  "client_secret": "s", "server_metadata_url":
                                  "https://idp.example/.well-known/openid-configuration"}
    configured.run()
    assert not configured.exception
    assert [b for b in configured.button if b.key == "study_sso"]


def test_coordinator_links_an_account_to_the_organisation_login(study_world):
    app = _app(ADMIN_PAGE)
    _login(app, "coordinator")
    app.text_input(key="new_username").input("sso.ann")
    app.selectbox(key="new_user_role").set_value("adjudicator")
    app.text_input(key="new_user_identity").input("ann@hospital.example")
    next(b for b in app.button if b.label == "Create account").click().run()
    assert not app.exception and not app.code  # no password to show
    assert any("organisation login" in i.value for i in app.info)
