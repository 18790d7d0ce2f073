"""A researcher's reference annotation: SPRSound JSON and CSV reading, every refusal with its own message, agreement
with the event timeline, and the figure that draws the annotator's events above the detected segments."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from core.decisions.timeline import Segment, Timeline
from core.evaluation.reference import (CSV, MAX_BYTES, MAX_EVENTS, SPRSOUND_JSON, ReferenceAnnotation,
                                       ReferenceAnnotationError, agreement, class_coverage, parse_reference)
from core.tasks import RESP_DETECTOR_CLASSES, RESP_EVENT_LABELS, RESP_TIMELINE_TYPES
from core.windows.labels import Event
from core.windows.spectrogram import Spectrogram
from tests.conftest import data_path


def _spr(events: list[dict], label: str | None = "CAS") -> bytes:
    obj = {"event_annotation": events} if label is None else {"record_annotation": label, "event_annotation": events}
    return json.dumps(obj).encode()


# ---------------------------------------------------------------- SPRSound JSON


def test_every_real_sprsound_annotation_parses_with_its_events_in_seconds():
    jdir = data_path("sprsound", "BioCAS2022", "train2022_json")
    files = sorted(jdir.glob("*.json"))
    assert len(files) > 100
    seen_types = set()
    for f in files:
        raw = json.loads(f.read_text())
        ref = parse_reference(f.name, f.read_bytes())
        assert ref.source_format == SPRSOUND_JSON and ref.record_label == raw["record_annotation"]
        expected = sorted((float(e["start"]) / 1000, float(e["end"]) / 1000, e["type"])
                          for e in raw["event_annotation"])
        assert [(e.start_s, e.end_s, e.type) for e in ref.events] == expected
        seen_types |= {e.type for e in ref.events}
    assert seen_types == set(RESP_EVENT_LABELS)  # every SPRSound type occurs and is accepted


def test_real_annotation_with_breath_cycles_keeps_them_apart_from_adventitious_events():
    f = data_path("sprsound", "BioCAS2022", "train2022_json", "40969263_4.0_0_p2_2067.json")
    ref = parse_reference(f.name, f.read_bytes(), duration_s=9.0)
    assert ref.record_label == "CAS & DAS" and ref.record_presence == frozenset({"Adventitious", "CAS", "DAS"})
    assert [e.type for e in ref.events] == ["Wheeze+Crackle", "Normal", "Normal", "Fine Crackle"]  # sorted by onset
    assert ref.events[0] == Event(1.824, 2.593, "Wheeze+Crackle")
    assert [e.type for e in ref.adventitious] == ["Wheeze+Crackle", "Fine Crackle"]
    assert ref.events[-1].end_s == 9.0  # 9.486 s clipped at the given duration
    assert ref.notes == ("1 event past the recording's end clipped at 9.00 s",)


def test_generated_json_numbers_case_and_clipping():
    data = _spr([{"start": 500, "end": "1500.5", "type": "wheeze"},
                 {"start": "9000", "end": "11000", "type": "Fine_Crackle"},
                 {"start": "12000", "end": "13000", "type": "WHEEZE + crackle"},
                 {"start": "200", "end": "700", "type": "cas"}], label="CAS & DAS")
    ref = parse_reference("uploads/mine.JSON", data, duration_s=10.0)
    assert ref.name == "mine.JSON"
    assert ref.events == (Event(0.2, 0.7, "CAS"), Event(0.5, 1.5005, "Wheeze"), Event(9.0, 10.0, "Fine Crackle"))
    assert ref.notes == ("1 event starting after the recording's end (10.00 s) dropped",
                         "1 event past the recording's end clipped at 10.00 s")
    assert ref.counts() == {"Wheeze": 1, "Fine Crackle": 1, "CAS": 1}


def test_json_is_recognised_by_content_when_the_name_has_no_extension():
    ref = parse_reference("40969263_4.0_0_p2_2067", _spr([{"start": "10", "end": "20", "type": "Rhonchi"}]))
    assert ref.source_format == SPRSOUND_JSON and ref.events == (Event(0.01, 0.02, "Rhonchi"),)


def test_json_without_record_label_poor_quality_and_empty_events():
    ref = parse_reference("a.json", _spr([{"start": "0", "end": "100", "type": "Stridor"}], label=None))
    assert ref.record_label is None and ref.record_presence is None and ref.events == (Event(0, 0.1, "Stridor"),)
    poor = parse_reference("p.json", b'{"record_annotation": "Poor Quality", "event_annotation": []}')
    assert poor.events == () and "Poor Quality" in poor.notes[0]
    odd = parse_reference("o.json", _spr([], label="Crackly"))
    assert odd.record_label == "Crackly" and "not one of SPRSound's" in odd.notes[0]


# ---------------------------------------------------------------- CSV


@pytest.mark.parametrize("name, text", [
    ("a.csv", "onset,offset,type\n0.5,1.25,Wheeze\n2,3,Fine Crackle\n"),
    ("b.csv", "Onset_s,Offset_s,Label\n0.5,1.25,wheeze\n2,3,fine crackle\n"),
    ("c.csv", "\ufeffSTART;END;Event Type\r\n0.5;1.25;Wheeze\r\n2;3;Fine_Crackle\r\n"),
    ("d.tsv", "Start (s)\tEnd (s)\tclass\n0.5\t1.25\tWheeze\n\n2\t3\tFine Crackle\n"),
    ("e.csv", "start_ms,end_ms,type\n500,1250,Wheeze\n2000,3000,Fine Crackle\n"),
    ("f.csv", "# my annotation\nid,type,begin,end,who\n1,Wheeze,0.5,1.25,AB\n2,Fine Crackle,2,3,AB\n"),
    ("g.txt", "0.5\t1.25\tWheeze\n\\\t120.0\t900.0\n2.0\t3.0\tFine Crackle\n"),  # Audacity labels, spectral lines
    ("h", "onset,offset,type\n2,3,Fine Crackle\n0.5,1.25,Wheeze\n"),  # no extension: sniffed; unsorted rows
    ("41267028_0.2_0_p1", "onset,offset,type\n0.5,1.25,Wheeze\n2,3,Fine Crackle\n"),  # a dot in the stem
])
def test_csv_variants_read_the_same_events(name, text):
    ref = parse_reference(name, text.encode())
    assert ref.source_format == CSV and ref.record_label is None
    assert ref.events == (Event(0.5, 1.25, "Wheeze"), Event(2.0, 3.0, "Fine Crackle"))
    assert ("Audacity" in " ".join(ref.notes)) == (name == "g.txt")


# ---------------------------------------------------------------- refusals, each with its own message


@pytest.mark.parametrize("name, data, message", [
    ("a.png", b"\x89PNG\r\n\x1a\n\x00\xff\xfe", "not a text file"),
    ("a.pdf", b"%PDF-1.4 hello", "'.pdf' files are not read"),
    ("a.json", b"", "empty"),
    ("a.json", b'{"record_annotation": "CAS", "event_annotation": [', "not valid JSON (line 1"),
    ("a.json", b'[{"start": "1", "end": "2", "type": "Wheeze"}]', "found a JSON list"),
    ("a.json", b'{"record_annotation": "CAS", "events": []}',
     "no 'event_annotation' key (found: record_annotation, events)"),
    ("a.json", b'{"event_annotation": {"start": "1"}}', "must be a list of events"),
    ("a.json", _spr([{"start": "1", "type": "Wheeze"}]), "event 1 has no 'end'"),
    ("a.json", _spr([{"start": "1", "end": "2", "type": "Wheeze"}, "x"]), "event 2 is not an object"),
    ("a.json", _spr([{"start": "1.2.3", "end": "2", "type": "Wheeze"}]), "event 1: start '1.2.3' is not a number"),
    ("a.json", _spr([{"start": "1", "end": "nan", "type": "Wheeze"}]), "event 1: end 'nan' is not a finite number"),
    ("a.json", _spr([{"start": True, "end": "2", "type": "Wheeze"}]), "event 1: start True is not a number"),
    ("a.json", _spr([{"start": "500", "end": "500", "type": "Wheeze"}]),
     "ends at 500 ms, not after its start at 500 ms"),
    ("a.json", _spr([{"start": "900", "end": "300", "type": "Wheeze"}]), "event 1: ends at 300 ms, not after"),
    ("a.json", _spr([{"start": "-100", "end": "300", "type": "Wheeze"}]), "event 1: negative time"),
    ("a.json", _spr([{"start": "1", "end": "2", "type": "Crackles"}, {"start": "3", "end": "4", "type": "Squawk"},
                     {"start": "5", "end": "6", "type": "Crackles"}]),
     "unknown event types 'Crackles' (event 1, event 3); 'Squawk' (event 2)"),
    ("a.json", _spr([{"start": "1", "end": "2", "type": "Adventitious"}]), "unknown event type 'Adventitious'"),
    ("a.json", b'{"record_annotation": 3, "event_annotation": []}', "'record_annotation' must be text"),
    ("a.csv", b"time,kind\n1,Wheeze\n", "missing the onset, offset and type columns (found columns 'time', 'kind')"),
    ("a.csv", b"onset,offset,what\n1,2,Wheeze\n", "missing the type column (found columns 'onset', 'offset', 'what')"),
    ("a.csv", b"onset\n1\n", "has a single column"),
    ("a.csv", b"onset,start,type\n1,2,Wheeze\n", "two columns could be the onset ('onset' and 'start')"),
    ("a.csv", b"onset,offset,type\n1,2\n", "row 2 has 2 fields, expected at least 3"),
    ("a.csv", b"onset,offset,type\n1,2,Wheeze\n1,two,Wheeze\n", "row 3: offset 'two' is not a number"),
    ("a.csv", b"onset,offset,type\n2,1,Wheeze\n", "row 2: ends at 1 s, not after its start at 2 s"),
    ("a.csv", b"onset,offset,type\n-1,1,Wheeze\n", "row 2: negative time"),
    ("a.csv", b"onset,offset,type\n1,2,Whistle\n", "unknown event type 'Whistle' (row 2). Expected one of Normal"),
    ("a.txt", b"1\t2\n", "no header row and only 2 columns"),
    ("a.csv", b"# only a comment\n\n", "no rows"),
])
def test_each_malformed_reference_is_refused_with_a_specific_message(name, data, message):
    with pytest.raises(ReferenceAnnotationError) as err:
        parse_reference(name, data)
    assert message in str(err.value), str(err.value)
    assert str(err.value).startswith(f"Reference annotation {name!r}: ")
    assert isinstance(err.value, ValueError)


def test_missing_columns_message_says_which_columns_are_expected():
    with pytest.raises(ReferenceAnnotationError, match=r"needs three columns: onset, offset \(times in seconds\) "
                                                       r"and type; accepted header variants include onset_s/offset_s"):
        parse_reference("a.csv", b"a,b,c\n1,2,Wheeze\n")


def test_size_and_event_count_caps():
    with pytest.raises(ReferenceAnnotationError, match="at most 1 MB"):
        parse_reference("big.csv", b"onset,offset,type\n" + b"1,2,Wheeze\n" * (MAX_BYTES // 10))
    many = _spr([{"start": str(i), "end": str(i + 1), "type": "Wheeze"} for i in range(MAX_EVENTS + 1)])
    assert len(many) < MAX_BYTES
    with pytest.raises(ReferenceAnnotationError, match=f"{MAX_EVENTS + 1} events; at most {MAX_EVENTS}"):
        parse_reference("many.json", many)
    rows = "".join(f"{i},{i + 1},Wheeze\n" for i in range(MAX_EVENTS + 1))
    with pytest.raises(ReferenceAnnotationError, match=f"at most {MAX_EVENTS}"):
        parse_reference("many.csv", ("onset,offset,type\n" + rows).encode())
    assert len(parse_reference("ok.json", _spr([{"start": str(i), "end": str(i + 1), "type": "Wheeze"}
                                                for i in range(MAX_EVENTS)])).events) == MAX_EVENTS


# ---------------------------------------------------------------- agreement


def _timeline(segments: list[Segment], duration: float = 20.0) -> Timeline:
    return Timeline(tuple(sorted(segments, key=lambda s: s.onset_s)), duration, RESP_TIMELINE_TYPES,
                    {t: 0.5 for t in RESP_TIMELINE_TYPES})


def test_class_coverage_reuses_the_detector_mapping_and_adds_class_names():
    cover = class_coverage()
    for cls, types in RESP_DETECTOR_CLASSES.items():
        assert types <= cover[cls] and cls in cover[cls]
    assert "Wheeze+Crackle" in cover["CAS"] and "Wheeze+Crackle" in cover["DAS"]
    assert {"CAS", "DAS"} <= cover["Adventitious"] and "CAS" not in cover["DAS"]
    assert not any("Normal" in v for v in cover.values())


def test_agreement_counts_known_matches_per_type_and_criterion():
    ref = ReferenceAnnotation("r.json", SPRSOUND_JSON, (
        Event(1.0, 1.6, "Wheeze"),          # CAS: inside the CAS segment 0.5-2.5 -> tp
        Event(4.0, 4.5, "Rhonchi"),         # CAS: no CAS segment -> fn
        Event(6.2, 7.0, "Wheeze+Crackle"),  # CAS and DAS: overlaps the DAS segment 6-8 (tp DAS) and nothing CAS (fn)
        Event(7.5, 8.5, "Fine Crackle"),    # DAS: same DAS segment, already used -> fn (one-to-one)
        Event(11.0, 12.0, "Coarse Crackle"),  # DAS: segment 12.5-14 starts 1.5 s later, overlaps nothing -> fn
        Event(2.0, 3.0, "Normal"),          # breath cycle: never scored even though it overlaps the CAS segment
        Event(25.0, 26.0, "Stridor"),       # after the 20-s recording: dropped
    ))
    tl = _timeline([Segment(0.5, 2.5, "CAS", 0.9), Segment(15.0, 16.0, "CAS", 0.7),
                    Segment(6.0, 8.0, "DAS", 0.8), Segment(12.5, 14.0, "DAS", 0.6)])
    ag = agreement(ref, tl, 20.0)
    got = {(c, t): (s.tp, s.fp, s.fn) for c in ag.scores for t, s in ag.scores[c].items()}
    assert got == {("overlap", "CAS"): (1, 1, 2), ("overlap", "DAS"): (1, 1, 2),
                   ("onset", "CAS"): (1, 1, 2),  # 1.0 vs 0.5: within the 1-s collar
                   ("onset", "DAS"): (1, 1, 2),  # 6.2 vs 6.0 matches; 12.5 vs 11.0 is 1.5 s off
                   ("onset_offset", "CAS"): (0, 2, 3),  # whole-second segments miss 0.2-s collars
                   ("onset_offset", "DAS"): (0, 2, 3)}
    cas = ag.score("CAS")
    assert (cas.precision, cas.recall) == (0.5, pytest.approx(1 / 3)) and cas.f1 == pytest.approx(0.4)
    assert ag.n_scored == 5 and ag.n_normal == 1 and ag.n_dropped == 1
    assert ag.notes == ("1 Normal (breath-cycle) event is not an adventitious sound and not scored",
                        "1 reference event after the recording's end (20.00 s) not scored")
    assert all(p.in_reference and p.in_timeline and p.agrees for p in ag.presence.values())
    assert list(ag.presence) == ["CAS", "DAS", "Adventitious"]
    rows = ag.rows({"CAS": "continuous"})
    assert len(rows) == 6 and rows[0]["what"] == "continuous" and rows[0]["precision"] == 0.5
    assert rows[-1]["criterion"] == "onset_offset" and rows[-1]["error rate"] == round(5 / 3, 3)
    assert json.loads(json.dumps(ag.to_dict()))["n_normal"] == 1


def test_onset_criterion_differs_from_overlap():
    ref = ReferenceAnnotation("r.csv", CSV, (Event(3.0, 6.0, "Wheeze"),))
    ag = agreement(ref, _timeline([Segment(5.0, 7.0, "CAS", 0.9)]), 20.0)
    assert (ag.score("CAS", "overlap").tp, ag.score("CAS", "onset").tp) == (1, 0)
    assert ag.score("CAS", "onset").fn == 1 and ag.score("CAS", "onset").fp == 1


def test_recording_level_presence_disagreement_and_undefined_scores():
    only_normal = ReferenceAnnotation("n.json", SPRSOUND_JSON, (Event(0.5, 2.0, "Normal"),), "Normal")
    ag = agreement(only_normal, _timeline([Segment(1.0, 3.0, "DAS", 0.7)]), 10.0)
    assert not ag.presence["DAS"].in_reference and ag.presence["DAS"].in_timeline and not ag.presence["DAS"].agrees
    assert ag.presence["CAS"].agrees and not ag.presence["Adventitious"].agrees
    assert (ag.score("DAS").tp, ag.score("DAS").fp, ag.score("DAS").fn) == (0, 1, 0)
    assert math.isnan(ag.score("CAS").precision) and math.isnan(ag.score("CAS").f1)
    assert ag.rows()[0]["precision"] is None
    class_only = ReferenceAnnotation("c.csv", CSV, (Event(1.0, 2.0, "CAS"),))
    ag = agreement(class_only, _timeline([]), 10.0)  # an event typed with the class name counts for that class
    assert ag.score("CAS").fn == 1 and ag.presence["Adventitious"].in_reference and not ag.presence["CAS"].agrees


def test_agreement_refuses_a_timeline_of_unknown_types():
    tl = Timeline((), 5.0, ("Cry",), {"Cry": 0.5})
    with pytest.raises(ValueError, match="not detector classes"):
        agreement(ReferenceAnnotation("r.csv", CSV, ()), tl, 5.0)


# ---------------------------------------------------------------- the figure


def _result(timeline: Timeline | None, duration: float = 10.0):
    """A stand-in AnalysisResult with what `spectrogram_with_track` reads."""
    starts = np.arange(0.0, duration - 1.0, 1.0)
    windows = [SimpleNamespace(index=i, start_s=s, end_s=s + 2.0, content_s=2.0) for i, s in enumerate(starts)]
    quality = [SimpleNamespace(usable=i != 2, reason=lambda: "too quiet") for i in range(len(starts))]
    spec = Spectrogram(np.linspace(0, duration, 50, dtype=np.float32), np.linspace(50, 4000, 16, dtype=np.float32),
                       np.full((16, 50), -40.0, np.float32))
    head = SimpleNamespace(name="detector", labels=("Adventitious", "CAS", "DAS"),
                           window_probs=np.full((len(starts), 3), 0.3))
    result = SimpleNamespace(spectrogram=spec, windows=windows, quality=quality, duration_s=duration,
                             timeline=timeline, class_names={"CAS": "continuous sounds"})
    return result, head


def test_figure_without_reference_is_unchanged():
    from ui.figures import spectrogram_with_track

    result, head = _result(_timeline([Segment(1.0, 3.0, "CAS", 0.8)], 10.0))
    fig = spectrogram_with_track(result, head)
    assert len(fig.layout.shapes) == 0 and "yaxis3" not in fig.layout.to_plotly_json()  # two rows, no lanes
    assert fig.layout.height == 460 and fig.layout.xaxis2.title.text == "time (s)"
    clickable = [t for t in fig.data if t.customdata is not None and t.type == "scatter"]
    assert len(clickable) == 1 and list(clickable[0].customdata) == list(range(len(result.windows)))


def test_figure_with_reference_draws_annotator_events_above_detected_segments():
    from ui.figures import DETECTED_COLOURS, REFERENCE_COLOURS, REFERENCE_LANE, spectrogram_with_track

    result, head = _result(_timeline([Segment(1.0, 3.0, "CAS", 0.8), Segment(6.0, 8.0, "DAS", 0.6)], 10.0))
    ref = ReferenceAnnotation("r.json", SPRSOUND_JSON, (Event(1.2, 2.9, "Wheeze"), Event(3.0, 4.5, "Normal"),
                                                        Event(6.5, 6.9, "Fine Crackle")), "CAS & DAS")
    fig = spectrogram_with_track(result, head, ref)
    shapes = {s.name: s for s in fig.layout.shapes}
    assert sorted(s.name for s in fig.layout.shapes) == ["detected: CAS", "detected: DAS", "reference: Fine Crackle",
                                                         "reference: Normal", "reference: Wheeze"]
    wheeze, cas = shapes["reference: Wheeze"], shapes["detected: CAS"]
    assert (wheeze.x0, wheeze.x1, cas.x0, cas.x1) == (1.2, 2.9, 1.0, 3.0)
    assert wheeze.xref == "x2" and wheeze.yref == "y2"  # the thin middle row, on the shared time axis
    assert wheeze.label.text == "Wheeze" and shapes["reference: Fine Crackle"].label.text == "FC"  # short bar
    assert shapes["reference: Normal"].label.text == ""  # breath cycles: grey context, no words
    assert wheeze.fillcolor == REFERENCE_COLOURS["Wheeze"] != REFERENCE_COLOURS["Fine Crackle"]
    assert cas.fillcolor == DETECTED_COLOURS["CAS"] and shapes["detected: DAS"].fillcolor == DETECTED_COLOURS["DAS"]
    assert wheeze.y0 > cas.y1 > shapes["detected: DAS"].y1  # the reference lane on top, then CAS, then DAS
    ticks = dict(zip(fig.layout.yaxis2.ticktext, fig.layout.yaxis2.tickvals))
    assert ticks[REFERENCE_LANE] > ticks["detected: CAS"] > ticks["detected: DAS"]
    assert any("FC = Fine Crackle" in a.text and "Normal breath cycle" in a.text for a in fig.layout.annotations)
    hover = {t.name: t for t in fig.data if t.yaxis == "y2"}
    assert "reference: Wheeze, 1.20-2.90 s" in hover[REFERENCE_LANE].hovertext
    assert "detected: continuous sounds, 1.0-3.0 s, p 0.80" in hover["detected: CAS"].hovertext
    # the window markers stay the only points carrying customdata: clicking a lane never plays a window
    clickable = [t for t in fig.data if t.customdata is not None and t.type == "scatter"]
    assert len(clickable) == 1 and clickable[0].name == "windows"
    assert all(t.customdata is None for t in hover.values())
    track = next(t for t in fig.data if t.name == "detector")
    assert track.yaxis == "y3" and fig.layout.xaxis3.title.text == "time (s)"


def test_figure_with_reference_but_no_timeline_or_events_says_so():
    from ui.figures import spectrogram_with_track

    result, head = _result(None)
    fig = spectrogram_with_track(result, head, ReferenceAnnotation("e.csv", CSV, ()))
    assert len(fig.layout.shapes) == 0
    texts = [a.text for a in fig.layout.annotations]
    assert "no events annotated" in texts and "no event timeline for this task" in texts
    result, head = _result(_timeline([], 10.0))
    fig = spectrogram_with_track(result, head, ReferenceAnnotation("w.csv", CSV, (Event(1, 2, "Stridor"),)))
    assert [s.name for s in fig.layout.shapes] == ["reference: Stridor"]
    assert [a.text for a in fig.layout.annotations].count("none detected") == 2


def test_real_recording_with_its_annotation_end_to_end():
    """The shipped respiratory detector on a real SPRSound recording, its own JSON as the reference."""
    from core.answers.analyzer import Analyzer
    from ui.figures import spectrogram_with_track

    stem = "40969263_4.0_0_p2_2067"
    audio = data_path("sprsound", "BioCAS2022", "train2022_flac", f"{stem}.flac")
    js = data_path("sprsound", "BioCAS2022", "train2022_json", f"{stem}.json")
    result = Analyzer("respiratory", "acoustic").analyze(audio.read_bytes(), name=stem)
    assert result.timeline is not None
    ref = parse_reference(js.name, js.read_bytes(), result.duration_s)
    ag = agreement(ref, result.timeline, result.duration_s)
    for crit in ("overlap", "onset"):
        for t in RESP_TIMELINE_TYPES:
            s = ag.score(t, crit)
            assert s.tp + s.fn == sum(1 for e in ref.adventitious if e.type in class_coverage()[t])
            assert s.tp + s.fp == len(result.timeline.of(t))
    assert ag.n_normal == 2 and ag.presence["Adventitious"].in_reference
    head = next(h for h in result.heads.values() if h.window_probs is not None)
    fig = spectrogram_with_track(result, head, ref)
    names = [s.name for s in fig.layout.shapes]
    assert names.count("reference: Normal") == 2 and "reference: Wheeze+Crackle" in names
    assert sum(n.startswith("detected: ") for n in names) == len(result.timeline.segments)


def test_sound_event_detection_collars_and_error_rate():
    """sed_eval's event-based rule (DESED collars): onset within 0.2 s and offset within max(0.2 s, 20 % of the
    event); error rate = (deletions + insertions) / reference events, undefined without references."""
    import math

    from core.decisions.timeline import Segment
    from core.evaluation.events import error_rate, match
    from core.windows.labels import Event

    refs = [Event(1.0, 2.0, "Wheeze"), Event(5.0, 9.0, "Wheeze")]
    near = [Segment(1.1, 2.15, "CAS", 0.9), Segment(5.1, 9.7, "CAS", 0.8)]  # second offset within 20 % of 4 s
    c = match(refs, near, "onset_offset")
    assert (c.tp, c.fp, c.fn) == (2, 0, 0) and error_rate(c) == 0.0
    coarse = [Segment(0.0, 3.0, "CAS", 0.9), Segment(4.0, 10.0, "CAS", 0.8)]  # a 1-s timeline's segments
    c = match(refs, coarse, "onset_offset")
    assert (c.tp, c.fp, c.fn) == (0, 2, 2) and error_rate(c) == 2.0
    assert match(refs, coarse, "overlap").tp == 2  # the same segments do overlap the events
    assert math.isnan(error_rate(match([], coarse, "onset_offset")))
