"""The input check: generated families, the person-grouped protocol, the fixed refusal rule, and every surface
carrying a refusal (page JSON, PDF, batch row, examination site)."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from core.inputcheck.model import KINDS, UNUSUAL_PERCENTILE, InputCheckModel, recording_features, refusal
from core.inputcheck.synthetic import FAMILIES, generate
from core.inputcheck.train import KindData, evaluate
from tests.conftest import DATA, data_path
from tests.helpers import cry_like, encode, noise


def test_generated_families_are_reproducible_and_at_recording_levels():
    for fam in FAMILIES:
        a, b = generate(fam, 4, seed=3), generate(fam, 4, seed=3)
        assert all(np.array_equal(x.samples, y.samples) for x, y in zip(a, b))
        for g in a:
            assert 4 <= len(g.samples) / 16000 <= 15
            rms_db = 20 * np.log10(np.sqrt(np.mean(g.samples.astype(np.float64) ** 2)))
            assert -46 < rms_db < -14 and np.abs(g.samples).max() <= 1.0
    assert not np.array_equal(generate("speech", 1, seed=0)[0].samples, generate("speech", 1, seed=1)[0].samples)
    with pytest.raises(ValueError, match="unknown family"):
        generate("birdsong", 1)


def _clusters(seed: int = 0) -> KindData:
    """Three well separated kinds in a 6-d feature space; chest and cry from 12 people each, 'other' from the
    generated families, so the protocol can be checked without audio."""
    rng = np.random.default_rng(seed)
    X, kind, group, source = [], [], [], []
    centres = {"chest": np.zeros(6), "cry": np.full(6, 6.0), "other": np.r_[np.full(3, -6.0), np.zeros(3)]}
    for k, src in (("chest", "sprsound:train"), ("cry", "cry_pain")):
        for person in range(12):
            for _ in range(5):
                X.append(centres[k] + rng.normal(0, 1, 6))
                kind.append(k), group.append(f"{src}:{person}"), source.append(src)
    for fam in FAMILIES:
        for i in range(10):
            X.append(centres["other"] + rng.normal(0, 1, 6))
            kind.append("other"), group.append(f"generated:{fam}:{i}"), source.append(f"generated:{fam}")
    X = np.array(X)
    own = np.flatnonzero(np.array(kind) == "chest")
    return KindData(X, np.array(kind), np.array(group), np.array(source), np.array(group),
                    X[own[:20]] + rng.normal(0, 0.1, (20, 6)), np.array(group)[own[:20]])


def test_protocol_never_scores_a_person_or_family_it_was_fitted_on(monkeypatch):
    data = _clusters()
    seen: list[set] = []
    fit = InputCheckModel.fit

    def spy(self, X, kinds, groups, cuts=None, cut_groups=None):
        seen.append(set(groups.tolist()) | set([] if cut_groups is None else cut_groups.tolist()))
        return fit(self, X, kinds, groups, cuts, cut_groups)

    scored: list[set] = []
    perc = InputCheckModel.probabilities

    def spy_p(self, X):
        rows = [int(np.flatnonzero((data.X == x).all(axis=1))[0]) for x in X]
        scored.append({data.group[i] for i in rows})
        return perc(self, X)

    monkeypatch.setattr(InputCheckModel, "fit", spy)
    monkeypatch.setattr(InputCheckModel, "probabilities", spy_p)
    ev = evaluate("respiratory", data, folds=4)
    assert len(seen) == 4 + len(FAMILIES)  # one fit per person-grouped fold and per left-out family
    assert len(scored) == len(seen)
    for fitted, was_scored in zip(seen, scored):
        assert not (fitted & was_scored), "a scored person or family was in the fit"
    for fam, fitted in zip(FAMILIES, seen[4:]):
        assert not any(g.startswith(f"generated:{fam}:") for g in fitted)
    assert ev["false_refusals"]["rate"] == 0.0 and ev["other_task_refused"]["rate"] == 1.0
    told = ev["sources"]["cry_pain"]["told_right_task"]  # only when the check is >= 90 % sure of the kind
    assert 0 < told["rate"] <= 1 and told["count"] <= ev["sources"]["cry_pain"]["refused"]["count"]
    lo, hi = ev["false_refusals"]["ci"]
    assert lo <= ev["false_refusals"]["rate"] <= hi


def test_fixed_rule_refuses_and_suggests_the_other_task():
    data = _clusters(1)
    m = InputCheckModel("respiratory", people="patient").fit(data.X, data.kind, data.group)
    assert set(m.classes) == set(KINDS)
    cry_row = data.X[data.kind == "cry"][0]
    # the model checks pooled window embeddings: a 1-window "recording" whose embedding is the row
    emb = cry_row[None, :3]
    assert recording_features(np.vstack([emb, emb])).shape == (1, 6)
    p = dict(zip(m.classes, m.probabilities(cry_row[None])[0]))
    assert max(p, key=p.get) == "cry"
    reason, suggestion = refusal("respiratory", "cry", p)
    assert suggestion == "cry" and "Infant cry" in reason and "does not sound like chest auscultation" in reason
    reason, suggestion = refusal("cry", "other", {"cry": 0.1, "chest": 0.1, "other": 0.8})
    assert suggestion == "" and "Record the infant's cry itself" in reason
    # familiarity: a training row is familiar, a far point is unusual
    own = data.X[data.kind == "chest"]
    assert m.percentile(own[:1])[0] < UNUSUAL_PERCENTILE
    assert m.percentile(own[:1] + 40.0)[0] >= UNUSUAL_PERCENTILE


@pytest.fixture(scope="module")
def respiratory():
    from core.answers.analyzer import Analyzer

    an = Analyzer("respiratory", "acoustic")
    if an.input_check is None:
        pytest.skip("no shipped input check")
    return an


def test_a_cry_under_the_respiratory_task_is_refused_on_every_surface(respiratory):
    """A generated cry: refused (as a cry or as another sound; real cries are sent to the cry task, below)."""
    import json

    from core.reports.batch import BatchItem, analyze_batch
    from core.reports.pdf import analysis_pdf

    wav = encode(cry_like(8.0, f0=470, seed=5), 16000, "WAV", "PCM_16")
    r = respiratory.analyze(wav, name="cry.wav")
    assert r.input_check is not None and not r.input_check.accepted and r.refused
    assert all(h.verdict.abstained for h in r.heads.values())
    assert "does not sound like chest auscultation" in r.verdict.reason
    report = json.loads(json.dumps(respiratory.report(r), default=str))
    assert report["input_check"]["accepted"] is False and report["input_check"]["kind"] != "chest"
    assert "input_check" in report["provenance"]["models"]
    rows = analyze_batch(respiratory, [BatchItem("cry.wav", data=wav)])
    assert rows[0].verdict.startswith("no verdict: this does not sound like chest auscultation")
    assert rows[0].input_check.startswith("refused")
    if shutil.which("pdftotext"):
        pdf = analysis_pdf(r, respiratory.report(r), "detector")
        text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
        assert "Input check: refused" in text and "No answer: this does not sound" in text


def test_breath_like_noise_and_silence_are_not_told_to_use_the_cry_task(respiratory):
    silent = respiratory.analyze(encode(np.zeros(16000 * 5, np.float32), 16000, "WAV", "PCM_16"), name="s.wav")
    assert silent.verdict.abstained and silent.verdict.reason.startswith("too quiet")
    r = respiratory.analyze(encode(noise(6.0, amp=0.02), 16000, "WAV", "PCM_16"), name="n.wav")
    assert r.input_check is not None and r.input_check.suggestion != "cry"


@pytest.mark.skipif(not (DATA / "sprsound").is_dir() or not (DATA / "cry_pain").is_dir(),
                    reason="shared data absent")
def test_real_recordings_go_to_their_own_task():
    """A few real recordings of each kind through both shipped checks (these were in its training; the held-out
    figures are in the model card): each accepted by its task, refused by the other with the right suggestion."""
    from core.answers.analyzer import Analyzer

    lungs = sorted(data_path("sprsound", "BioCAS2022", "test2022_intra_flac").glob("*.flac"))[:3]
    cries = sorted(data_path("cry_pain").rglob("*.flac"))[:3]
    resp, cry = Analyzer("respiratory", "acoustic"), Analyzer("cry", "acoustic")
    if resp.input_check is None or cry.input_check is None:
        pytest.skip("no shipped input check")
    for f in lungs:
        assert resp.analyze(f).input_check.accepted
        c = cry.analyze(f).input_check
        assert not c.accepted and c.suggestion == "respiratory"
    for f in cries:
        assert cry.analyze(f).input_check.accepted
        c = resp.analyze(f).input_check
        assert not c.accepted and c.suggestion == "cry"
