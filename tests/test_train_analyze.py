"""Training CLI -> artefact -> analysis API and CLI, end to end on generated cries with known labels."""
import json
import shutil

import numpy as np
import pytest

from core.tasks import CRY

from core.answers.analyzer import Analyzer
from core.cli.analyze import main as analyze_main
from core.heads.artifacts import ArtifactError, load_artifact, read_meta
from core.encoders import get_encoder
from core.encoders.base import EncoderInfo
from core.heads.training import grouped_folds
from core.cli.train import main as train_main
from tests.helpers import cry_like, encode, noise, write

INFANTS = [f"B{i:02d}" for i in range(12)]


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    """cry_pain layout: 'pain' cries are high and harsh, 'discomfort' cries lower and smooth (per-infant f0 shift)."""
    data = tmp_path_factory.mktemp("toy") / "cry_pain"
    for i, baby in enumerate(INFANTS):
        shift = 1 + 0.04 * (i - 6)
        for j in range(3):
            write(data / "pain_vaccination" / f"{baby}_D{j:02d}.flac",
                  cry_like(3.0, f0=560 * shift, seed=100 * i + j, harsh=1.0))
            write(data / "discomfort_bath" / f"{baby}_B{j:02d}.flac",
                  cry_like(3.0, f0=380 * shift, seed=100 * i + j + 50, harsh=0.0))
    out = tmp_path_factory.mktemp("trained")
    rc = train_main(["--task", "cry", "--data", str(data), "--out", str(out), "--candidates", "logreg,svm_rbf",
                     "--folds", "3", "--test-fraction", "0.25"])
    assert rc == 0
    return out


def test_artifact_is_self_describing(toy_root):
    d = toy_root / "cry" / "acoustic" / "pain"
    assert {p.name for p in d.iterdir()} == {"model.skops", "meta.json", "projection.npz", "metrics.json", "MODEL_CARD.md"}
    meta = read_meta(d)
    assert meta["encoder"]["name"] == "acoustic" and meta["labels"] == ["discomfort", "pain"]
    assert meta["window"] == {"samples": 32000, "sample_rate": 16000, "hop_s": 1.0}
    assert set(meta["sha256"]) == {"model.skops", "projection.npz"}
    m = json.loads((d / "metrics.json").read_text())
    held = m["heldout"]
    assert "3 people" in held["split"] and held["n_groups"] == 3  # 12 infants, a quarter held out
    assert held["metrics"]["roc_auc"] > 0.9  # the toy task is easy; a broken pipeline would sit at 0.5
    assert held["ci95"]["roc_auc"] is None and held["bootstrap"]["resamples"] == 0  # 3 infants: no CI that means nothing
    nested = m["nested_cv"]  # 12 infants: nested leave-one-infant-out, with a CI
    assert "nested leave-one-person-out over all 12 people" in nested["split"] and nested["ci95"]["roc_auc"] is not None
    assert m["all_groups_cv"]["n"] == 72 and m["data"]["training_groups"] == 12
    assert set(m["selection"]["candidates"]) == {"logreg", "svm_rbf"}
    card = (d / "MODEL_CARD.md").read_text()
    assert "Held-out people" in card and "not a diagnosis" in card


def test_grouped_splits_never_share_a_person():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(30), rng.integers(1, 6, 30))
    y = rng.integers(0, 3, len(groups))
    for tr, te in grouped_folds(y, groups, 5, seed=0):
        assert not set(groups[tr]) & set(groups[te])


class Smuggled:
    """A type no artefact may contain."""


def test_loading_refuses_tampered_or_mismatched_artifacts(toy_root, tmp_path):
    src = toy_root / "cry" / "acoustic" / "pain"
    enc = get_encoder("acoustic", window_features=CRY.window_features).info  # the cry task's encoder
    assert load_artifact(src, enc).labels == ("discomfort", "pain")
    other = EncoderInfo("acoustic", "acoustic-0", enc.dim, "old")
    with pytest.raises(ArtifactError, match="Retrain"):
        load_artifact(src, other)
    bad = tmp_path / "pain"
    shutil.copytree(src, bad)
    with open(bad / "model.skops", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(ArtifactError, match="does not match the hash"):
        load_artifact(bad, enc)
    # a model file with a type outside the allow-list is refused even with a correct hash
    import skops.io as sio

    from core.heads.artifacts import sha256

    sio.dump({"base": Smuggled(), "calibrator": None}, bad / "model.skops")
    meta = json.loads((bad / "meta.json").read_text())
    meta["sha256"]["model.skops"] = sha256(bad / "model.skops")
    (bad / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="unexpected types"):
        load_artifact(bad, enc)


def test_analysis_api(toy_root):
    an = Analyzer("cry", "acoustic", root=toy_root)
    pain = an.analyze(encode(cry_like(5.0, f0=580, seed=7, harsh=1.0), 16000, "WAV", "PCM_16"), name="p.wav")
    calm = an.analyze(encode(cry_like(5.0, f0=370, seed=8), 16000, "WAV", "PCM_16"), name="c.wav")
    assert pain.verdict.label == "pain" and calm.verdict.label == "discomfort"
    assert pain.verdict.confidence > 0.5 and "usable window" in pain.verdict.rule
    assert len(pain.windows) == 4 and pain.heads["pain"].window_probs.shape == (4, 2)
    assert np.allclose(pain.heads["pain"].window_probs.sum(1), 1.0)
    pl = pain.placements["pain"]
    assert pl.clip_coords.shape == (16,) and len(pl.window_coords) == 4
    assert pain.encoder.name == "acoustic" and "not HeAR" in pain.encoder.label
    json.dumps(pain.to_dict())  # serialisable for reports

    silent = an.analyze(encode(np.zeros(48000, np.float32), 16000, "WAV", "PCM_16"))
    assert silent.verdict.abstained and silent.verdict.reason.startswith("too quiet") and "silent" in silent.verdict.reason
    short = an.analyze(encode(cry_like(0.1), 16000, "WAV", "PCM_16"))
    assert short.verdict.abstained and "too short" in short.verdict.reason
    half = an.analyze(encode(np.concatenate([cry_like(3.0, f0=580, harsh=1.0), np.zeros(48000, np.float32)]), 16000, "WAV", "PCM_16"))
    assert half.verdict.usable_windows < half.verdict.total_windows  # silent windows do not vote


def test_analyze_cli(toy_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HEAR_SCREENING_TRAINED_DIR", str(toy_root))
    good = write(tmp_path / "good.wav", cry_like(4.0, f0=580, harsh=1.0))
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    rc = analyze_main([str(good), str(bad), "--task", "cry", "--csv", str(tmp_path / "w.csv"),
                       "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr()
    assert rc == 1
    assert "good.wav" in out.out and "verdict pain (primary)" in out.out
    assert "bad.wav: cannot analyse" in out.err and "Traceback" not in out.err
    rows = (tmp_path / "w.csv").read_text().splitlines()
    assert rows[0].startswith("file,window,start_s,end_s,usable,flags") and len(rows) == 1 + 3
    report = json.loads((tmp_path / "r.json").read_text())[0]
    assert report["verdicts"]["pain"]["label"] == "pain"
    import hashlib

    digest = hashlib.sha256(good.read_bytes()).hexdigest()  # the same provenance in the JSON and the CSV
    assert report["provenance"]["audio_sha256"] == digest and report["provenance"]["analysed_at"].endswith("Z")
    assert rows[0].endswith("audio_sha256,analysed_at,app_version,encoder") and digest in rows[1]


def test_analyze_cli_disk_cache_is_opt_in_and_holds_no_audio(toy_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HEAR_SCREENING_TRAINED_DIR", str(toy_root))
    monkeypatch.setenv("HEAR_SCREENING_CACHE_DIR", str(tmp_path / "cache"))
    f = write(tmp_path / "cry.flac", cry_like(5.0, f0=500, seed=3))
    assert analyze_main([str(f), "--task", "cry"]) == 0
    assert "1 batch(es) computed, 0 reused from the cache (in memory only)" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()  # nothing derived from the recording was written
    assert analyze_main([str(f), "--task", "cry", "--disk-cache"]) == 0
    assert "1 batch(es) computed, 0 reused" in capsys.readouterr().err
    assert analyze_main([str(f), "--task", "cry", "--disk-cache"]) == 0  # a new Analyzer: only the disk can answer
    assert "0 batch(es) computed, 1 reused" in capsys.readouterr().err
    assert not list((tmp_path / "cache").rglob("*.wav")) and not list((tmp_path / "cache").rglob("*.flac"))


def test_missing_heads_message(tmp_path):
    with pytest.raises(ArtifactError, match="not available"):
        Analyzer("respiratory", "acoustic", root=tmp_path)


def test_noise_only_does_not_crash(toy_root):
    r = Analyzer("cry", "acoustic", root=toy_root).analyze(encode(noise(2.5), 16000, "WAV", "PCM_16"))
    assert r.verdict.abstained and r.verdict.label is None  # noise is not a cry: the cry gate abstains
    assert r.verdict.reason.startswith("no crying detected")
    assert all(q.flags == ("no crying",) for q in r.quality)
