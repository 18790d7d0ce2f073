"""Nearest training examples in the stored projection, and finding their audio when the dataset is here."""
import json

import numpy as np

from core.heads.artifacts import Projection
from core.answers.neighbours import load_clip, locate_audio, nearest
from tests.helpers import noise, write


def test_nearest_orders_by_distance_in_the_projection():
    proj = Projection(np.zeros(3), np.eye(3), np.array([0.5, 0.3, 0.2]),
                      np.array([[0, 0, 0], [1, 0, 0], [5, 5, 0], [0.2, 0, 0]], np.float32),
                      np.array(["a", "b", "a", "b"]), np.array(["g1", "g2", "g3", "g4"]),
                      np.array(["u0", "u1", "u2", "u3"]), np.array(["train"] * 4))
    got = nearest(proj, np.array([0.1, 0, 0]), k=3)
    assert [n.uid for n in got] == ["u0", "u3", "u1"]
    assert np.isclose(got[0].distance, 0.1) and got[1].label == "b"


def test_locate_sprsound_event_and_folder_audio(tmp_path):
    root = tmp_path / "spr"
    stem = "1001_3.5_0_p1_1"
    write(root / "train2022_wav" / f"{stem}.wav", noise(4.0, sr=8000), sr=8000)
    (root / "train2022_json").mkdir(parents=True)
    (root / "train2022_json" / f"{stem}.json").write_text(json.dumps(
        {"record_annotation": "CAS", "event_annotation": [{"start": "500", "end": "1700", "type": "Wheeze"}]}))
    ref = locate_audio(f"train/{stem}#0", "sprsound_events", root)
    assert ref.path.name == f"{stem}.wav" and (ref.start_s, ref.end_s) == (0.5, 1.7)
    clip = load_clip(ref)
    assert abs(len(clip) / 16000 - 1.7) < 0.01  # the event plus 0.25 s either side
    assert locate_audio(f"train/{stem}", "sprsound_records", root).start_s is None
    assert locate_audio("train/9999_1.0_0_p1_1#0", "sprsound_events", root) is None
    write(tmp_path / "cry" / "pain_vaccination" / "ABC_D01.flac", noise(1.0))
    assert locate_audio("pain_vaccination/ABC_D01", "cry_pain", tmp_path / "cry").path.suffix == ".flac"
    assert locate_audio("pain_vaccination/ABC_D01", "cry_pain", tmp_path / "missing") is None


def test_typical_distance_separates_far_points():
    from core.answers.neighbours import typical_nn_distance

    rng = np.random.default_rng(0)
    coords = rng.normal(size=(400, 4)).astype(np.float32)
    proj = Projection(np.zeros(4), np.eye(4), np.full(4, 0.25), coords, np.array(["a"] * 400),
                      np.array([f"g{i}" for i in range(400)]), np.array([f"u{i}" for i in range(400)]),
                      np.array(["train"] * 400))
    t = typical_nn_distance(proj)
    assert 0 < t < 2.0
    assert nearest(proj, np.full(4, 10.0), 1)[0].distance > t  # far from everything
    assert nearest(proj, coords[0] + 0.01, 1)[0].distance < t
