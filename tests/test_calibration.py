"""Calibration profiles: the fit lands on its target for new people, refusals (too few, wrong kind, another model
version), the round trip, an analysis through a profile differs from the shipped one exactly by the refitted
parameters, on every surface; the CLI; the zip reader; the simulation engine."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.calibration.fit import Target, apply, check_counts, fit_params, make_profile, recording_figures
from core.calibration.profile import AnswerCalibration, CalibrationProfile, ProfileError, model_identity
from core.calibration.simulation import simulate, simulation_table
from tests.conftest import DATA
from tests.helpers import cry_like, encode, heads_only

ROOT = Path(__file__).resolve().parent.parent


def _cry_rows(people: int, per: int, seed: int, shift: float = 1.5) -> list[dict]:
    """Pain scores that rank well but sit `shift` logits too high for this 'clinic' (a shipped point misfires)."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(people):
        for i in range(per):
            pain = i % 3 == 0
            z = (1.2 if pain else -1.2) + shift + rng.normal(0, 1.0)
            q = float(1 / (1 + np.exp(-z)))
            rows.append({"uid": f"{seed}-{p}-{i}", "patient": f"s{seed}p{p}", "label": "pain" if pain else "discomfort",
                         "poor": False, "p_pain": q, "d_pain": q >= 0.5})
    return rows


@pytest.mark.parametrize("target,what", [(Target("sensitivity", 0.85), "sensitivity"),
                                         (Target("specificity", 0.80), "specificity")])
def test_a_profile_lands_on_its_target_for_people_it_never_saw(target, what):
    cal, new = _cry_rows(12, 9, 0), _cry_rows(200, 9, 1)
    answers, _ = fit_params(cal, "cry", target, {})
    before = recording_figures(new, "pain", "cry", "new")
    after = recording_figures(apply(new, answers, "cry"), "pain", "cry", "new")
    assert abs(after[what] - target.value) <= 0.06
    assert before["specificity"] < 0.6  # the shipped point misfires on this clinic, which is why one calibrates
    assert answers["pain"].a > 0 and answers["pain"].b < 0  # the scores sat too high: the map pulls them down


def test_too_few_recordings_are_refused_with_the_minimum_and_why():
    with pytest.raises(ProfileError, match="at least 10 recordings of each class from at least 5 people"):
        check_counts(_cry_rows(3, 6, 0), "cry")
    with pytest.raises(ProfileError, match="no labelled recordings"):
        check_counts([], "cry")
    with pytest.raises(ProfileError):
        Target("sensitivity", 1.2)


def _profile(task="cry", model="pain sha256 x", encoder="enc") -> CalibrationProfile:
    rows = _cry_rows(10, 9, 0)
    return make_profile(rows, task, Target("sensitivity", 0.85), name="Clinic A\x00<b>", model=model,
                        encoder=encoder, app_version="t", files_sha256=[r["uid"] for r in rows], poolings={},
                        shipped_child={}, created="2026-12-06T00:00:00Z")


def test_profile_round_trip_names_and_refusals(tmp_path):
    prof = _profile()
    assert prof.name == "Clinic Ab" and "Clinic Ab" in prof.words()  # control characters and markup dropped
    f = prof.answers["pain"].figures
    assert set(f) == {"before", "after"} and f["after"]["split"].startswith("person-grouped 5-fold")
    again = CalibrationProfile.load(prof.save(tmp_path / "p.json"))
    assert again == prof
    stored = json.loads((tmp_path / "p.json").read_text())
    assert set(stored["data"]) == {"recordings", "people", "per_answer", "files_sha256"}  # derived numbers only
    prof.check_for("cry", "pain sha256 x", "enc")
    with pytest.raises(ProfileError, match="another model version"):
        prof.check_for("cry", "pain sha256 y", "enc")
    with pytest.raises(ProfileError, match="made for the cry task"):
        prof.check_for("respiratory", "pain sha256 x", "enc")
    (tmp_path / "bad.json").write_text('{"kind": "something else"}')
    with pytest.raises(ProfileError, match="not a calibration profile"):
        CalibrationProfile.load(tmp_path / "bad.json")


@pytest.fixture(scope="module")
def cry_analyzer():
    from core.answers.analyzer import Analyzer

    return heads_only(Analyzer("cry", "acoustic"))


def test_a_calibrated_analysis_differs_exactly_by_the_refitted_parameters(cry_analyzer):
    from core.answers.analyzer import calibration_words, validated_words
    from core.reports.batch import BatchItem, analyze_batch, batch_records

    main = cry_analyzer.heads["pain"]
    prof = replace(_profile(model=model_identity("pain", main.meta), encoder=cry_analyzer.encoder.info.identity),
                   answers={"pain": AnswerCalibration(0.8, -0.7, 0.42, _profile().answers["pain"].figures)})
    wav = encode(cry_like(5.0, f0=520, seed=1, harsh=0.5), 16000, "WAV", "PCM_16")
    shipped = cry_analyzer.analyze(wav, name="cry.wav")
    local = cry_analyzer.with_calibration(prof).analyze(wav, name="cry.wav")
    assert cry_analyzer.calibration is None  # the shipped analyzer is unchanged
    h0, h = shipped.heads["pain"], local.heads["pain"]
    p0 = h0.verdict.probabilities["pain"]
    expect = 1 / (1 + np.exp(-(0.8 * np.log(p0 / (1 - p0)) - 0.7)))
    assert h.verdict.probabilities["pain"] == pytest.approx(expect, abs=1e-9)
    assert h.threshold == 0.42 and h.verdict.label == ("pain" if expect >= 0.42 else "discomfort")
    assert np.array_equal(local.embeddings, shipped.embeddings) and local.quality == shipped.quality
    assert h.operating_point()["sensitivity"] == prof.answers["pain"].figures["after"]["sensitivity"]
    assert "profile 'Clinic Ab'" in validated_words(h) and "recalibrated by profile" in h.verdict.rule
    assert local.to_dict()["calibration"] == prof.words() and shipped.to_dict()["calibration"] == "shipped calibration"
    assert calibration_words(local).startswith("Answers recalibrated by calibration profile 'Clinic Ab'")
    assert "calibration profile" in local.provenance.models
    rows = batch_records(analyze_batch(cry_analyzer.with_calibration(prof), [BatchItem("a.wav", wav)]))
    assert rows[0]["calibration"] == prof.words()
    with pytest.raises(ProfileError, match="another model version"):
        cry_analyzer.with_calibration(replace(prof, model="pain sha256 0000"))


@pytest.mark.skipif(not (DATA / "sprsound").is_dir(), reason="needs ../shared/data")
def test_respiratory_profile_keeps_the_answers_consistent_and_sets_the_child_rule():
    from core.answers.analyzer import Analyzer
    from core.answers.examination import ExamRecording, examine, rule_words
    from core.calibration.profile import ChildCalibration

    an = Analyzer("respiratory", "acoustic")
    main = an.heads["recording"]
    fig = {"after": {"sensitivity": 0.8, "specificity": 0.7, "split": "local", "people": 9, "positives": 5,
                     "negatives": 6}}
    prof = CalibrationProfile(
        "Ward 3", "respiratory", "2026-12-06T00:00:00Z", model_identity("recording", main.meta),
        an.encoder.info.identity, "t", {"kind": "specificity", "value": 0.8, "text": "thresholds for specificity 0.80"},
        {"recordings": 100, "people": 30}, {"screen": AnswerCalibration(1.0, -3.0, 0.5, fig),
                                            "continuous": AnswerCalibration(1.0, 3.0, 0.2, fig)},
        {"screen": ChildCalibration("max", 0.9, {"after": fig["after"]})})
    files = sorted((DATA / "sprsound" / "BioCAS2022" / "test2022_intra_flac").glob("40813160_*.flac"))[:2]
    local = an.with_calibration(prof)
    for f in files:
        r = local.analyze(f, name=f.name)
        s, c, rec = r.heads["screen"], r.heads["continuous"], r.heads["record"]
        if s.verdict.abstained:
            continue
        screen_pos, cont_pos = s.verdict.label == s.positive, c.verdict.label == c.positive
        assert not (cont_pos and not screen_pos)  # continuous sounds need the screen positive
        assert (rec.verdict.label == "Normal") == (not screen_pos)
        assert ("CAS" in rec.verdict.label) == cont_pos
    exam = examine(local, [ExamRecording(f.name, f.read_bytes()) for f in files])
    assert exam.validated["rules"]["screen"]["threshold"] == 0.9 and "profile 'Ward 3'" in rule_words(exam.validated)


def test_unpack_zip_keeps_audio_and_annotations_and_refuses_escapes(tmp_path):
    from core.reports.batch import BatchItemError, unpack_zip

    wav = encode(cry_like(1.0), 16000, "WAV", "PCM_16")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("set/pain/a.wav", wav)
        z.writestr("set/pain/a.json", "{}")
        z.writestr("../evil.wav", wav)
        z.writestr("/abs.wav", wav)
        z.writestr("set/notes.exe", b"x")
    assert unpack_zip(buf.getvalue(), tmp_path) == 1
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == \
        ["set/pain/a.json", "set/pain/a.wav"]
    assert not (tmp_path.parent / "evil.wav").exists()
    with pytest.raises(BatchItemError, match="not a readable zip"):
        unpack_zip(b"nope", tmp_path)


def test_simulation_engine_reports_targets_refusals_and_ci_coverage():
    rows = _cry_rows(16, 9, 3)
    res = simulate(rows, "cry", [3, 6], 6, {}, {}, by_people=True, targets={"sensitivity 0.85":
                                                                          Target("sensitivity", 0.85)})
    assert res["sensitivity 0.85 | n=3"]["refused"] == 6  # 3 people are too few: refused every time
    r6 = res["sensitivity 0.85 | n=6"]
    assert r6["refused"] == 0 and r6["pain:recording:sensitivity"]["n"] == 6
    assert 0.7 <= r6["pain:recording:sensitivity"]["median"] <= 1.0
    text = simulation_table({"cry": {"results": res, "setting": "toy"}, "splits": 6})
    assert "| sensitivity 0.85 | 6 | 0 of 6 |" in text and "none: the model's own thresholds" in text


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True, cwd=ROOT)


def test_cli_refuses_the_wrong_kind_and_a_missing_folder(tmp_path):
    for label in ("pain", "discomfort"):
        (tmp_path / "set" / label).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "set" / label / f"b{i}.wav").write_bytes(
                encode(np.random.default_rng(i).normal(0, 0.05, 16000 * 3).astype(np.float32), 16000, "WAV",
                       "PCM_16"))
    run = _cli("calibrate", "--task", "cry", "--data", str(tmp_path / "set"), "--out", str(tmp_path / "p.json"))
    assert run.returncode == 2 and "cannot calibrate" in run.stderr and "Traceback" not in run.stderr
    assert ("wrong kind" in run.stderr or "too few" in run.stderr) and not (tmp_path / "p.json").exists()
    run = _cli("calibrate", "--task", "cry", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "p.json"))
    assert run.returncode == 2 and "not found" in run.stderr
    run = _cli("analyze", str(tmp_path / "set/pain/b0.wav"), "--task", "cry", "--calibration",
               str(tmp_path / "missing.json"))
    assert run.returncode == 2 and "cannot read the profile" in run.stderr


@pytest.mark.skipif(not (DATA / "cry_pain").is_dir(), reason="needs ../shared/data")
def test_cli_calibrates_on_real_cries_and_analyze_uses_the_profile(tmp_path):
    src = DATA / "cry_pain"
    infants = ("AMJ", "AUP", "BEL", "BEV", "CAA", "GRG")
    for folder in ("pain_vaccination", "discomfort_bath"):
        (tmp_path / "set" / folder).mkdir(parents=True)
        for f in sorted((src / folder).glob("*.flac")):
            if f.name[:3] in infants:
                (tmp_path / "set" / folder / f.name).symlink_to(f)
    out = tmp_path / "clinic.json"
    run = _cli("calibrate", "--task", "cry", "--data", str(tmp_path / "set"), "--out", str(out), "--name",
               "Clinic B", "--target-specificity", "0.8")
    assert run.returncode == 0, run.stderr
    prof = CalibrationProfile.load(out)
    assert prof.data["people"] == 6 and prof.target["kind"] == "specificity"
    assert "recording  before" in run.stdout and "recording  after" in run.stdout
    cry = next((src / "pain_vaccination").glob("ZEP_*.flac"))
    run = _cli("analyze", str(cry), "--task", "cry", "--calibration", str(out))
    assert run.returncode == 0 and "recalibrated by profile 'Clinic B'" in run.stdout
    stale = json.loads(out.read_text())
    stale["model"] = "pain sha256 0123"
    (tmp_path / "stale.json").write_text(json.dumps(stale))
    run = _cli("analyze", str(cry), "--task", "cry", "--calibration", str(tmp_path / "stale.json"))
    assert run.returncode == 2 and "another model version" in run.stderr
