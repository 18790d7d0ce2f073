"""The app starts on a fresh checkout and analyses an uploaded recording (Streamlit AppTest)."""
import re

import numpy as np
from pathlib import Path

from streamlit.testing.v1 import AppTest
from tests.helpers import ready_app, settle  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def test_app_starts_and_shows_encoder_honestly():
    at = ready_app(120)
    assert not at.exception
    assert at.title[0].value == "Analyze a recording"
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "Built-in acoustic features (not HeAR)" in sidebar
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "HeAR unavailable" in captions
    assert any("not a diagnosis" in i.value for i in at.sidebar.info)


def test_the_uploader_is_drawn_before_the_models_finish_loading(monkeypatch):
    """Paint first: with the loader held back, the Analyze page already shows its uploader and says the models are
    loading; released, the next run shows them (no timing involved: the load is blocked until the test says so)."""
    import threading

    from core.answers import analyzer as analyzer_module
    from ui import state

    release = threading.Event()
    real_init = analyzer_module.Analyzer.__init__

    def held_back(self, *args, **kwargs):
        assert release.wait(120), "the test never released the loader"
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(analyzer_module.Analyzer, "__init__", held_back)
    state.reset_loading()  # a fresh server process: nothing loaded yet
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
        assert not at.exception
        assert at.title[0].value == "Analyze a recording"
        assert at.file_uploader(key="upload") is not None  # usable while the heads are still loading
        assert not state.models_ready("respiratory")
        assert any("Loading the encoder and trained heads" in c.value for c in at.sidebar.caption)
        assert any("Loading the encoder and trained heads" in c.value for c in at.caption)
        assert not any("Encoder:" in m.value for m in at.sidebar.markdown)
    finally:
        release.set()
    settle(at)
    assert any("Encoder:" in m.value for m in at.sidebar.markdown)
    assert not any("Loading the encoder" in c.value for c in at.sidebar.caption)


def test_switching_task_loads_the_other_heads():
    at = ready_app(120)
    settle(at.sidebar.radio[0].set_value("cry").run())
    assert not at.exception
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "Head `pain`" in captions and "experimental" in captions


def _upload(at: AppTest, name: str, data: bytes, mime: str = "audio/wav") -> AppTest:
    at.file_uploader(key="upload").set_value((name, data, mime))
    return at.run()


def test_upload_real_format_gets_verdict_and_bad_file_gets_message(app_heads_only):
    from tests.helpers import cry_like, encode

    at = ready_app(120)
    settle(at.sidebar.radio[0].set_value("cry").run())
    app_heads_only("cry")  # the page's answer on a generated cry (the input check is tested on its own)
    _upload(at, "cry.flac", encode(cry_like(5.0, f0=520, harsh=0.8), 16000, "FLAC", "PCM_16"), "audio/flac")
    assert not at.exception
    labels = {m.label: m.value for m in at.metric}
    assert labels["Verdict"] in ("pain", "discomfort")
    assert labels["Usable windows"] == "4 / 4"
    # the pain head ships at its sensitivity >= 0.90 point: the rule under the verdict says so
    assert any(c.value.startswith("Rule:") and "sensitivity >= 0.90" in c.value for c in at.caption)
    assert any(c.value.startswith("Input check: not available") for c in at.caption)  # said, not hidden
    assert at.dataframe[-1].value.shape[0] == 4  # the window table
    assert not at.get("toggle") or not at.toggle(key="show_placement").value  # the heavy PCA only on demand
    at.toggle(key="show_placement").set_value(True).run()
    assert not at.exception
    assert at.selectbox(key="pca_head").value == "pain"  # the PCA placement among the training infants
    near = at.dataframe[-2].value
    assert len(near) == 5 and list(near.columns[:2]) == ["id", "label"] and near["distance"].is_monotonic_increasing
    _upload(at, "notes.wav", b"this is not audio" * 100)
    assert not at.exception
    assert any("Cannot analyse this file" in e.value for e in at.error)


def test_upload_respiratory_recording_gets_screening_verdict():
    import soundfile as sf

    from core.windows.framing import plan_windows
    from tests.conftest import data_path

    path = sorted(data_path("sprsound", "BioCAS2022", "test2022_intra_flac").glob("*.flac"))[0]  # 8 kHz
    at = ready_app(120)
    _upload(at, path.name, path.read_bytes(), "audio/flac")
    assert not at.exception
    labels = {m.label: m.value for m in at.metric}
    assert labels["Verdict"] in ("Adventitious sounds present", "No adventitious sounds found")
    assert labels["Screen"] in ("positive", "negative") and "P(Continuous adventitious sounds present)" in labels
    n16k = int(round(sf.info(str(path)).duration * 16000))
    assert at.dataframe[-1].value.shape[0] == len(plan_windows(n16k)[1])  # the app's 2-s windows at hop 1 s
    captions = " ".join(c.value for c in at.caption)
    assert "resampled from 8000 Hz" in captions
    assert "Validated per recording" in captions and "nested patient-grouped" in captions  # at the answer's unit
    assert at.selectbox(key="track").value == "detector"  # the window detector drawn under the spectrogram
    assert not any("not the validated default" in i.value for i in at.info)  # untouched slider: no note
    at.slider(key="th_continuous").set_value(0.6).run()
    assert not at.exception
    moved = " ".join(i.value for i in at.info)
    assert "At 0.60" in moved and "sensitivity" in moved and "specificity" in moved
    import hashlib

    captions = " ".join(c.value for c in at.caption)  # the report's fields, as the PDF and JSON carry them
    assert "The report uses the threshold(s) you moved: Continuous adventitious" in captions and "at 0.60" in captions
    assert hashlib.sha256(path.read_bytes()).hexdigest() in captions and "app version" in captions
    assert " UTC" in captions and "acoustic:acoustic-" in captions


def test_metrics_page_shows_every_split_and_the_published_references():
    at = ready_app(120)
    at.switch_page("views/metrics.py").run()
    assert not at.exception
    assert at.title[0].value == "Model metrics"
    at.selectbox(key="metrics_head").set_value("recording").run()
    assert not at.exception
    frames = [d.value for d in at.dataframe]

    def table(column: str):
        return next(f for f in frames if column in f.columns)

    answers = frames[0]
    assert set(answers["split"]) >= {"Patient-grouped CV, both periods (nested)", "Held-out patients (first outer fold)",
                                     "Same CV, later-period recordings"}
    assert answers["sensitivity"].str.contains("–").all()  # every figure with its interval
    shift = table("fitted on → scored on")  # the leave-one-period-out check, both ways
    assert set(shift["fitted on → scored on"]) == {"earlier → later", "later → earlier"}
    assert "quantity" in table("quantity") and "decisions" in table("decisions")
    children = table("exams")  # the examination's child-level answer, per child
    assert set(children["rule"]) == {"shipped: fitted", "any site", "≥ 2 sites"}
    assert children["exams"].min() >= 100
    detection = table("PR-AUC")
    assert set(detection["class"]) == {"Adventitious", "CAS", "DAS"}
    timeline = table("criterion")
    assert set(timeline["criterion"]) == {"overlap", "onset"}
    refs = table("published")
    assert list(refs["task"]) == ["2-1", "2-2"]
    assert "0.7179" in refs["published"][0] and "official BioCAS 2022 test set" in refs["published"][0]
    assert refs["ours: later-period recordings (official intra-patient release) ‡"][0] != ""
    split = next(o for o in at.selectbox(key="metrics_split").options if o.endswith("task 2-1"))
    at.selectbox(key="metrics_split").set_value(split).run()
    assert not at.exception
    recall = at.dataframe[-1].value
    assert list(recall["class"]) == ["Normal", "Adventitious", "Poor Quality"]
    at.toggle(key="metrics_norm").set_value(True).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) >= 4  # confusion, ROC, PR, reliability


def test_metrics_page_lists_every_infant_for_the_nested_leave_one_out_evaluation():
    at = ready_app(120)
    at.switch_page("views/metrics.py").run()
    settle(at.sidebar.radio[0].set_value("cry").run())
    assert at.selectbox(key="metrics_head").value == "pain"
    logo = at.selectbox(key="metrics_split").options[0]  # the headline
    assert logo.startswith("Nested leave-one-person-out")
    at.selectbox(key="metrics_split").set_value(logo).run()
    assert not at.exception
    people = at.dataframe[-1].value
    assert len(people) == 18 and set(people.columns) >= {"person", "majority right", "sensitivity", "specificity",
                                                         "within-person AUC"}
    assert any("of 18" in m.value for m in at.markdown)


def test_embeddings_page_colours_views_and_overlays_a_clip():
    from tests.helpers import cry_like, encode

    at = ready_app(120)
    at.switch_page("views/embeddings.py").run()
    assert not at.exception and at.title[0].value == "Embeddings"
    at.selectbox(key="emb_head").set_value("recording").run()
    assert "age" in at.selectbox(key="emb_colour").options  # read from SPRSound ids
    at.selectbox(key="emb_colour").set_value("age").run()
    assert not at.exception
    at.radio(key="emb_dims").set_value("3-D").run()
    assert not at.exception
    settle(at.sidebar.radio[0].set_value("cry").run())
    at.radio(key="emb_dims").set_value("2-D").run()
    at.file_uploader(key="emb_clips").set_value([
        ("a.wav", encode(cry_like(4.0, f0=520), 16000, "WAV", "PCM_16"), "audio/wav"),
        ("bad.wav", b"nope" * 100, "audio/wav")]).run()
    assert not at.exception
    assert any("bad.wav: cannot analyse" in w.value for w in at.warning)


def test_upload_a_real_sprsound_recording():
    from tests.conftest import data_path

    f = sorted(data_path("sprsound", "BioCAS2022", "test2022_intra_flac").glob("*.flac"))[0]
    at = ready_app(120)
    _upload(at, f.name, f.read_bytes(), "audio/flac")
    assert not at.exception
    labels = {m.label: m.value for m in at.metric}
    assert labels["Verdict"] in ("Adventitious sounds present", "No adventitious sounds found")
    assert any("resampled from 8000 Hz" in c.value for c in at.caption)
    at.toggle(key="show_placement").set_value(True).run()
    assert len(at.dataframe[-2].value) == 5  # nearest training records
    assert not any("unlike the training recordings" in w.value for w in at.warning)  # a real SPRSound recording
    assert any(c.value.startswith("Input check: sounds like chest auscultation") for c in at.caption)


def test_live_monitor_page_renders_and_hands_audio_to_analyze():
    at = ready_app(120)
    at.switch_page("views/live.py").run()
    assert not at.exception and at.title[0].value == "Live monitor"
    # AppTest has no server runtime for WebRTC: the page says so instead of failing (the browser test streams)
    assert any("WebRTC player cannot start here" in e.value for e in at.error)
    labels = {m.label: m.value for m in at.metric}
    assert labels["Windows analysed"] == "0" and labels["Listening"] == "stopped"
    at.button(key="live_save").click().run()
    assert any("Nothing recorded yet" in w.value for w in at.warning)


def test_reruns_reuse_the_result_and_a_new_recording_is_analysed_again(monkeypatch, app_heads_only):
    from core.answers.analyzer import Analyzer
    from tests.helpers import cry_like, encode

    calls = []
    real = Analyzer.analyze
    at = ready_app(120)
    settle(at.sidebar.radio[0].set_value("cry").run())  # loaded (and warmed up) before counting
    app_heads_only("cry")  # generated cries (the check would refuse them, and their page has no track)
    monkeypatch.setattr(Analyzer, "analyze", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    _upload(at, "cry.wav", encode(cry_like(4.0, f0=520), 16000, "WAV", "PCM_16"))
    assert len(calls) == 1
    at.selectbox(key="track").set_value("pain").run()  # a widget rerun: no new analysis
    assert len(calls) == 1 and not at.exception
    _upload(at, "other.wav", encode(cry_like(4.0, f0=400), 16000, "WAV", "PCM_16"))
    assert len(calls) == 2


def test_experimental_reason_head_is_hidden_until_switched_on(app_heads_only):
    from tests.helpers import cry_like, encode

    at = ready_app(120)
    settle(at.sidebar.radio[0].set_value("cry").run())
    app_heads_only("cry")
    assert at.sidebar.toggle(key="experimental").value is False
    _upload(at, "cry.wav", encode(cry_like(4.0, f0=520), 16000, "WAV", "PCM_16"))
    page = " ".join(m.value for m in at.markdown) + " ".join(str(m.value) for m in at.metric)
    assert "Parent-tagged reason" not in page and not at.sidebar.warning
    at.sidebar.toggle(key="experimental").set_value(True).run()
    assert not at.exception
    warned = " ".join(w.value for w in at.sidebar.warning)
    assert "macro AUC" in warned and "nested" in warned and "never as an answer" in warned  # its figures beside it
    assert "Parent-tagged reason (experimental)" in " ".join(m.value for m in at.markdown)


def test_task_and_result_survive_moving_between_pages(app_heads_only):
    from tests.helpers import cry_like, encode

    at = ready_app(120)
    settle(at.sidebar.radio(key="task").set_value("cry").run())
    app_heads_only("cry")
    _upload(at, "cry.wav", encode(cry_like(4.0, f0=520), 16000, "WAV", "PCM_16"))
    verdict = {m.label: m.value for m in at.metric}["Verdict"]
    for page in ("views/examination.py", "views/live.py", "views/batch.py", "views/embeddings.py",
                 "views/metrics.py", "views/analyze.py"):
        at.switch_page(page).run()
        assert not at.exception, page
        assert at.sidebar.radio(key="task").value == "cry", page  # one source of truth, kept across pages
        if page == "views/examination.py":  # the examination is for chest recordings: it says so for a cry task
            assert any("Respiratory" in i.value for i in at.info)
    assert at.session_state["analysis"][1].task == "cry"  # the last analysis is kept for the session
    # back on Analyze: the file and its answer are there again, said so, until the user clears them
    assert {m.label: m.value for m in at.metric}["Verdict"] == verdict
    assert any("Your last file on this page (cry.wav)" in i.value for i in at.info)
    at.button(key="clear_analyze").click().run()
    assert not at.exception and "Verdict" not in {m.label for m in at.metric}


def test_the_examination_and_batch_pages_keep_their_work_between_pages():
    from tests.conftest import data_path

    files = sorted(data_path("sprsound", "BioCAS2022", "test2022_intra_flac").glob("40813160_*.flac"))[:2]
    at = ready_app(240)
    at.switch_page("views/examination.py").run()
    at.file_uploader(key="exam_upload").set_value([(f.name, f.read_bytes(), "audio/flac") for f in files]).run()
    assert not at.exception
    answers = [m.value for m in at.markdown if "child score" in m.value]
    at.switch_page("views/metrics.py").run()
    at.switch_page("views/examination.py").run()
    assert not at.exception
    assert any("Your last 2 files on this page" in i.value for i in at.info)
    assert [m.value for m in at.markdown if "child score" in m.value] == answers

    at.switch_page("views/batch.py").run()
    at.file_uploader(key="batch_upload").set_value([(f.name, f.read_bytes(), "audio/flac") for f in files]).run()
    table = at.dataframe[0].value
    at.switch_page("views/analyze.py").run()
    at.switch_page("views/batch.py").run()
    assert not at.exception and any("Your last 2 files on this page" in i.value for i in at.info)
    assert at.dataframe[0].value["verdict"].tolist() == table["verdict"].tolist()


def test_examination_page_gives_per_site_and_child_answers_and_keeps_them_per_session():
    from tests.conftest import data_path

    files = sorted(data_path("sprsound", "BioCAS2022", "test2022_intra_flac").glob("40813160_*.flac"))
    at = ready_app(240)
    at.switch_page("views/examination.py").run()
    at.file_uploader(key="exam_upload").set_value([(f.name, f.read_bytes(), "audio/flac") for f in files]).run()
    assert not at.exception
    sites = at.dataframe[0].value  # one row per site, in upload order
    assert list(sites["site"]) == ["p1", "p2", "p3", "p4"] and set(sites["visit"]) == {"visit 1"}
    child = " ".join(m.value for m in at.markdown)  # the child's answers, never cut to a metric's width
    assert re.search(r"\*\*(Adventitious sounds present|No adventitious sounds found) \(child score \d+%\)\*\*",
                     child)
    assert "Compared, not used: 'any site positive' would say" in " ".join(c.value for c in at.caption)
    captions = " ".join(c.value for c in at.caption)
    assert "Validated per child" in captions and "nested patient-grouped" in captions
    assert "4 of 4 recording(s) answered" in captions
    assert len(at.session_state["exam_cache"]) == 4  # analysed once; a site or visit change reuses them


def test_a_cry_under_the_respiratory_task_is_refused_and_the_cry_task_offered():
    """A real cry uploaded under the respiratory task: no answer, the reason, and a button that analyses the same
    file under the cry task (the sidebar's task follows)."""
    from tests.conftest import data_path

    f = sorted(data_path("cry_pain").rglob("*.flac"))[0]
    at = ready_app(120)
    _upload(at, f.name, f.read_bytes(), "audio/flac")
    assert not at.exception
    assert "Verdict" not in {m.label for m in at.metric}
    assert any("Not analysed: wrong kind of audio" in e.value and "sounds like an infant cry" in e.value
               for e in at.error)
    at.button(key="switch_task").click().run()
    settle(at)
    assert not at.exception and at.session_state["task"] == "cry"
    assert {m.label: m.value for m in at.metric}["Verdict"] in ("pain", "discomfort")
    assert any(c.value.startswith("Input check: sounds like an infant cry") for c in at.caption)


def test_the_model_load_reports_its_stages_in_order(monkeypatch):
    """A page waiting for the models shows what the load is doing (ui.state.wait_with_progress reads these)."""
    import ui.state as state

    seen = []
    monkeypatch.setattr(state, "_stage", lambda key, i: seen.append((key, state.LOAD_STAGES[i][1])))
    analyzer = state._load("cry", "auto")
    assert analyzer.task.name == "cry"
    assert [what for _, what in seen] == [w for _, w in state.LOAD_STAGES]
    assert all(key == ("cry", "auto") for key, _ in seen)
    shares = [share for share, _ in state.LOAD_STAGES]
    assert shares == sorted(shares) and 0 < shares[0] and shares[-1] < 1


def test_reference_cries_on_the_analyze_and_batch_pages(app_heads_only):
    """The infant's reference cries: uploaded once, used for the cry, a bad one refused in words, kept for the Batch
    page (the same infant) until cleared; the respiratory task shows no reference uploader."""
    import numpy as np

    from tests.helpers import cry_like, encode

    def wav(x):
        return encode(x, 16000, "WAV", "PCM_16")

    at = ready_app(120)
    assert not at.get("file_uploader") or all(u.key != "refs_analyze" for u in at.get("file_uploader"))
    settle(at.sidebar.radio[0].set_value("cry").run())
    app_heads_only("cry")
    at.file_uploader(key="refs_analyze").set_value([
        ("bath1.wav", wav(cry_like(5.0, f0=480, seed=2, harsh=0.5)), "audio/wav"),
        ("bath2.wav", wav(cry_like(5.0, f0=500, seed=3, harsh=0.5)), "audio/wav"),
        ("silent.wav", wav(np.zeros(16000 * 4, np.float32)), "audio/wav")]).run()
    _upload(at, "cry.wav", wav(cry_like(5.0, f0=520, seed=1, harsh=0.5)))
    assert not at.exception
    assert any(s.value.startswith("Judged against 2 reference cries") for s in at.success)
    assert any("**silent.wav** not used: too quiet" in w.value for w in at.warning)
    assert any(c.value.startswith("Rule: judged against 2 reference cries") for c in at.caption)
    assert any("with 2 reference cries" in m.value for m in at.markdown)  # the figures validated with references

    at.switch_page("views/batch.py").run()
    assert not at.exception
    assert any("Using this infant's 3 reference cries given earlier" in i.value for i in at.info)  # came along
    at.file_uploader(key="batch_upload").set_value([
        ("a.wav", wav(cry_like(4.0, f0=530, seed=7, harsh=0.5)), "audio/wav")]).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["references"].iloc[0].startswith("Judged against 2 reference cries")
    assert any("**silent.wav** not used" in w.value for w in at.warning)


def test_calibration_page_lists_chooses_and_every_page_names_the_profile(app_heads_only, tmp_path, monkeypatch):
    """A profile in the server folder is listed and chosen; one made for another model version is named with why;
    the sidebar and the Analyze page then name the profile in use; going back to the shipped calibration works."""
    from dataclasses import replace

    from core.calibration.fit import Target, make_profile
    from core.calibration.profile import model_identity
    from tests.helpers import cry_like, encode
    from ui.state import get_analyzer

    monkeypatch.setenv("HEAR_SCREENING_PROFILES_DIR", str(tmp_path))
    an = get_analyzer("cry")
    rng = np.random.default_rng(0)
    rows = [{"uid": f"{p}-{i}", "patient": f"p{p}", "label": "pain" if i % 3 == 0 else "discomfort", "poor": False,
             "p_pain": float(rng.uniform(0.6, 0.99) if i % 3 == 0 else rng.uniform(0.2, 0.8)), "d_pain": True}
            for p in range(10) for i in range(9)]
    prof = make_profile(rows, "cry", Target("specificity", 0.8), name="Clinic C",
                        model=model_identity("pain", an.heads["pain"].meta), encoder=an.encoder.info.identity,
                        app_version="t", files_sha256=["a"], poolings={}, shipped_child={},
                        created="2026-12-06T10:00:00Z")
    prof.save(tmp_path / "cry-clinic-c.json")
    replace(prof, name="Old", model="pain sha256 0000").save(tmp_path / "cry-old.json")

    at = ready_app(120)
    settle(at.sidebar.radio[0].set_value("cry").run())
    app_heads_only("cry")
    at.switch_page("views/calibration.py").run()
    assert not at.exception
    assert any("`cry-old.json` cannot be used" in w.value and "another model version" in w.value for w in at.warning)
    pick = at.radio(key="profile_pick")
    assert len(pick.options) == 2 and pick.value == "(shipped)"
    pick.set_value("cry-clinic-c.json").run()
    assert not at.exception
    assert any("Calibration:** profile 'Clinic C'" in m.value for m in at.sidebar.markdown)
    assert any("Clinic C" in m.value for m in at.markdown)  # the inspected profile
    at.switch_page("views/analyze.py").run()
    at.file_uploader(key="upload").set_value(("cry.wav", encode(cry_like(5.0, f0=520, seed=1, harsh=0.5), 16000,
                                                               "WAV", "PCM_16"), "audio/wav")).run()
    assert not at.exception
    assert any(i.value.startswith("Answers recalibrated by calibration profile 'Clinic C'") for i in at.info)
    assert any("profile 'Clinic C'" in m.value for m in at.markdown)  # the validated figures are the profile's
    at.switch_page("views/calibration.py").run()
    at.radio(key="profile_pick").set_value("(shipped)").run()
    assert any("Calibration:** as shipped" in m.value for m in at.sidebar.markdown)


def test_storage_on_without_sign_in_configured_saves_nothing_and_says_so(tmp_path, monkeypatch):
    """A deployment that enables storage but configures no [auth]: the sidebar says nothing can be saved, the
    History page is listed and explains it, and no database is written."""
    monkeypatch.setenv("HEAR_SCREENING_STORAGE", "on")
    monkeypatch.setenv("HEAR_SCREENING_STORAGE_DIR", str(tmp_path))
    at = ready_app(120)
    assert not at.exception
    assert any("sign-in is not configured" in w.value for w in at.sidebar.warning)
    at.switch_page("views/history.py").run()
    assert not at.exception
    assert any("Sign in (sidebar)" in i.value for i in at.info)
    assert not (tmp_path / "visits.db").exists()
