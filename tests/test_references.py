"""Reference cries: the map and its artefact, the nested protocol (the spy), the API, the CLI, the batch rows and
the refusal of bad references, on generated cries (the input check set aside, see `tests.helpers.heads_only`) and,
where ../shared/data is beside the repo, on real cries of one infant with the input check on."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.heads.artifacts import ArtifactError
from core.heads.training import Design
from core.references.model import REFERENCE_FILE, ReferenceMap, ReferenceSet
from core.references.train import draw_references, nested_validation, reference_table
from tests.conftest import DATA
from tests.helpers import cry_like, encode, heads_only

ROOT = Path(__file__).resolve().parent.parent
CRY_PAIN = DATA / "cry_pain"


def _toy(seed: int = 0, people: int = 12) -> Design:
    """Per-person offsets larger than the pain effect: pain ranks within a person, not across people."""
    rng = np.random.default_rng(seed)
    X, y, su, uy, ug = [], [], [], [], []
    u = 0
    for p in range(people):
        offset = rng.normal(0, 3.0, 4)
        for lab, n in ((0, 6), (1, 3)):
            for _ in range(n):
                for _w in range(3):
                    X.append(offset + lab * np.r_[1.5, 0, 0, 0] + rng.normal(0, 0.5, 4))
                    y.append(lab)
                    su.append(u)
                uy.append(lab)
                ug.append(f"p{p}")
                u += 1
    return Design(np.asarray(X), np.asarray(y), np.asarray(su), np.asarray(uy), np.asarray(ug), u)


def test_references_are_drawn_from_the_persons_negative_units_only():
    d = _toy()
    draws = draw_references(d, np.arange(d.n_units), 2, 3, np.random.default_rng(0))
    assert len(draws) == 12 * 3
    for dr in draws:
        assert len(dr.refs) == 2 and (d.unit_y[dr.refs] == 0).all()
        assert set(d.unit_groups[dr.refs]) == {dr.group} == set(d.unit_groups[dr.scored])
        assert not set(dr.refs) & set(dr.scored) and len(dr.refs) + len(dr.scored) == 9


def test_nested_protocol_never_fits_on_the_scored_person_and_references_help_when_people_differ():
    d = _toy()
    audit: list = []
    with_refs = nested_validation(d, "logreg", 2, "learned", n_draws=3, audit=audit)
    assert len(audit) == 12
    for chose, scored in audit:  # the spy: the scored person is never among those the map was fitted on
        assert len(scored) == 1 and not chose & scored and len(chose) == 11
    without = nested_validation(d, "logreg", 1, "none", n_draws=1)
    assert with_refs["auc"]["mean"] > without["auc"]["mean"] + 0.05
    # every person is scored in every draw, references excluded: 9 units - 2 references
    assert with_refs["scored_per_draw"] == 12 * 7
    assert set(with_refs["per_person"]) == {f"p{i}" for i in range(12)}


def _map(sha: str = "abc") -> ReferenceMap:
    fig = {"sensitivity": 0.9, "sensitivity_ci": [0.8, 0.95], "specificity": 0.94, "specificity_ci": [0.9, 0.97],
           "auc": 0.97, "validated_on": "nested leave-one-infant-out with 2 reference cries"}
    return ReferenceMap("pain", "pain", "discomfort", {1: (1.0, -0.5, 0.0), 2: (1.0, -0.8, 0.1)},
                        {1: 0.4, 2: 0.35}, {1: fig, 2: fig}, sha)


def test_reference_map_round_trip_caps_k_and_refuses_another_head_version(tmp_path):
    m = _map()
    again = ReferenceMap.from_dict(json.loads(json.dumps(m.to_dict())))
    assert again == m
    assert m.k_map(5) == 2 and m.threshold(7) == 0.35
    p = m.probability(np.array([-1.0, 0.0, 2.0]), 0.5, 2)
    assert np.all(np.diff(p) > 0) and np.all((p > 0) & (p < 1))
    assert m.probability(1.0, 2.0, 2) < m.probability(1.0, -2.0, 2)  # a higher reference level lowers P(pain)
    with pytest.raises(ValueError):
        m.k_map(0)

    class Head:
        meta = {"sha256": {"model.skops": "other"}}

    (tmp_path / REFERENCE_FILE).write_text(json.dumps(m.to_dict()))
    with pytest.raises(ArtifactError, match="another version"):
        ReferenceMap.load(tmp_path, Head())
    Head.meta = {"sha256": {"model.skops": "abc"}}
    assert ReferenceMap.load(tmp_path, Head()) == m


def test_the_shipped_map_matches_the_shipped_pain_head_and_quotes_figures_with_references():
    from core.answers.analyzer import Analyzer

    an = Analyzer("cry", "acoustic")
    assert an.reference_map is not None, an.missing
    for k in (1, 2, 3):
        fig = an.reference_map.validated(k)
        assert fig["validated_on"].startswith("nested leave-one-infant-out") and f"{k} reference" in fig["validated_on"]
    text = reference_table(json.loads((ROOT / "trained/cry/acoustic/pain" / REFERENCE_FILE).read_text()))
    assert "without references" in text and "**shipped**" in text


def _cry(seed: int, f0: float = 520.0, seconds: float = 5.0) -> bytes:
    return encode(cry_like(seconds, f0=f0, seed=seed, harsh=0.5), 16000, "WAV", "PCM_16")


@pytest.fixture(scope="module")
def cry_analyzer():
    from core.answers.analyzer import Analyzer

    return heads_only(Analyzer("cry", "acoustic"))


def test_analyze_with_references_judges_the_cry_against_them_and_says_so(cry_analyzer):
    from core.answers.analyzer import reference_words

    cry, r1, r2 = _cry(1), _cry(2, 480), _cry(3, 500)
    plain = cry_analyzer.analyze(cry, name="cry.wav")
    judged = cry_analyzer.analyze(cry, name="cry.wav", references=[("bath1.wav", r1), ("bath2.wav", r2)])
    assert plain.references is None and reference_words(plain) == ""
    refs = judged.references
    assert refs.k == 2 and [c.name for c in refs.used] == ["bath1.wav", "bath2.wav"]
    h, h0 = judged.heads["pain"], plain.heads["pain"]
    m = cry_analyzer.reference_map
    assert h.verdict.rule.startswith("judged against 2 reference cries") and h.threshold == m.threshold(2)
    assert h.operating_point()["validated_on"] == m.validated(2)["validated_on"]
    assert h.verdict.probabilities["pain"] != pytest.approx(h0.verdict.probabilities["pain"])
    assert h.window_probs.shape == h0.window_probs.shape  # the track follows the same map
    words = reference_words(judged)
    assert "Judged against 2 reference cries" in words and refs.used[0].sha256[:12] in words
    d = judged.to_dict()
    assert d["references"]["used"] == 2 and len(d["references"]["cries"][0]["sha256"]) == 64
    assert "bytes" not in json.dumps(d["references"])  # derived numbers and hashes only, never audio
    # the same references as a checked set give the same answer (the batch path)
    again = cry_analyzer.analyze(cry, name="cry.wav", references=cry_analyzer.check_references([r1, r2]))
    assert again.heads["pain"].verdict.probabilities == h.verdict.probabilities


def test_bad_references_are_not_used_and_say_why(cry_analyzer):
    from core.answers.analyzer import reference_words

    cry, good = _cry(1), _cry(2, 480)
    silent = encode(np.zeros(16000 * 4, np.float32), 16000, "WAV", "PCM_16")
    short = _cry(4, seconds=0.2)
    r = cry_analyzer.analyze(cry, name="cry.wav", references=[
        ("same.wav", cry), ("good.wav", good), ("again.wav", good), ("silent.wav", silent),
        ("notes.txt", b"not audio at all" * 50), ("short.wav", short)])
    why = {c.name: c.reason for c in r.references.rejected}
    assert r.references.k == 1 and r.references.used[0].name == "good.wav"
    assert why["same.wav"] == "it is the same file as the cry being judged"
    assert why["again.wav"] == "the same file as good.wav"
    assert why["silent.wav"].startswith("too quiet")
    assert why["notes.txt"].startswith("cannot be read")
    assert why["short.wav"].startswith("recording too short")
    words = reference_words(r)
    assert words.startswith("Judged against 1 reference cry") and "Not used: silent.wav (too quiet" in words
    none_used = cry_analyzer.analyze(cry, name="cry.wav", references=[("silent.wav", silent)])
    assert none_used.references.k == 0
    assert none_used.heads["pain"].verdict.rule == cry_analyzer.analyze(cry).heads["pain"].verdict.rule
    assert reference_words(none_used).startswith("No reference cry used")


def test_a_batch_judges_every_file_against_the_references_once_checked(cry_analyzer):
    from core.reports.batch import BatchItem, analyze_batch, batch_records

    r1, r2 = _cry(2, 480), _cry(3, 500)
    refs = cry_analyzer.check_references([("bath1.wav", r1), ("bath2.wav", r2)])
    rows = batch_records(analyze_batch(cry_analyzer, [BatchItem("a.wav", _cry(5)), BatchItem("bath1.wav", r1)],
                                       references=refs))
    assert rows[0]["references"].startswith("Judged against 2 reference cries")
    # a file that is itself a reference is judged against the other one only
    assert rows[1]["references"].startswith("Judged against 1 reference cry")
    assert "Not used: bath1.wav (it is the same file as the cry being judged)" in rows[1]["references"]
    assert list(rows[0]).index("references") == list(rows[0]).index("input_check") + 1


@pytest.mark.skipif(not CRY_PAIN.is_dir(), reason="needs ../shared/data")
def test_real_cries_of_one_infant_with_the_input_check_on():
    """Two bath cries of one infant as references for a third cry and for a vaccination cry of the same infant."""
    from core.answers.analyzer import Analyzer

    from core.data.datasets import scan
    from core.tasks import CRY

    units = [u for u in scan(CRY_PAIN, CRY.head("pain").dataset, None).units if u.group == "AMJ"]
    disc = sorted((u for u in units if u.label == "discomfort"), key=lambda u: u.uid)
    pain = sorted((u for u in units if u.label == "pain"), key=lambda u: u.uid)
    an = Analyzer("cry", "acoustic")
    assert an.input_check is not None
    refs = an.check_references([Path(disc[0].path), Path(disc[1].path)])
    assert refs.k == 2, [c.reason for c in refs.rejected]
    for u in (disc[2], pain[0]):
        r = an.analyze(Path(u.path), name=Path(u.path).name, references=refs)
        assert not r.refused and r.references.k == 2
        assert r.heads["pain"].verdict.label == u.label  # AMJ: every cry right in validation, with references too
    chest = sorted((DATA / "sprsound" / "BioCAS2022" / "train2022_flac").glob("*.flac"))[:1]
    if chest:
        bad = an.check_references([chest[0]])
        # a chest recording: the cry gate (no voiced cry) or the input check refuses it as a reference
        assert bad.k == 0 and bad.rejected[0].reason.startswith(("no crying detected", "not taken for a cry"))


def test_cli_reference_option(tmp_path):
    cry, ref = tmp_path / "cry.wav", tmp_path / "bath.wav"
    cry.write_bytes(_cry(1))
    ref.write_bytes(_cry(2, 480))
    bad = subprocess.run([sys.executable, "-m", "core", "analyze", str(cry), "--task", "respiratory", "--reference",
                          str(ref)], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "cry task only" in bad.stderr
    out = tmp_path / "out.json"
    run = subprocess.run([sys.executable, "-m", "core", "analyze", str(cry), "--task", "cry", "--reference", str(ref),
                          "--reference", str(cry), "--json", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    # the generated cry may be refused by the input check: the references are still checked and reported
    refs = json.loads(out.read_text())[0]["references"]
    assert refs["given"] == 2
    assert any(c["reason"] == "it is the same file as the cry being judged" for c in refs["cries"])
    assert "Not used: cry.wav (it is the same file as the cry being judged)" in run.stdout or \
        "not used: it is the same file" in run.stdout + run.stderr


def test_the_page_suggests_references_only_near_the_threshold_without_them(cry_analyzer):
    import dataclasses

    r = cry_analyzer.analyze(_cry(1), name="cry.wav")
    h = r.heads["pain"]
    p = h.verdict.probabilities["pain"]

    def at(threshold: float):
        return dataclasses.replace(r, heads={**r.heads, "pain": dataclasses.replace(h, threshold=threshold)})

    near = cry_analyzer.reference_hint(at(min(max(p + 0.05, 0.0), 1.0)))
    assert "near the threshold" in near and "validated with 2 references" in near
    assert cry_analyzer.reference_hint(at(p + 0.4 if p < 0.5 else p - 0.4)) == ""
    judged = cry_analyzer.analyze(_cry(1), name="cry.wav", references=[_cry(2, 480)])
    assert cry_analyzer.reference_hint(judged) == ""
