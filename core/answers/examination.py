"""One child, several chest sites: the per-site recording answers combined into one answer for the child.

The child-level rule lives in `core.decisions.child` (shared with training, which fits and validates it per
child): the answering sites' probabilities are pooled and compared with a threshold chosen on other children. The
fixed "any site" rule is computed beside it for comparison only. A site whose recording gives no answer (too short,
too quiet, poor quality) does not vote, and a child with no answering site gets no answer.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Sequence

from core.decisions.child import (FITTED_RULE, RULES, SHIPPED_RULE, SITE_NAMES, SITE_UNKNOWN, SITES, ChildRule,
                                  NameInfo, child_positive, name_info)

__all__ = ["RULES", "SHIPPED_RULE", "SITE_NAMES", "SITE_UNKNOWN", "SITES", "NameInfo", "name_info", "ChildRule",
           "SiteAnswer", "ChildSummary", "ExamRecording", "Examination", "problems", "site_answer", "examine",
           "summarise", "child_rules", "rule_words"]


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
    answers: dict[str, bool | None]  # answer key -> the child's answer under the shipped (fitted) rule
    positive_sites: dict[str, list[str]]  # answer key -> sites whose own recording answer is positive
    answering: int
    recordings: int
    duplicate_sites: list[str] = field(default_factory=list)
    rule: str = SHIPPED_RULE
    scores: dict[str, float | None] = field(default_factory=dict)  # answer key -> the pooled site probability
    any_site: dict[str, bool | None] = field(default_factory=dict)  # answer key -> "any site positive" (comparison)

    def text(self, key: str, words: tuple[str, str]) -> str:
        """`words` = (negative, positive) for the answer."""
        a = self.answers.get(key)
        if a is None:
            return "no answer: no site gave one"
        score = self.scores.get(key)
        if score is not None:  # the fitted rule answers from the pooled sites, not from site votes
            return f"{words[int(a)]} (child score {score:.0%})"
        sites = ", ".join(self.positive_sites.get(key) or [])
        return words[int(a)] + (f" (positive sites: {sites})" if sites else "")


def summarise(sites: Sequence[SiteAnswer], keys: Sequence[str], rules: dict[str, ChildRule] | None = None,
              requires: dict[str, str] | None = None) -> list[ChildSummary]:
    """One summary per visit, in the order visits first appear. With `rules` (answer key -> fitted child rule) the
    child's answer is the fitted one; an answer in `requires` (continuous -> screen) is positive only when the
    answer it requires is, so the child's answers never contradict each other. Without rules (an older model) the
    fixed "any site" rule answers."""
    rules = rules or {}
    requires = requires or {}
    out = []
    for visit in dict.fromkeys(s.visit for s in sites):
        mine = [s for s in sites if s.visit == visit]
        anysite = {k: child_positive([s.answers.get(k) for s in mine], "any_site") for k in keys}
        scores, answers = {}, {}
        for k in keys:
            rule = rules.get(k)
            probs = [s.probabilities.get(k) if s.answers.get(k) is not None else None for s in mine]
            scores[k] = rule.score(probs) if rule is not None else None
            answers[k] = rule.decide(probs) if rule is not None else anysite[k]
        for k, dep in requires.items():
            if answers.get(k) and answers.get(dep) is False:
                answers[k] = False
        positive = {k: [s.site for s in mine if s.answers.get(k)] for k in keys}
        seen: dict[str, int] = {}
        for s in mine:
            seen[s.site] = seen.get(s.site, 0) + 1
        out.append(ChildSummary(visit, answers, positive, sum(1 for s in mine if any(
            s.answers.get(k) is not None for k in keys)), len(mine),
            sorted(k for k, n in seen.items() if n > 1 and k != SITE_UNKNOWN),
            FITTED_RULE if rules else "any_site", scores, anysite))
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
    #: why the files cannot be one child's examination (several children by name, audio of another kind): while
    #: there is any, no child answer is given on any surface
    problems: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        return not self.problems

    def to_dict(self, reports: Sequence[dict | None], clinician: dict[str, str] | None = None) -> dict:
        """The examination as the JSON download: the child's answers per visit (none while `problems` stand),
        the rule and its per-child validation, and every site with its own analysis report."""
        return {
            "rule": SHIPPED_RULE, "rule_text": rule_words(self.validated), "clinician": clinician or {},
            "validated": self.validated, "problems": list(self.problems),
            "visits": [{"visit": s.visit, "answers": s.answers if self.answerable else None,
                        "pooled_probability": s.scores if self.answerable else None,
                        "any_site_positive (comparison)": s.any_site, "positive_sites": s.positive_sites,
                        "answering": s.answering, "recordings": s.recordings} for s in self.summaries],
            "sites": [{"site": s.site, "visit": s.visit, "name": s.name, "answers": s.answers,
                       "probabilities": s.probabilities, "reason": s.reason, "analysis": rep}
                      for s, rep in zip(self.sites, reports)]}


def problems(names: Sequence[str], results: Sequence) -> tuple[str, ...]:
    """What stops these files being one child's examination: file names of several children, or a recording the
    input check refused (a cry, speech…). Each in words, with what to do."""
    out = []
    children = sorted({i.child for i in map(name_info, names) if i.child})
    if len(children) > 1:
        out.append(f"The file names belong to {len(children)} different children ({', '.join(children)}); an "
                   "examination is one child. Remove the other children's recordings, or use the Batch page.")
    wrong = [n for n, r in zip(names, results) if r is not None and getattr(r, "refused", False)]
    if wrong:
        out.append(f"{', '.join(wrong)} {'does' if len(wrong) == 1 else 'do'} not sound like chest auscultation "
                   "(input check). Remove them: an examination combines chest recordings only.")
    return tuple(out)


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


def child_rules(meta: dict) -> tuple[dict[str, ChildRule], dict[str, str]]:
    """The recording model's fitted child-level rules (answer key -> rule) and which answer requires which."""
    ex = meta.get("examination") or {}
    rules = {k: ChildRule.from_dict(d) for k, d in (ex.get("rules") or {}).items()}
    requires = {k: a["requires"] for k, a in (meta.get("answers") or {}).items() if a.get("requires")}
    return rules, requires


def with_profile(validated: dict, rules: dict[str, ChildRule], profile) -> tuple[dict, dict[str, ChildRule]]:
    """The child-level rules and their figures as a calibration profile sets them: its thresholds (the shipped
    pooling) and its local per-child figures; an answer the profile left alone keeps the shipped rule and figures."""
    if profile is None or not profile.child:
        return validated, rules
    rules = dict(rules)
    out = {**validated, "rules": dict(validated.get("rules") or {}), "validated": dict(validated.get("validated") or {}),
           "profile": profile.name, "profile_target": profile.target.get("text", ""), "by_period": {}}
    for key, c in profile.child.items():
        rules[key] = ChildRule(c.pooling, c.threshold)
        out["rules"][key] = rules[key].to_dict()
        f = (c.figures or {}).get("after") or {}
        if f.get("sensitivity") is not None:
            out["validated"][key] = {
                "split": f"{f['split']} (profile '{profile.name}')", "n_children": f.get("people"),
                "n_examinations": f.get("positives", 0) + f.get("negatives", 0),
                "selection_text": "earliest recording of each chest site", "sensitivity": f["sensitivity"],
                "sensitivity_ci": f.get("sensitivity_ci"), "specificity": f["specificity"],
                "specificity_ci": f.get("specificity_ci")}
    return out, rules


def rule_words(validated: dict) -> str:
    """The child-level rule in use, in words (from the recording model's meta["examination"], or as a calibration
    profile set it: `with_profile`)."""
    rules = validated.get("rules") or {}
    if not rules:
        return f"{RULES['any_site']} (this model predates fitted child-level rules)"
    if validated.get("profile"):
        return ("; ".join(f"{'continuous sounds' if k == 'continuous' else 'adventitious sounds'}: {r['text']}"
                          for k, r in rules.items())
                + f". Thresholds from calibration profile '{validated['profile']}' "
                f"({validated.get('profile_target', '')}) on its local children, the shipped pooling kept; a site "
                "without an answer does not vote; continuous sounds need the adventitious answer positive")
    return ("; ".join(f"{'continuous sounds' if k == 'continuous' else 'adventitious sounds'}: {r['text']}"
                      for k, r in rules.items())
            + ". Pooling and threshold were chosen per child on other children (sensitivity >= "
            f"{next(iter(rules.values())).get('target_sensitivity', 0.85):.2f} on their out-of-fold examinations); "
            "a site without an answer does not vote; continuous sounds need the adventitious answer positive")


def examine(analyzer, recordings: Sequence[ExamRecording], cache: dict | None = None) -> Examination:
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
    rules, requires = child_rules(art.meta)
    validated, rules = with_profile(art.meta.get("examination") or {}, rules, getattr(analyzer, "calibration", None))
    return Examination(sites, results, summarise(sites, keys, rules, requires), keys, titles,
                       validated, problems([r.name for r in recordings], results))
