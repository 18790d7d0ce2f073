"""The production HeAR loader and embedder, run unchanged on a stand-in SavedModel with HeAR's signature."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.encoders import EncoderUnavailable, get_encoder, hear_status, reset_encoders
from core.encoders.hear import HearEncoder, resolve_hear
from tests.helpers import noise, tone

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def standin(tmp_path_factory) -> Path:
    from tests.standin_hear import build

    return build(tmp_path_factory.mktemp("hear") / "saved_model")


@pytest.fixture()
def clean_env(monkeypatch, tmp_path):
    for var in ("HEAR_MODEL_DIR", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    reset_encoders()
    yield monkeypatch
    reset_encoders()


def _windows(n=5):
    return np.stack([noise(2.0, seed=i) if i % 2 else tone(200 + 50 * i, 2.0) for i in range(n)])


def test_signature_of_standin_matches_hear(standin):
    import tensorflow as tf

    fn = tf.saved_model.load(str(standin)).signatures["serving_default"]
    spec = fn.structured_input_signature[1]["x"]
    assert spec.shape.as_list() == [None, 32000] and spec.dtype == tf.float32
    assert list(fn.structured_outputs) == ["output_0"]


def test_local_folder_embeds_batched(standin, clean_env):
    clean_env.setenv("HEAR_MODEL_DIR", str(standin))
    enc = get_encoder("hear")
    assert enc is get_encoder("hear")  # loaded once per process
    assert enc.info.name == "hear" and enc.info.dim == 512 and enc.info.fingerprint
    assert "local folder" in enc.info.label
    x = _windows(37)
    enc.batch_size = 8  # several batches, last one partial
    y = enc.embed(x)
    assert y.shape == (37, 512) and y.dtype == np.float32 and np.isfinite(y).all()
    one = np.concatenate([enc.embed(x[i : i + 1]) for i in range(3)])
    assert np.allclose(one, y[:3], atol=1e-5)  # batching does not change results
    assert not np.allclose(y[0], y[1])  # depends on the audio
    assert hear_status().available


def test_wrong_window_shape_is_rejected(standin, clean_env):
    enc = HearEncoder(resolve_hear(standin))
    with pytest.raises(ValueError, match="32000"):
        enc.embed(np.zeros((2, 16000), np.float32))


def test_folder_without_model_says_what_to_do(tmp_path, clean_env):
    clean_env.setenv("HEAR_MODEL_DIR", str(tmp_path))
    with pytest.raises(EncoderUnavailable, match="saved_model.pb"):
        get_encoder("hear")


def _run(code: str, env: dict) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("HEAR_MODEL_DIR", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    full.update(env)
    full["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=300, cwd=ROOT)


EMBED = (
    "import json, numpy as np\n"
    "from core.encoders import get_encoder\n"
    "e = get_encoder('hear')\n"
    "y = e.embed(np.zeros((3, 32000), np.float32) + 0.01)\n"
    "print(json.dumps({'shape': list(y.shape), 'label': e.info.label}))\n"
)


def _hf_cache(root: Path, standin: Path) -> Path:
    """The layout huggingface_hub writes: models--google--hear/{refs/main, snapshots/<rev>/...}."""
    import shutil

    repo = root / "hub" / "models--google--hear"
    rev = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(standin, repo / "snapshots" / rev)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(rev)
    return root / "hub"


def test_hugging_face_cache_offline(standin, tmp_path):
    hub = _hf_cache(tmp_path / "hf", standin)
    r = _run(EMBED, {"HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["shape"] == [3, 512] and "Hugging Face cache" in out["label"]


def test_missing_token_fails_fast_with_actionable_message(tmp_path):
    t0 = time.time()
    r = _run(EMBED, {"HF_HUB_CACHE": str(tmp_path / "empty"), "HF_HUB_OFFLINE": "0"})
    assert r.returncode != 0
    assert "no HF_TOKEN is set" in r.stderr and "huggingface.co/google/hear" in r.stderr and "HEAR_MODEL_DIR" in r.stderr
    assert time.time() - t0 < 120


def test_cli_reports_missing_hear_without_traceback(tmp_path):
    code = "import sys; from core.cli.analyze import main; sys.exit(main(sys.argv[1:]))"
    wav = tmp_path / "x.wav"
    import soundfile as sf

    sf.write(wav, tone(300, 2.5), 16000)
    full = {k: v for k, v in os.environ.items() if k not in ("HEAR_MODEL_DIR", "HF_TOKEN")}
    full.update({"HF_HUB_CACHE": str(tmp_path / "empty"), "PYTHONPATH": str(ROOT)})
    r = subprocess.run([sys.executable, "-c", code, str(wav), "--task", "cry", "--encoder", "hear"], env=full,
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "HF_TOKEN" in r.stderr


def _mini_sprsound(root: Path, patients: int = 10) -> Path:
    """Enough patients for nested grouped CV: each has two 6-s recordings whose events match their record label
    (a wheeze-like tone for CAS, clicks for DAS, both, none)."""
    import soundfile as sf

    labels = ["Normal", "CAS", "DAS", "CAS & DAS", "Poor Quality"]
    for split, n in (("train2022", patients), ("test2022_intra", 3)):
        (root / f"{split}_wav").mkdir(parents=True)
        (root / f"{split}_json").mkdir(parents=True)
        for p in range(n):
            for r in range(2):
                stem = f"{100 + p}_5.0_{p % 2}_p{1 + r}_{10 * p + r}"
                label = labels[(p + r) % len(labels)]
                x = noise(6.0, sr=8000, amp=0.02, seed=p * 7 + r)
                events = [{"start": "400", "end": "1400", "type": "Normal"}]
                if label in ("CAS", "CAS & DAS"):
                    x[8000:12000] += 0.2 * np.sin(2 * np.pi * (300 + 40 * p) * np.arange(4000) / 8000)
                    events.append({"start": "1000", "end": "1500", "type": "Wheeze"})
                if label in ("DAS", "CAS & DAS"):
                    x[32000:35200:400] += 0.5
                    events.append({"start": "4000", "end": "4400", "type": "Fine Crackle"})
                if label == "Poor Quality":
                    x += noise(6.0, sr=8000, amp=0.3, seed=99 + p)
                    events = []
                sf.write(root / f"{split}_wav" / f"{stem}.wav", np.clip(x, -1, 1), 8000)
                ann = {"record_annotation": label, "event_annotation": events}
                (root / f"{split}_json" / f"{stem}.json").write_text(json.dumps(ann))
    return root


def test_train_respiratory_heads_on_hear_then_app_uses_them(standin, clean_env, tmp_path):
    """The HeAR training path users with weights will run: same CLI, HeAR embeddings, artefacts the Analyzer
    picks up in auto mode (and until they exist, auto mode says HeAR heads are not trained)."""
    from core.answers.analyzer import Analyzer, choose_encoder
    from core.tasks import get_task
    from core.cli.train import main as train_main

    clean_env.setenv("HEAR_MODEL_DIR", str(standin))
    out = tmp_path / "trained"
    before = choose_encoder(get_task("respiratory"), "auto", out)
    assert before.name == "acoustic" and "HeAR heads are not trained on this install" in before.note
    data = _mini_sprsound(tmp_path / "spr")
    rc = train_main(["--task", "respiratory", "--encoder", "hear", "--data", str(data), "--out", str(out),
                     "--candidates", "logreg", "--folds", "3", "--test-fraction", "0.3", "--no-cache"])
    assert rc == 0
    for head in ("recording", "event_screen", "event_type"):
        meta = json.loads((out / "respiratory" / "hear" / head / "meta.json").read_text())
        assert meta["encoder"]["name"] == "hear" and meta["encoder"]["dim"] == 512
    assert meta["research"]  # event heads: reported, never run on a recording
    rec = json.loads((out / "respiratory" / "hear" / "recording" / "metrics.json").read_text())
    assert "nested patient-grouped" in rec["cv"]["split"] and "both recording periods" in rec["cv"]["split"]
    assert rec["data"]["training_periods"] == {"earlier": 20, "later": 6}  # both releases trained on
    assert all("skipped" in v for v in rec["shift"].values())  # 10 and 3 patients: too few to fit a period alone
    an = Analyzer("respiratory", "auto", root=out)
    assert an.encoder.info.name == "hear"
    r = an.analyze(data / "test2022_intra_wav" / "100_5.0_0_p1_0.wav")
    assert r.encoder.name == "hear" and (r.verdict.label is not None or r.verdict.abstained)
    assert r.heads["detector"].window_probs.shape == (len(r.windows), 3) and r.timeline is not None
