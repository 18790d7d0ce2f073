"""One child, several chest sites: the per-site recording answers combined into one answer for the child.

The child-level rule has no fitted knob, so nothing is chosen on the figures it is quoted with: it was fixed
before looking ("any site positive", the usual screening reading of an auscultation: one site with adventitious
sounds makes the examination positive). A site whose recording gives no answer (too short, too quiet, poor
quality) does not vote, and a child with no answering site gets no answer. Its sensitivity and specificity are
measured per child (`core.evaluation.examination`) on the nested patient-grouped predictions, never per recording.

SPRSound names its sites p1-p4; the paper's convention is p1 left posterior, p2 left lateral, p3 right posterior,
p4 right lateral (the diagram on the Examination page follows it).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Sequence

from core.audio.filenames import recording_stem
from core.data.datasets import SPR_NAME

SITES = ("p1", "p2", "p3", "p4")
SITE_NAMES = {"p1": "left posterior", "p2": "left lateral", "p3": "right posterior", "p4": "right lateral"}
SITE_UNKNOWN = "unknown"
#: the shipped child-level rule, and the one it is compared with (neither is chosen on data)
RULES = {
    "any_site": "positive when at least one answering site is positive",
    "two_sites": "positive when at least two answering sites are positive",
}
SHIPPED_RULE = "any_site"
_SITE = re.compile(r"(?:^|[^a-z0-9])(p[1-4])(?:[^a-z0-9]|$)", re.IGNORECASE)


@dataclass(frozen=True)
class NameInfo:
    """What a recording's file name says about its child and chest site (SPRSound naming, or a bare `p1`..`p4`)."""

    site: str = SITE_UNKNOWN
    child: str = ""
    age: str = ""
    recording: int | None = None


def name_info(name: str) -> NameInfo:
    stem = recording_stem(name)
    m = SPR_NAME.match(stem)
    if m:
        return NameInfo(m["loc"], m["patient"], m["age"], int(m["rec"]))
    m = _SITE.search(stem)
    return NameInfo(site=m.group(1).lower() if m else SITE_UNKNOWN)


def child_positive(site_answers: Sequence[bool | None], rule: str = SHIPPED_RULE) -> bool | None:
    """The child's answer from its sites' answers (None: that site gave no answer). None when no site answered."""
    votes = [bool(a) for a in site_answers if a is not None]
    if not votes:
        return None
    need = 1 if rule == "any_site" else 2 if rule == "two_sites" else None
    if need is None:
        raise ValueError(f"unknown child-level rule {rule!r}; choose from {sorted(RULES)}")
    return sum(votes) >= need


@dataclass(frozen=True)
class SiteAnswer:
    """One recording of the examination: its site, and the recording-level answers (None: no answer)."""

    name: str
    site: str
    visit: str
    answers: dict[str, bool | None]  # answer key (screen, asthma) -> decided positive
    probabilities: dict[str, float | None]
    reason: str = ""  # why no answer, when there is none


@dataclass(frozen=True)
class ChildSummary:
    visit: str
    answers: dict[str, bool | None]  # answer key -> the child's answer under the shipped rule
    positive_sites: dict[str, list[str]]  # answer key -> sites positive
    answering: int
    recordings: int
    duplicate_sites: list[str] = field(default_factory=list)
    rule: str = SHIPPED_RULE

    def text(self, key: str, words: tuple[str, str]) -> str:
        """`words` = (negative, positive) for the answer."""
        a = self.answers.get(key)
        if a is None:
            return "no answer: no site gave one"
        sites = ", ".join(self.positive_sites.get(key) or [])
        return words[int(a)] + (f" (at {sites})" if a else "")


def summarise(sites: Sequence[SiteAnswer], keys: Sequence[str], rule: str = SHIPPED_RULE) -> list[ChildSummary]:
    """One summary per visit, in the order visits first appear."""
    out = []
    for visit in dict.fromkeys(s.visit for s in sites):
        mine = [s for s in sites if s.visit == visit]
        answers = {k: child_positive([s.answers.get(k) for s in mine], rule) for k in keys}
        positive = {k: [s.site for s in mine if s.answers.get(k)] for k in keys}
        seen: dict[str, int] = {}
        for s in mine:
            seen[s.site] = seen.get(s.site, 0) + 1
        out.append(ChildSummary(visit, answers, positive, sum(1 for s in mine if any(
            s.answers.get(k) is not None for k in keys)), len(mine),
            sorted(k for k, n in seen.items() if n > 1 and k != SITE_UNKNOWN), rule))
    return out


@dataclass(frozen=True)
class ExamRecording:
    """One recording handed to an examination: its bytes stay with the caller's session, never on disk."""

    name: str
    data: bytes
    site: str = SITE_UNKNOWN
    visit: str = "visit 1"


@dataclass(frozen=True)
class Examination:
    sites: list[SiteAnswer]
    results: list  # AnalysisResult per site (None where the file could not be analysed)
    summaries: list[ChildSummary]
    keys: tuple[str, ...]
    titles: dict[str, tuple[str, str, str]]  # answer key -> (title, negative words, positive words)
    validated: dict  # the recording model's meta["examination"]: the rule's figures per child, with the split


def default_visits(names: Sequence[str]) -> list[str]:
    """A first guess at visits: the k-th recording of a site (in SPRSound recording-number order) is visit k."""
    infos = [name_info(n) for n in names]
    order = sorted(range(len(names)), key=lambda i: (infos[i].recording is None, infos[i].recording or 0, i))
    seen: dict[str, int] = {}
    visit = [""] * len(names)
    for i in order:
        seen[infos[i].site] = seen.get(infos[i].site, 0) + 1
        visit[i] = f"visit {seen[infos[i].site] if infos[i].site != SITE_UNKNOWN else 1}"
    return visit


def site_answer(result, rec: ExamRecording, keys: Sequence[str]) -> SiteAnswer:
    """A recording's answers as one site of the examination (None where it gives none, with the reason)."""
    got, probs, why = {}, {}, ""
    for k in keys:
        h = result.heads.get(k)
        if h is None or h.verdict.abstained:
            got[k], probs[k] = None, None
            why = why or (h.verdict.reason if h is not None else "no answer")
        else:
            got[k] = h.verdict.label == h.positive
            probs[k] = h.verdict.probabilities[h.positive]
    return SiteAnswer(rec.name, rec.site, rec.visit, got, probs, why)


def examine(analyzer, recordings: Sequence[ExamRecording], rule: str = SHIPPED_RULE,
            cache: dict | None = None) -> Examination:
    """Analyse each recording with the respiratory recording model and combine the sites per visit. A file that
    cannot be analysed becomes a site with no answer and its reason (it never stops the others). `cache` (content
    hash -> result or error text, e.g. the user's session) spares re-analysing when only a site or visit changes;
    it keeps only this examination's entries, so a session holds one examination's analyses at a time."""
    from core.audio.decode import AudioDecodeError

    art = analyzer.heads.get(analyzer.task.main_head)
    answers = (art.meta.get("answers") if art is not None else None) or {}
    if not answers:
        raise ValueError("An examination needs the respiratory recording model (its recording-level answers).")
    keys = tuple(answers)
    titles = {k: (a["title"], a["negative"], a["positive"]) for k, a in answers.items()}
    cache = {} if cache is None else cache
    sites, results, used = [], [], set()
    for rec in recordings:
        key = (hashlib.blake2b(rec.data, digest_size=16).hexdigest(), rec.name)
        used.add(key)
        if key not in cache:
            try:
                cache[key] = analyzer.analyze(rec.data, name=rec.name)
            except AudioDecodeError as exc:
                cache[key] = f"cannot analyse this file: {exc}"
        r = cache[key]
        if isinstance(r, str):
            sites.append(SiteAnswer(rec.name, rec.site, rec.visit, {k: None for k in keys},
                                    {k: None for k in keys}, r))
            results.append(None)
        else:
            sites.append(site_answer(r, rec, keys))
            results.append(r)
    for stale in [k for k in cache if k not in used]:
        del cache[stale]
    return Examination(sites, results, summarise(sites, keys, rule), keys, titles,
                       art.meta.get("examination") or {})
