"""Window labels from annotated events, the event timeline's merge, and event-based matching."""
import numpy as np
import pytest

from core.decisions.timeline import build_timeline, frame_scores
from core.evaluation.events import Counts, event_scores, match, recording_counts
from core.windows.labels import AMBIGUOUS, NEGATIVE, POSITIVE, Event, clip_events, label_windows
from tests.helpers import encode

CLASSES = {"CAS": frozenset({"Wheeze", "Wheeze+Crackle"}), "DAS": frozenset({"Fine Crackle", "Wheeze+Crackle"})}


def labels(events, duration=10.0, hop=1.0, **kw):
    starts = np.arange(0, max(duration - 2.0, 0.0) + 1e-9, hop)
    return starts, label_windows(starts, 2.0, duration, events, CLASSES, **kw)


def test_a_short_event_labels_the_windows_holding_half_of_it():
    # a 0.4-s wheeze at 3.0-3.4 s: windows starting at 2 and 3 hold all of it; the window at 1.0-3.0 holds none
    starts, Y = labels([Event(3.0, 3.4, "Wheeze")])
    cas = dict(zip(starts.tolist(), Y[:, 0].tolist()))
    assert cas[2.0] == POSITIVE and cas[3.0] == POSITIVE
    assert cas[1.0] == NEGATIVE and cas[4.0] == NEGATIVE
    assert (Y[:, 1] == NEGATIVE).all()  # a wheeze is not a crackle


def test_a_sliver_of_an_event_is_ambiguous_not_negative():
    # 0.8-s event at 2.9-3.7: the window 1.0-3.0 holds 0.1 s of it (12 %): ambiguous
    starts, Y = labels([Event(2.9, 3.7, "Fine Crackle")])
    das = dict(zip(starts.tolist(), Y[:, 1].tolist()))
    assert das[1.0] == AMBIGUOUS and das[2.0] == POSITIVE and das[3.0] == POSITIVE and das[0.0] == NEGATIVE


def test_half_the_event_exactly_is_enough_and_long_events_need_one_second():
    # 1-s event at 3.5-4.5: the window 2.0-4.0 holds 0.5 s = 50 % -> positive
    starts, Y = labels([Event(3.5, 4.5, "Wheeze")])
    assert dict(zip(starts.tolist(), Y[:, 0].tolist()))[2.0] == POSITIVE
    # 5-s stridor-like event at 2-7: a window holding 1 s of it is positive (50 % would need 2.5 s)
    starts, Y = labels([Event(2.0, 7.0, "Wheeze")], duration=12.0)
    cas = dict(zip(starts.tolist(), Y[:, 0].tolist()))
    assert cas[1.0] == POSITIVE and cas[6.0] == POSITIVE and cas[0.0] == NEGATIVE and cas[7.0] == NEGATIVE
    assert cas[0.5 + 0.5] == POSITIVE


def test_the_overlap_rule_can_be_any_overlap_or_the_whole_event():
    ev = [Event(2.9, 3.7, "Fine Crackle")]
    _, any_ = labels(ev, min_fraction=0.0, min_overlap_s=0.0)
    _, whole = labels(ev, min_fraction=1.0, min_overlap_s=10.0)
    assert (any_[:, 1] == POSITIVE).sum() == 3  # windows at 1, 2, 3
    assert (whole[:, 1] == POSITIVE).sum() == 1 and (whole[:, 1] == AMBIGUOUS).sum() == 2  # only 2-4 s holds all


def test_events_past_the_end_are_clipped_or_dropped():
    kept, dropped = clip_events([Event(8.5, 12.0, "Wheeze"), Event(11.0, 11.5, "Wheeze")], 10.0)
    assert dropped == 1 and kept == [Event(8.5, 10.0, "Wheeze")]
    # the last window (8-10 s) holds 1.5 s of the clipped 1.5-s event -> positive; padding holds nothing
    starts, Y = labels([Event(8.5, 12.0, "Wheeze"), Event(11.0, 11.5, "Wheeze")])
    assert Y[-1, 0] == POSITIVE and Y[starts < 6.0, 0].tolist() == [NEGATIVE] * int((starts < 6.0).sum())
    # a recording shorter than one window: its single window is judged on real audio only
    _, Y = labels([Event(0.5, 1.0, "Wheeze")], duration=1.2)
    assert Y.shape == (1, 2) and Y[0, 0] == POSITIVE


def test_a_type_in_two_classes_labels_both():
    _, Y = labels([Event(3.0, 3.6, "Wheeze+Crackle")])
    assert ((Y[:, 0] == POSITIVE) == (Y[:, 1] == POSITIVE)).all() and (Y[:, 0] == POSITIVE).sum() == 2


def test_frame_scores_average_the_usable_windows_covering_each_frame():
    # 5-s recording, windows at 0,1,2,3 (2 s, hop 1): frame 2-3 s lies under windows 1 and 2
    p = np.array([[0.1], [0.9], [0.7], [0.2]])
    starts, scores = frame_scores(p, np.array([0.0, 1.0, 2.0, 3.0]), np.array([True, True, True, True]), 5.0, 1.0)
    assert starts.tolist() == [0, 1, 2, 3, 4]
    assert np.allclose(scores[:, 0], [0.1, 0.5, 0.8, 0.45, 0.2])
    # an unusable window does not vote; a frame under no usable window has no score
    _, scores = frame_scores(p, np.array([0.0, 1.0, 2.0, 3.0]), np.array([True, False, True, False]), 5.0, 1.0)
    assert np.allclose(scores[:4, 0], [0.1, 0.1, 0.7, 0.7]) and np.isnan(scores[4, 0])


def test_timeline_merges_consecutive_frames_into_segments_per_type():
    classes = ("Adventitious", "CAS", "DAS")
    starts = np.arange(0.0, 9.0)  # 10-s recording, windows 0..8
    p = np.zeros((9, 3))
    p[2:4, 1] = 0.9  # CAS in windows at 2 and 3 -> frames 2, 3, 4 (frame 4 mean 0.45)
    p[7, 2] = 0.8  # DAS in the window at 7 -> frames 7 (0.4) and 8 (0.8 alone... window 8 covers 8-10 too)
    tl = build_timeline(p, starts, np.ones(9, bool), 10.0, classes, {"CAS": 0.4, "DAS": 0.35}, ("CAS", "DAS"), 1.0)
    cas, das = tl.of("CAS"), tl.of("DAS")
    assert [(s.onset_s, s.offset_s) for s in cas] == [(2.0, 5.0)] and cas[0].probability == pytest.approx(0.9)
    assert [(s.onset_s, s.offset_s) for s in das] == [(7.0, 9.0)]
    assert tl.counts() == {"CAS": 1, "DAS": 1}
    assert tl.share()["CAS"] == pytest.approx(0.3) and tl.share_any() == pytest.approx(0.5)
    d = tl.to_dict()
    assert d["segments"][0] == {"onset_s": 2.0, "offset_s": 5.0, "type": "CAS", "probability": 0.9}
    # the last segment stops at the recording's end, not at the padded window's end
    p2 = np.zeros((9, 3))
    p2[8, 1] = 0.9
    tl2 = build_timeline(p2, starts, np.ones(9, bool), 9.5, classes, {"CAS": 0.4, "DAS": 0.4}, ("CAS",), 1.0)
    assert tl2.segments[-1].offset_s == pytest.approx(9.5)


def test_overlap_matching_is_one_to_one_and_best_first():
    refs = [Event(1.0, 1.5, "Wheeze"), Event(2.0, 2.4, "Wheeze"), Event(8.0, 8.5, "Wheeze")]
    from core.decisions.timeline import Segment

    dets = [Segment(1.0, 3.0, "CAS", 0.9), Segment(5.0, 6.0, "CAS", 0.8)]
    # the long segment covers two references: it matches one of them; the 5-6 s segment matches nothing
    assert match(refs, dets, "overlap") == Counts(tp=1, fp=1, fn=2)
    assert match(refs, dets, "onset") == Counts(tp=1, fp=1, fn=2)  # onset 1.0 vs 1.0
    assert match(refs, [Segment(3.2, 4.0, "CAS", 0.9)], "onset") == Counts(0, 1, 3)  # 1.2 s from the nearest onset
    assert match([], [], "overlap") == Counts(0, 0, 0)


def test_recording_counts_and_scores_per_class_with_patient_intervals():
    from core.decisions.timeline import Segment

    events = [Event(1.0, 1.5, "Wheeze"), Event(4.0, 4.8, "Fine Crackle"), Event(6.0, 6.5, "Wheeze+Crackle")]
    segs = [Segment(1.0, 2.0, "CAS", 0.9), Segment(6.0, 7.0, "DAS", 0.7)]
    c = recording_counts(events, segs, 10.0, CLASSES, ("CAS", "DAS"))
    assert c["CAS"] == Counts(1, 0, 1) and c["DAS"] == Counts(1, 0, 1)
    per_rec = [c] * 30
    out = event_scores(per_rec, np.arange(30) % 10, ("CAS", "DAS"), split="test", criterion="overlap", n_boot=50)
    cas = out["classes"]["CAS"]
    assert cas["precision"] == 1.0 and cas["recall"] == 0.5 and cas["f1"] == pytest.approx(2 / 3)
    assert out["n_groups"] == 10 and cas["ci95"]["f1"] is not None


def test_refine_cuts_a_segment_at_breathing_pauses_and_the_analyzer_applies_a_shipped_rule(monkeypatch):
    """Four 0.8-s sounds under one 10-s segment become four segments; a segment over silence stays whole; the
    Analyzer refines its timeline only when a rule ships (timeline_refinement.json)."""
    from core.answers.analyzer import Analyzer
    from core.decisions.timeline import Refinement, Segment, Timeline, refine
    from core.windows.envelope import ENVELOPE_HOP_S, breath_envelope

    sr = 16000
    t = np.arange(10 * sr) / sr
    x = np.random.default_rng(0).normal(0, 0.001, len(t))
    for a in (1, 3, 5, 7):
        x[a * sr:int((a + 0.8) * sr)] += 0.05 * np.sin(2 * np.pi * 400 * t[a * sr:int((a + 0.8) * sr)])
    env = breath_envelope(x)
    assert len(env) == 1000
    tl = Timeline((Segment(0.0, 10.0, "CAS", 0.9),), 10.0, ("CAS", "DAS"), {"CAS": 0.5, "DAS": 0.5})
    cut = refine(tl, env, ENVELOPE_HOP_S, Refinement(0.3))
    assert [(round(s.onset_s), round(s.offset_s)) for s in cut.segments] == [(1, 2), (3, 4), (5, 6), (7, 8)]
    assert all(abs(s.onset_s - a) < 0.1 for s, a in zip(cut.segments, (1, 3, 5, 7)))
    assert refine(tl, env, ENVELOPE_HOP_S, None) is tl
    quiet = refine(Timeline((Segment(0.0, 0.5, "DAS", 0.7),), 10.0, ("CAS", "DAS"), tl.thresholds), env,
                   ENVELOPE_HOP_S, Refinement(0.3))
    assert [(s.onset_s, s.offset_s) for s in quiet.segments] == [(0.0, 0.5)]  # no sound in it: kept whole

    an = Analyzer("respiratory", "acoustic")
    an.input_check = None  # generated audio: this test is about the timeline
    wav = encode((x * 5).astype(np.float32), sr, "WAV", "PCM_16")
    plain = an.analyze(wav).timeline
    monkeypatch.setattr(an, "timeline_rule", Refinement(0.3))
    refined = an.analyze(wav).timeline
    assert plain is not None and refined is not None
    assert all(any(p.onset_s <= r.onset_s and r.offset_s <= p.offset_s for p in plain.segments)
               for r in refined.segments)  # refined segments lie inside the 1-s timeline's
