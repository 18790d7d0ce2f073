"""The heads shipped in trained/ load on a fresh checkout and classify real and generated recordings."""
import json

import numpy as np
import pytest

from core.answers.analyzer import Analyzer
from core.heads.artifacts import read_meta
from core.config import PROJECT_ROOT
from core.tasks import TASKS
from tests.conftest import data_path
from tests.helpers import cry_like, encode, noise

SHIPPED = PROJECT_ROOT / "trained"


@pytest.mark.parametrize("task,head", [(t.name, h.name) for t in TASKS.values() for h in t.heads])
def test_every_head_is_shipped_with_grouped_metrics(task, head):
    d = SHIPPED / task / "acoustic" / head
    meta = read_meta(d)
    m = json.loads((d / "metrics.json").read_text())
    held = m["heldout"]
    assert "held-out groups" in held["split"] and held["n_groups"] >= 3
    assert held["ci95"]["balanced_accuracy"] is not None
    assert meta["encoder"]["name"] == "acoustic"
    if task == "respiratory":
        assert "Score" in held["metrics"] and "test_intra" in m["official_test"]
        assert "same patients as training" in m["official_test"]["test_intra"]["split"]
        for ref in m["published_references"]:
            assert ref["score"] > 0 and ref["source"] and "test set" in ref["test_split"]
    if head in ("screen", "event_type", "record"):
        assert m["published_references"], "challenge heads carry the published scores beside ours"
    if head == "record":
        for ev in (m["heldout"], m["all_groups_cv"], m["official_test"]["test_intra"]):
            t = ev["task_2_1"]
            assert set(t["metrics"]) >= {"SE", "SP", "AS", "HS", "Score"} and t["ci95"]["Score"] is not None
            assert t["labels"] == ["Normal", "Adventitious", "Poor Quality"] and len(t["confusion_matrix"]) == 3
    if head == "asthma":
        op = meta["operating_points"]["high_sensitivity"]
        assert meta["decision"]["threshold"] == op["threshold"] and op["sensitivity"] >= 0.90
        assert "Fine Crackle" not in json.dumps(m["heldout"]["counts"])
    if head == "pain":
        logo = m["leave_one_group_out"]
        assert logo["n_groups"] == 18 and logo["ci95"]["roc_auc"] is not None
        assert logo["per_group"]["n_groups"] == 18 and "leave-one-group-out" in logo["split"]
        assert meta["quality"]["min_cry_voicing"] is not None  # windows without crying did not train the head
    if meta.get("views") == ["event", "context"]:
        assert "context" in m["all_groups_cv_other_views"]

@pytest.fixture(scope="module")
def analyzers():
    return {t: Analyzer(t, "acoustic") for t in TASKS}


def test_all_heads_load(analyzers):
    for task, an in analyzers.items():
        assert set(an.heads) >= {h.name for h in TASKS[task].heads}, an.missing


def test_generated_audio_gets_a_verdict(analyzers):
    r = analyzers["cry"].analyze(encode(cry_like(6.0, f0=520, harsh=0.8), 16000, "WAV", "PCM_16"))
    assert not r.verdict.abstained and r.verdict.label in ("pain", "discomfort")
    assert r.heads["reason"].experimental
    s = analyzers["respiratory"].analyze(encode(noise(8.0, sr=8000, amp=0.01), 8000, "WAV", "PCM_16"))
    assert s.primary == "record" and s.verdict.label in TASKS["respiratory"].head("record").labels
    assert s.heads["record"].window_probs is None and s.heads["record"].verdict.label is not None
    assert s.heads["event_type"].window_probs.shape == (7, 7)
    screens = s.screening_heads()
    assert [h.name for h in screens] == ["asthma", "screen"]
    assert screens[0].operating_point()["sensitivity"] >= 0.90
    assert "sensitivity >= 0.90" in screens[0].verdict.rule
    i, p, above = screens[0].peak_window(s.quality)
    probs = screens[0].window_probs[:, 1]
    assert p == probs.max() and above == int((probs >= screens[0].threshold).sum())
    assert s.heads["event_type"].peak_window(s.quality) is None  # multi-class: no single positive class
    assert s.spectrogram.db.shape[0] > 0 and s.spectrogram.freqs_hz.max() <= 4000.0 + 1  # 8-kHz source


def test_prevalence_corrected_verdict_names_the_most_probable_class(analyzers):
    r = analyzers["cry"].analyze(data_path("cry_pain", "pain_vaccination", "AMJ_D01.flac"))
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
    assert set(r.heads) >= {"screen", "event_type", "asthma", "record"}
    assert abs(sum(r.heads["record"].verdict.probabilities.values()) - 1) < 1e-6


def test_readme_table_is_generated_from_the_shipped_metrics():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "shipped_table.py"), "--check"],  # cards too
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    readme = (PROJECT_ROOT / "README.md").read_text()
    for f in SHIPPED.glob("*/*/*/metrics.json"):
        m = json.loads(f.read_text())
        assert f"| {m['task']} / {m['head']}" in readme


def test_report_names_models_and_their_held_out_performance(analyzers):
    import json as _json

    an = analyzers["cry"]
    r = an.analyze(encode(cry_like(4.0, f0=520), 16000, "WAV", "PCM_16"), name="baby.wav")
    rep = _json.loads(_json.dumps(an.report(r), default=str))
    assert rep["name"] == "baby.wav" and rep["disclaimer"].endswith("not a diagnosis.")
    assert rep["models"]["pain"]["heldout"]["metrics"]["roc_auc"] > 0.5
    assert "held-out groups" in rep["models"]["pain"]["heldout"]["split"]
    assert rep["models"]["pain"]["encoder"] == "acoustic:acoustic-2"


def test_pdf_report_is_one_page_with_the_figure(analyzers):
    from core.reports.pdf import analysis_pdf, figure_png

    an = analyzers["respiratory"]
    r = an.analyze(encode(noise(6.0, sr=8000, amp=0.02), 8000, "WAV", "PCM_16"), name="breath.wav")
    png = figure_png(r, r.heads["asthma"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pdf = analysis_pdf(r, an.report(r), "asthma")
    assert pdf.startswith(b"%PDF") and b"/Count 1" in pdf  # a PDF of exactly one page
