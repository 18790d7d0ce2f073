"""Dataset readers on generated layouts with the real data's awkward cases, and on ../shared/data when present."""
import json

import numpy as np
import pytest

from core.encoders.cache import EmbeddingCache
from core.data.datasets import detect_layout, read_cry_pain, read_donateacry, read_folder, read_sprsound
from core.data.embed import embed_units
from core.encoders import get_encoder
from tests.conftest import data_path
from tests.helpers import noise, tone, write


def make_sprsound(root, wav_ext=".wav"):
    """A miniature of the official layout: WAV or FLAC + JSON, 8 kHz, including edge cases."""
    tr_a, tr_j = root / "train2022_wav", root / "train2022_json"
    te_a, te_j = root / "test2022_intra_wav", root / "test2022_intra_json"
    recs = [
        (tr_a, tr_j, "1001_3.5_0_p1_1", 6.0, "CAS", [(500, 1700, "Wheeze"), (2000, 2000, "Normal"), (3000, 5900, "Normal")]),
        (tr_a, tr_j, "1002_7.0_1_p3_2", 0.3, "Poor Quality", []),
        (tr_a, tr_j, "1003_2.1_1_p2_3", 5.0, "Normal", [(100, 1300, "Normal"), (900, 2100, "Normal"), (9000, 9500, "Normal")]),
        (te_a, te_j, "1001_3.5_0_p2_9", 4.0, "DAS", [(200, 800, "Fine Crackle")]),
    ]
    for adir, jdir, stem, secs, rec, events in recs:
        write(adir / f"{stem}{wav_ext}", noise(secs, sr=8000, amp=0.02), sr=8000)
        jdir.mkdir(parents=True, exist_ok=True)
        ann = {"record_annotation": rec, "event_annotation": [{"start": str(s), "end": str(e), "type": t} for s, e, t in events]}
        (jdir / f"{stem}.json").write_text(json.dumps(ann))
    (tr_j / "badname.json").write_text("{}")
    (tr_j / "1009_1.0_0_p1_7.json").write_text("{}")  # no audio
    return root


@pytest.mark.parametrize("ext", [".wav", ".flac"])
def test_sprsound_layout_and_edge_cases(tmp_path, ext):
    root = make_sprsound(tmp_path / "spr", ext)
    assert detect_layout(root) == "sprsound"
    ev = read_sprsound(root, "event")
    reasons = dict(ev.skipped)
    assert reasons["badname.json"].startswith("file name")
    assert reasons["1009_1.0_0_p1_7.json"] == "no matching audio file"
    assert any(r == "zero-length or reversed event" for r in reasons.values())
    assert len(ev.units) == 6
    u = next(x for x in ev.units if x.uid == "train/1001_3.5_0_p1_1#0")
    assert (u.group, u.label, u.start_s, u.end_s) == ("1001", "Wheeze", 0.5, 1.7)
    assert u.meta_dict() == {"age": "3.5", "gender": "m", "location": "p1"}
    assert {x.split for x in ev.units} == {"train", "test_intra"}
    rec = read_sprsound(root, "record")
    assert sorted(x.label for x in rec.units) == ["CAS", "DAS", "Normal", "Poor Quality"]

    emb = embed_units(ev.units, get_encoder("acoustic"), EmbeddingCache())
    assert [s[1] for s in emb.skipped] == ["event starts after the end of the recording"]
    assert len(emb.units) == 5 and emb.X.shape[1] == get_encoder("acoustic").info.dim
    counts = np.bincount(emb.unit_of)
    by_uid = dict(zip((u.uid for u in emb.units), counts.tolist()))
    assert by_uid["train/1001_3.5_0_p1_1#2"] == 2  # a 2.9-s event: starts at 3.0 s and, aligned to its end, 3.9 s
    assert sorted(by_uid.values()) == [1, 1, 1, 1, 2]
    recs = embed_units(rec.units, get_encoder("acoustic"), EmbeddingCache())
    assert len(recs.units) == 4 and recs.pooled().shape == (4, 2 * recs.X.shape[1])

    both = embed_units(ev.units, get_encoder("acoustic"), EmbeddingCache(), views=("event", "context"))
    assert len(both.units) == 5
    assert (both.view == "event").sum() == (both.view == "context").sum() == 6  # same windowing in both views
    e_only = both.X[both.view == "event"]
    assert not np.allclose(e_only, both.X[both.view == "context"])  # the event alone is not the centred context
    with pytest.raises(ValueError, match="unknown view"):
        embed_units(ev.units, get_encoder("acoustic"), EmbeddingCache(), views=("spectral",))


def test_event_heads_score_the_event_view_and_records_carry_their_events(tmp_path):
    from core.heads.recording import RecordingSet
    from core.heads.training import build_design
    from core.tasks import RECORD_PRESENCE, RESP_DETECTOR_CLASSES, RESPIRATORY
    from core.windows.labels import Event

    root = make_sprsound(tmp_path / "spr")
    ev = read_sprsound(root, "event")
    head = RESPIRATORY.head("event_screen")
    emb = embed_units(ev.units, get_encoder("acoustic"), EmbeddingCache(), views=head.views)
    d, skipped = build_design(emb, head, np.arange(len(emb.units)))
    assert set(d.view[d.scoring]) == {"event"} and len(d.X) == 2 * d.scoring.sum()
    ctx = d.rescored("context")
    assert set(ctx.view[ctx.scoring]) == {"context"}
    # record units carry their (valid) events; their windows are labelled from them
    rec = read_sprsound(root, "record")
    u = next(x for x in rec.units if x.uid == "train/1001_3.5_0_p1_1")
    assert u.events[0] == Event(0.5, 1.7, "Wheeze") and all(e.end_s > e.start_s for e in u.events)
    remb = embed_units(rec.units, get_encoder("acoustic"), EmbeddingCache())
    assert remb.duration_s.shape == (len(remb.units),) and (remb.duration_s > 0).all()
    rs = RecordingSet.from_embedded(remb, RESP_DETECTOR_CLASSES)
    i = list(rs.uids).index("train/1001_3.5_0_p1_1")
    rows = rs.rec_of == i
    assert (rs.Y[rows, 1] == 1).any() and rs.start_s[rows][0] == 0.0
    assert rs.present(RECORD_PRESENCE)[i].tolist() == [
        "Adventitious" in (RECORD_PRESENCE[rs.labels[i]] or ()), "CAS" in (RECORD_PRESENCE[rs.labels[i]] or ()),
        "DAS" in (RECORD_PRESENCE[rs.labels[i]] or ())]


def test_cry_layouts(tmp_path):
    cp = tmp_path / "cry_pain"
    write(cp / "pain_vaccination" / "ABC_D01.flac", tone(500, 3.0))
    write(cp / "discomfort_bath" / "ABC_B01.flac", tone(400, 3.0))
    write(cp / "discomfort_bath" / "XYZ_B01.flac", tone(400, 3.0))
    assert detect_layout(cp) == "cry_pain"
    s = read_cry_pain(cp)
    assert sorted((u.group, u.label) for u in s.units) == [("ABC", "discomfort"), ("ABC", "pain"), ("XYZ", "discomfort")]

    dac = tmp_path / "dac"
    uid = "02c3b725-26e4-4a2c-9336-04ddc58836d9"
    write(dac / "hungry" / f"{uid}-1430726196216-1.7-m-04-hu.wav", tone(450, 2.0), sr=8000)
    write(dac / "tired" / "not-a-donateacry-name.wav", tone(450, 2.0), sr=8000)
    assert detect_layout(dac) == "donateacry"
    d = read_donateacry(dac)
    assert d.units[0].group == uid and d.units[0].meta_dict() == {"gender": "m", "age_code": "04"}
    assert d.skipped[0][0] == "not-a-donateacry-name.wav"

    own = tmp_path / "own"
    write(own / "yes" / "p01_a.wav", tone(300, 2.0))
    write(own / "no" / "p02_b.wav", tone(300, 2.0))
    assert detect_layout(own) == "folder"
    f = read_folder(own, r"^(p\d+)_")
    assert sorted(u.group for u in f.units) == ["p01", "p02"]


def test_real_shared_data_counts():
    spr = read_sprsound(data_path("sprsound"), "record")
    summ = spr.summary()
    assert summ["splits"] == {"test_intra": 379, "train": 1949} and summ["skipped"] == 0
    assert summ["labels"]["Poor Quality"] == 177 + 2
    ev = read_sprsound(data_path("sprsound"), "event")
    assert sum(1 for u in ev.units if u.split == "train") == 6656
    cry = read_cry_pain(data_path("cry_pain"))
    assert len(cry.units) == 223 and len({u.group for u in cry.units}) == 18
    dac = read_donateacry(data_path("donateacry"))
    assert len(dac.units) == 457 and dac.summary()["labels"]["hungry"] == 382
