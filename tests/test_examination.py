"""Examination of one child: sites from names, the child-level rule, its per-child scoring, the report."""
import json

import numpy as np
import pytest

from core.answers.analyzer import Analyzer
from core.answers.examination import (ExamRecording, child_positive, default_visits, examine, name_info,
                                      summarise, SiteAnswer)
from core.config import PROJECT_ROOT
from core.decisions.child import ChildRule
from core.evaluation.examination import child_level
from tests.helpers import encode, noise

POS = ("CAS", "DAS", "CAS & DAS")


def test_sites_and_children_come_from_names_and_the_age_dot_is_not_an_extension():
    assert name_info("41112159_4.9_1_p1_153.flac") == name_info("zip.zip/x/41112159_4.9_1_p1_153")
    i = name_info("41112159_4.9_1_p3_153")
    assert (i.site, i.child, i.age, i.recording) == ("p3", "41112159", "4.9", 153)
    assert name_info("anna_back_P4.wav").site == "p4" and name_info("anna.wav").site == "unknown"
    assert name_info("p12_notes.wav").site == "unknown"  # p12 is not a site
    assert default_visits(["1_1.0_0_p1_5", "1_1.0_0_p1_2", "1_1.0_0_p2_3"]) == ["visit 2", "visit 1", "visit 1"]


def test_the_child_rule_ignores_sites_without_an_answer():
    assert child_positive([False, None, True], "any_site") is True
    assert child_positive([False, None, False], "any_site") is False
    assert child_positive([None, None], "any_site") is None
    assert child_positive([True, False], "two_sites") is False and child_positive([True, True], "two_sites")
    with pytest.raises(ValueError, match="not a fixed site-vote rule"):
        child_positive([True], "majority")
    sites = [SiteAnswer("a", "p1", "v1", {"screen": True}, {"screen": 0.9}),
             SiteAnswer("b", "p1", "v1", {"screen": False}, {"screen": 0.1}),
             SiteAnswer("c", "p2", "v2", {"screen": None}, {"screen": None}, "too quiet")]
    v1, v2 = summarise(sites, ["screen"])  # no fitted rule (an older model): "any site"
    assert v1.answers == {"screen": True} and v1.positive_sites == {"screen": ["p1"]} and v1.duplicate_sites == ["p1"]
    assert v1.rule == "any_site"
    assert v2.answers == {"screen": None} and v2.answering == 0
    assert v2.text("screen", ("none", "present")) == "no answer: no site gave one"


def test_the_fitted_child_rule_pools_site_probabilities_and_the_continuous_answer_needs_the_screen():
    rules = {"screen": ChildRule("max", 0.5), "continuous": ChildRule("mean", 0.2)}
    sites = [SiteAnswer("a", "p1", "v1", {"screen": False, "continuous": False}, {"screen": 0.45, "continuous": 0.3}),
             SiteAnswer("b", "p2", "v1", {"screen": False, "continuous": False}, {"screen": 0.3, "continuous": 0.25}),
             SiteAnswer("c", "p1", "v2", {"screen": True, "continuous": False}, {"screen": 0.7, "continuous": 0.1}),
             SiteAnswer("d", "p3", "v2", {"screen": None, "continuous": None}, {"screen": None, "continuous": None})]
    v1, v2 = summarise(sites, ["screen", "continuous"], rules, {"continuous": "screen"})
    # visit 1: the highest site (0.45) under 0.5 -> negative, so continuous (mean 0.275 >= 0.2) follows it
    assert v1.answers == {"screen": False, "continuous": False} and v1.scores["screen"] == pytest.approx(0.45)
    assert v1.any_site == {"screen": False, "continuous": False} and v1.rule == "fitted"
    # visit 2: the silent site does not vote; 0.7 >= 0.5 -> positive; continuous mean 0.1 < 0.2 -> negative
    assert v2.answers == {"screen": True, "continuous": False} and v2.answering == 1
    assert v2.text("screen", ("none", "present")) == "present (child score 70%)"


def _rows(truth_pos: list[bool], called: list[list[bool]]) -> list[dict]:
    rows = []
    for c, (pos, calls) in enumerate(zip(truth_pos, called)):
        for s, call in enumerate(calls):
            rows.append({"uid": f"{100 + c}_3.0_0_p{s + 1}_{10 * c + s}", "patient": str(100 + c), "visit": "earlier",
                         "site": f"p{s + 1}", "rec": 10 * c + s, "label": "CAS" if pos and s == 0 else "Normal",
                         "poor": False, "p_screen": 0.9 if call else 0.1, "screen": bool(call)})
    return rows


def test_child_level_figures_are_counted_per_child_not_per_recording():
    # 12 positive children (the first site annotated CAS) and 12 negative ones, four sites each
    truth = [True] * 12 + [False] * 12
    calls = [[True, False, False, False]] * 9 + [[False] * 4] * 3 + [[False, True, False, False]] * 3 \
        + [[False] * 4] * 9
    ev = child_level(_rows(truth, calls), "screen", POS, split="synthetic", rule="any_site")
    assert ev["n_children"] == 24 and ev["n_positive"] == 12
    assert ev["sensitivity"] == pytest.approx(9 / 12) and ev["specificity"] == pytest.approx(9 / 12)
    assert ev["sensitivity_ci"] is not None  # 24 children: enough for an interval
    two = child_level(_rows(truth, calls), "screen", POS, split="synthetic", rule="two_sites")
    assert two["sensitivity"] == 0.0 and two["specificity"] == 1.0
    small = child_level(_rows(truth[:4] + truth[-4:], calls[:4] + calls[-4:]), "screen", POS, split="s",
                        rule="any_site")
    fitted = child_level(_rows(truth, calls), "screen", POS, split="synthetic", rule="fitted",
                         rules_of=lambda row: {"screen": ChildRule("max", 0.5)})
    assert fitted["sensitivity"] == pytest.approx(9 / 12) and fitted["n_examinations"] == 24
    assert small["sensitivity_ci"] is None  # 8 children: no interval


def test_an_examination_of_generated_recordings_and_its_report(tmp_path):
    an = Analyzer("respiratory")
    recs = [ExamRecording(f"child_p{s}.wav", encode(noise(6.0, sr=8000, amp=0.02, seed=s), 8000, "WAV", "PCM_16"),
                          f"p{s}", "visit 1") for s in (1, 2, 3)]
    recs.append(ExamRecording("child_p4.wav", b"not audio at all" * 50, "p4", "visit 1"))
    recs.append(ExamRecording("later_p1.wav", recs[0].data, "p1", "visit 2"))
    cache: dict = {}
    exam = examine(an, recs, cache=cache)
    assert [s.site for s in exam.sites] == ["p1", "p2", "p3", "p4", "p1"] and exam.results[3] is None
    assert "cannot analyse this file" in exam.sites[3].reason and exam.sites[3].answers["screen"] is None
    assert [s.visit for s in exam.summaries] == ["visit 1", "visit 2"] and exam.summaries[0].recordings == 4
    for s, r in zip(exam.sites, exam.results):
        if r is not None:
            assert s.answers["screen"] == (r.heads["screen"].verdict.label == r.heads["screen"].positive) \
                or r.heads["screen"].verdict.abstained
    assert len(cache) == 5  # one entry per (audio, name): a site or visit change re-analyses nothing
    from core.reports.pdf import examination_pdf

    pdf = examination_pdf(exam, [an.report(r) if r else None for r in exam.results], {"patient_ref": "C-7"})
    assert pdf.startswith(b"%PDF")
    pages = int(pdf.split(b"/Count ")[1].split(b"/")[0].split(b">")[0].strip())
    assert 1 <= pages <= 3


def test_the_shipped_model_carries_its_child_level_validation():
    meta = json.loads((PROJECT_ROOT / "trained/respiratory/acoustic/recording/meta.json").read_text())
    ex = meta["examination"]
    assert ex["rule"] == "fitted" and set(ex["rules"]) == {"screen", "continuous"}
    for key in ("screen", "continuous"):
        v = ex["validated"][key]
        assert "nested patient-grouped" in v["split"] and v["n_children"] >= 200 and v["rule"] == "fitted"
        assert v["sensitivity_ci"] is not None and v["specificity_ci"] is not None
        assert ex["by_period"]["later"][key]["n_children"] >= 100
        assert ex["any_site"][key]["rule"] == "any_site"  # the comparison row is kept beside it
