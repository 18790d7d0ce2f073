"""The heads shipped in trained/ load on a fresh checkout and classify real and generated recordings."""
import json

import numpy as np
import pytest

from core.answers.analyzer import Analyzer
from core.heads.artifacts import read_meta
from core.config import PROJECT_ROOT
from core.tasks import TASKS
from tests.conftest import data_path
from tests.helpers import cry_like, encode, heads_only, noise

SHIPPED = PROJECT_ROOT / "trained"


@pytest.mark.parametrize("task,head", [(t.name, h.name) for t in TASKS.values() for h in t.heads])
def test_every_head_is_shipped_with_grouped_metrics(task, head):
    d = SHIPPED / task / "acoustic" / head
    meta = read_meta(d)
    m = json.loads((d / "metrics.json").read_text())
    held = m["heldout"]
    assert meta["encoder"]["name"] == "acoustic"
    if meta.get("kind") == "recording_model":
        check_recording_model(meta, m)
        return
    assert "held-out groups" in held["split"] and held["n_groups"] >= 3
    assert (held["ci95"]["balanced_accuracy"] is not None) == (held["n_groups"] >= 10)  # no CI over a handful
    if task == "respiratory":
        assert "Score" in held["metrics"] and "test_intra" in m["official_test"]
        assert "same patients as training" in m["official_test"]["test_intra"]["split"]
        assert meta["research"] and m["published_references"], "event heads carry the published scores"
        for ref in m["published_references"]:
            assert ref["score"] > 0 and ref["source"] and "test set" in ref["test_split"]
    if head == "event_screen":
        nested = m["nested_cv"]
        assert "nested grouped 5-fold CV" in nested["split"] and nested["ci95"]["Score"] is not None
        op = meta["operating_points"]["balanced"]
        assert op["validated_on"] == nested["split"]  # shown figures come from people the threshold never saw
    if head == "pain":
        logo = m["nested_cv"]  # the headline: each infant scored by a model and threshold chosen on the other 17
        assert logo["n_groups"] == 18 and logo["ci95"]["roc_auc"] is not None
        assert logo["per_group"]["n_groups"] == 18 and "nested leave-one-person-out" in logo["split"]
        assert all(r["auc"] is not None for r in logo["per_group"]["groups"])  # both kinds of cry per infant
        assert meta["operating_points"]["balanced"]["validated_on"] == logo["split"]
        assert m["heldout"]["ci95"]["roc_auc"] is None  # 3 infants: no interval that would mean nothing
        assert meta["quality"]["min_cry_voicing"] is not None  # windows without crying did not train the head
        abl = json.loads((d / "ablation.json").read_text())  # scripts/cry_ablation.py, on these very features
        shipped = next(r for r in abl["rows"] if r["key"] == "shipped")
        assert shipped["auc"] == f"{logo['metrics']['roc_auc']:.3f}" and shipped["majority"].startswith(
            str(logo["per_group"]["majority_correct"]))
        assert meta["encoder"]["version"].endswith("+vq-1")  # the voice-quality block the ablation kept
    if meta.get("views") == ["event", "context"]:
        assert "context" in m["all_groups_cv_other_views"]


def check_recording_model(meta: dict, m: dict) -> None:
    """The respiratory recording model reports every answer at its own unit: nested CV over both recording periods
    (and per period), held-out patients, and the leave-one-period-out check in both directions."""
    assert meta["classes"] == ["Adventitious", "CAS", "DAS"] and meta["timeline_types"] == ["CAS", "DAS"]
    for split_key in ("cv", "heldout"):
        ev = m[split_key]
        assert "patients" in ev["split"]
    assert "nested patient-grouped" in m["cv"]["split"] and "both recording periods" in m["cv"]["split"]
    assert m["cv"]["n_patients"] > 200 and m["data"]["training_periods"] == {"earlier": 1949, "later": 379}
    later = m["cv_by_period"]["later"]
    shift = m["shift"]["earlier_to_later"]
    assert "earlier period" in shift["scored"]["split"] and "later period" in shift["scored"]["split"]
    assert set(m["shift"]) == {"earlier_to_later", "later_to_earlier"}
    for ev in (m["cv"], m["heldout"], later, shift["scored"]):
        for key in ("screen", "continuous"):
            a = ev["answers"][key]
            assert a["sensitivity_ci"] is not None and a["specificity_ci"] is not None and a["negatives"] == ["Normal"]
        for rule in ("rule", "argmax"):
            r = ev["record"][rule]
            assert set(r["metrics"]) >= {"SE", "SP", "Score"} and r["labels"][-1] == "Poor Quality"
            assert r["task_2_1"]["labels"] == ["Normal", "Adventitious", "Poor Quality"]
        for c in meta["classes"]:
            assert ev["detection"][c]["ci95"]["roc_auc"] is not None  # window level, with patient intervals
        for crit in ("overlap", "onset"):
            assert set(ev["timeline"][crit]["classes"]) == {"CAS", "DAS"}
    # the record-label rule never loses to plain argmax of the same probabilities on the period it was not fitted on
    for direction in m["shift"].values():
        rec = direction["drift"]["record"]
        assert rec["rule_2_1"]["scored"] >= rec["argmax_2_1"]["scored"] - 1e-9
        assert rec["rule_2_2"]["scored"] >= rec["argmax_2_2"]["scored"] - 1e-9
    for key, a in meta["answers"].items():
        assert a["validated"]["split"] == m["cv"]["split"] and a["threshold"] == meta["thresholds"][a["class"]]
    assert m["published_references"] and {r["task"] for r in m["published_references"]} == {"2-1", "2-2"}


@pytest.fixture(scope="module")
def analyzers():
    return {t: Analyzer(t, "acoustic") for t in TASKS}


def test_all_heads_load(analyzers):
    for task, an in analyzers.items():
        assert set(an.heads) | set(an.research) >= {h.name for h in TASKS[task].heads}, an.missing
        assert not an.missing


def test_generated_audio_gets_a_verdict(analyzers):
    cry = heads_only(Analyzer("cry", "acoustic"))  # the heads on a generated cry (the check would refuse it)
    r = cry.analyze(encode(cry_like(6.0, f0=520, harsh=0.8), 16000, "WAV", "PCM_16"))
    assert not r.verdict.abstained and r.verdict.label in ("pain", "discomfort")
    assert "reason" not in r.heads  # experimental: never run unasked
    x = cry.analyze(encode(cry_like(6.0, f0=520, harsh=0.8), 16000, "WAV", "PCM_16"), experimental=True)
    assert x.heads["reason"].experimental and x.verdict.label == r.verdict.label
    an = analyzers["respiratory"]
    assert set(an.heads) == {"recording"} and set(an.research) == {"event_screen", "event_type"}  # events: not run
    # white noise is not a lung sound: the answer may abstain, naming the quality rule or the input check (which
    # must not send it to the cry task), never a confident answer of the wrong kind
    s = an.analyze(encode(noise(8.0, sr=8000, amp=0.01), 8000, "WAV", "PCM_16"))
    assert s.primary == "screen" and list(s.heads) == ["screen", "continuous", "record", "detector"]
    screen = s.heads["screen"]
    if screen.verdict.abstained and s.input_check is not None and not s.input_check.accepted:
        assert s.input_check.suggestion != "cry" and "does not sound like chest auscultation" in screen.verdict.reason
    elif screen.verdict.abstained:
        assert "quality" in screen.verdict.reason and s.heads["record"].verdict.label == "Poor Quality"
    else:
        assert screen.verdict.label in ("Adventitious sounds present", "No adventitious sounds found")
    det = s.heads["detector"]
    assert det.window_probs.shape == (7, 3) and det.unit == "window"
    assert (s.timeline is None) == s.refused  # a refused recording claims no events
    if s.timeline is not None:
        assert s.timeline.types == ("CAS", "DAS")
    assert s.spectrogram.db.shape[0] > 0 and s.spectrogram.freqs_hz.max() <= 4000.0 + 1  # 8-kHz source


def test_real_lung_recording_gets_recording_answers(analyzers):
    folder = data_path("sprsound", "BioCAS2022", "test2022_intra_flac")
    s = analyzers["respiratory"].analyze(sorted(folder.glob("*.flac"))[0])
    screen, continuous = s.heads["screen"], s.heads["continuous"]
    assert screen.verdict.label in ("Adventitious sounds present", "No adventitious sounds found")
    assert screen.window_probs is None and screen.unit == "recording"  # a recording-level answer...
    op = screen.operating_point()
    assert "nested patient-grouped" in op["validated_on"] and op["sensitivity"] is not None  # ...validated as one
    assert [h.name for h in s.screening_heads()] == ["continuous"]
    if continuous.verdict.label == "Continuous adventitious sounds present":
        assert screen.verdict.label == "Adventitious sounds present"
    record = s.heads["record"].verdict.label  # one decision read three ways
    assert (record in ("CAS", "CAS & DAS")) == (continuous.verdict.label == continuous.positive)
    assert s.heads["record"].verdict.label in TASKS["respiratory"].head("recording").labels
    assert s.heads["detector"].window_probs.shape[1] == 3 and s.timeline.types == ("CAS", "DAS")


def test_prevalence_corrected_verdict_names_the_most_probable_class(analyzers):
    r = analyzers["cry"].analyze(data_path("cry_pain", "pain_vaccination", "AMJ_D01.flac"), experimental=True)
    v = r.heads["reason"].verdict
    top = max(v.probabilities, key=v.probabilities.get)
    if v.label == top:
        assert v.note == "" and v.text() == f"{v.label} ({v.confidence:.0%})"
    else:
        assert f"most probable class is {top}" in v.note and v.note in v.text()


def test_real_cry_recordings(analyzers):
    pain = data_path("cry_pain", "pain_vaccination")
    calm = data_path("cry_pain", "discomfort_bath")
    an = analyzers["cry"]
    # the model saw these infants in training, so this checks plumbing on real audio, not generalisation
    p = [an.analyze(f).heads["pain"].verdict.probabilities["pain"] for f in sorted(pain.glob("*.flac"))[:8]]
    c = [an.analyze(f).heads["pain"].verdict.probabilities["pain"] for f in sorted(calm.glob("*.flac"))[:8]]
    assert np.mean(p) > np.mean(c)


def test_real_sprsound_recording(analyzers):
    folder = data_path("sprsound", "BioCAS2022", "test2022_intra_flac")
    f = sorted(folder.glob("*.flac"))[0]
    r = analyzers["respiratory"].analyze(f)
    assert r.duration_s > 1 and len(r.windows) >= 1
    assert set(r.heads) == {"screen", "continuous", "record", "detector"}
    assert abs(sum(r.heads["record"].verdict.probabilities.values()) - 1) < 1e-6
    d = r.to_dict()
    assert set(d["timeline"]) >= {"segments", "counts", "share", "share_any", "thresholds", "names"}


def test_readme_table_is_generated_from_the_shipped_metrics():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "shipped_table.py"), "--check"],  # cards too
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    readme = (PROJECT_ROOT / "README.md").read_text()
    for f in SHIPPED.glob("*/*/*/metrics.json"):
        m = json.loads(f.read_text())
        if m.get("kind") == "recording_model":  # reported per answer, at the recording level
            assert "<!-- respiratory-table:start -->\n| answer (per recording)" in readme
        elif f.parent.name == "input_check":  # per source, in its own table
            assert f"**{m['task']} task's check**" in readme
        else:
            assert f"| {m['task']} / {m['head']}" in readme


def test_report_names_models_and_their_held_out_performance(analyzers):
    import json as _json

    an = analyzers["cry"]
    r = an.analyze(encode(cry_like(4.0, f0=520), 16000, "WAV", "PCM_16"), name="baby.wav")
    rep = _json.loads(_json.dumps(an.report(r), default=str))
    assert rep["name"] == "baby.wav" and rep["disclaimer"].endswith("not a diagnosis.")
    assert rep["models"]["pain"]["validated"]["metrics"]["roc_auc"] > 0.5
    assert "nested leave-one-person-out" in rep["models"]["pain"]["validated"]["split"]
    assert "reason" not in rep["models"] and "reason" not in rep["verdicts"]  # experimental: only when asked
    assert rep["models"]["pain"]["encoder"].startswith("acoustic:acoustic-")


def test_pdf_report_is_one_page_with_the_figure(analyzers):
    from core.reports.pdf import analysis_pdf, figure_png

    an = analyzers["respiratory"]
    r = an.analyze(encode(noise(6.0, sr=8000, amp=0.02), 8000, "WAV", "PCM_16"), name="breath.wav")
    png = figure_png(r, r.heads["detector"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pdf = analysis_pdf(r, an.report(r), "detector")
    assert pdf.startswith(b"%PDF") and b"/Count 1" in pdf  # a PDF of exactly one page


def test_warm_up_leaves_nothing_for_the_first_upload_to_import_and_keeps_nothing(tmp_path):
    """In a fresh interpreter (the server's loader): after warm_up() the first real analysis imports no module (the
    ~1 s of librosa and numba a first upload used to pay) and the analyzer's cache is as empty as before."""
    import subprocess
    import sys

    from tests.helpers import write

    clip = write(tmp_path / "cry.flac", cry_like(6.0, f0=480, seed=2), 16000)
    probe = ("import sys; from core.answers.analyzer import Analyzer; a = Analyzer('cry', 'acoustic'); "
             "r = a.warm_up(); assert not r.verdict.abstained, r.verdict.reason; assert len(a.cache._mem) == 0; "
             f"before = set(sys.modules); a.analyze({str(clip)!r}); print(sorted(set(sys.modules) - before))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         env={"PATH": "", "HEAR_MODEL_DIR": "", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
