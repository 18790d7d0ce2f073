"""One decision, every surface: the same recordings through the analysis, its JSON report, the PDF's answer lines,
the batch row and the examination site give the same answer to every question (issue 24, item 2)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import DATA
from tests.helpers import cry_like, encode, noise


def _recordings() -> list[tuple[str, bytes]]:
    out = [("cry.wav", encode(cry_like(6.0, f0=480, seed=1), 16000, "WAV", "PCM_16")),
           ("breath.wav", encode(noise(8.0, amp=0.02, seed=3), 16000, "WAV", "PCM_16")),
           ("silence.wav", encode(np.zeros(16000 * 4, np.float32), 16000, "WAV", "PCM_16"))]
    folder = DATA / "sprsound" / "BioCAS2022" / "test2022_intra_flac"
    if folder.is_dir():  # real recordings with different answers: normal, adventitious, continuous
        names = {json.loads(p.read_text())["record_annotation"]: p.stem
                 for p in sorted((DATA / "sprsound" / "BioCAS2022" / "test2022_intra_json").glob("*.json"))}
        out += [(f"{stem}.flac", (folder / f"{stem}.flac").read_bytes()) for stem in names.values()]
    return out


@pytest.fixture(scope="module")
def analyzer():
    from core.answers.analyzer import Analyzer

    return Analyzer("respiratory", "acoustic")


def test_every_surface_gives_the_same_answers(analyzer):
    from core.answers.examination import ExamRecording, examine
    from core.reports.batch import BatchItem, analyze_batch, answer_column
    from core.reports.pdf import answer_lines

    recs = _recordings()
    rows = {r.file: r for r in analyze_batch(analyzer, [BatchItem(n, data=d) for n, d in recs])}
    exam = examine(analyzer, [ExamRecording(n, d, site="p1", visit=f"visit {i}") for i, (n, d) in enumerate(recs)])
    sites = {s.name: s for s in exam.sites}
    keys = tuple(analyzer.heads["recording"].meta["answers"])
    for name, data in recs:
        r = analyzer.analyze(data, name=name)
        report = json.loads(json.dumps(analyzer.report(r), default=str))
        lines = {title: answer for title, answer, _ in answer_lines(r, analyzer.report(r))}
        for key in keys:
            h = r.heads[key]
            v = h.verdict
            expected = None if v.abstained else v.label
            assert report["verdicts"][key]["label"] == expected, (name, key, "JSON")
            assert rows[name].answers[answer_column(h)] == (f"no answer: {v.reason}" if v.abstained else v.label)
            site = sites[name].answers[key]
            assert site == (None if v.abstained else v.label == h.positive), (name, key, "examination")
            if h.title in lines:
                assert lines[h.title].startswith(f"No answer: {v.reason}" if v.abstained else f"{v.label} "), \
                    (name, key, "PDF")
        # the continuous-sound answer never contradicts the screen it requires, on any surface
        screen, cont = r.heads["screen"].verdict, r.heads["continuous"].verdict
        if not screen.abstained and screen.label != r.heads["screen"].positive:
            assert cont.label != r.heads["continuous"].positive
        assert rows[name].verdict == (f"no verdict: {r.verdict.reason}" if r.verdict.abstained else r.verdict.label)


def test_the_analyze_page_shows_the_same_answers(analyzer):
    """The page's verdict and its continuous-sound box read the analysis's own decisions (once, the box applied
    its threshold by itself and said "positive" where the answer it requires was negative)."""
    from tests.helpers import ready_app

    at = ready_app(120)
    for name, data in _recordings():
        at.file_uploader(key="upload").set_value((name, data, "audio/wav")).run()
        assert not at.exception
        r = analyzer.analyze(data, name=name)
        metrics = {m.label: m.value for m in at.metric}
        if r.verdict.abstained:
            assert "Verdict" not in metrics
            shown = " ".join(x.value for x in [*at.warning, *at.error])
            assert r.verdict.reason[1:40] in shown, name
            continue
        assert metrics["Verdict"] == r.verdict.label, name
        cont = r.heads["continuous"]
        if not cont.verdict.abstained:
            assert metrics["Screen"] == ("positive" if cont.verdict.label == cont.positive else "negative"), name
