"""The respiratory recording model on generated data: nested fits never see the scored patients, thresholds are
chosen on other people's predictions, answers are consistent, and the artefact round-trips through disk."""
import numpy as np
import pytest

from core.heads.recording import (POOR_QUALITY, RecordingSet, RespiratoryModel, nested_predictions, record_labels,
                                  screen_answers)
from core.tasks import RECORD_PRESENCE, RESP_DETECTOR_CLASSES
from core.windows.labels import Event, label_windows

CLASSES = tuple(RESP_DETECTOR_CLASSES)


def synthetic_set(n_patients: int = 24, per_patient: int = 4, seed: int = 0, two_periods: bool = False) -> RecordingSet:
    """Recordings of 8 windows, named like SPRSound's (patient, site p1-p4, recording number); a wheeze (CAS) or
    crackle (DAS) event shifts features 0 or 1 of the windows holding it; Poor Quality recordings are loud noise
    (feature 2). With `two_periods`, each patient's second half of recordings belongs to the later release."""
    rng = np.random.default_rng(seed)
    kinds = ["Normal", "CAS", "DAS", "CAS & DAS", "Normal", POOR_QUALITY]
    uids, groups, labels, events, X, rec_of, starts, Y, splits = [], [], [], [], [], [], [], [], []
    for p in range(n_patients):
        for k in range(per_patient):
            r = len(uids)
            # every third patient is healthy (child-level answers need negative children too)
            lab = ("Normal" if k < 3 else POOR_QUALITY) if p % 3 == 0 else kinds[(p + k) % len(kinds)]
            ev = []
            if lab in ("CAS", "CAS & DAS"):
                ev.append(Event(2.2, 2.8, "Wheeze"))
            if lab in ("DAS", "CAS & DAS"):
                ev.append(Event(5.1, 5.9, "Fine Crackle"))
            st = np.arange(8.0)
            y = label_windows(st, 2.0, 9.5, ev, RESP_DETECTOR_CLASSES)
            x = rng.normal(0, 1, (8, 6))
            x[:, 0] += 3.0 * (y[:, 1] == 1)
            x[:, 1] += 3.0 * (y[:, 2] == 1)
            if lab == POOR_QUALITY:
                x[:, 2] += 3.0
            uids.append(f"{1000 + p}_5.0_0_p{k % 4 + 1}_{r}")
            splits.append("test_intra" if two_periods and k >= per_patient // 2 else "train")
            groups.append(f"p{p:02d}")
            labels.append(lab)
            events.append(tuple(ev))
            X.append(x)
            rec_of += [r] * 8
            starts.append(st)
            Y.append(y)
    n = len(rec_of)
    return RecordingSet(np.array(uids), np.array(groups), np.array(labels), np.array(splits),
                        np.full(len(uids), 9.5), events, np.concatenate(X).astype(np.float32), np.array(rec_of),
                        np.ones(n, bool), np.concatenate(starts), np.full(n, -40.0), np.zeros(n),
                        np.concatenate(Y), CLASSES)


@pytest.fixture(scope="module")
def data():
    return synthetic_set()


@pytest.fixture(autouse=True)
def _one_openmp_thread():
    """The generated sets are tiny: gradient boosting's OpenMP threads cost more than they give here (about 30 s a
    test with two threads against 4 s with one on a 2-core machine)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="openmp"):
        yield


def factory():
    return RespiratoryModel(CLASSES, RECORD_PRESENCE, folds=3, seed=0)


def test_no_fit_in_an_outer_fold_sees_its_held_out_patients(data):
    audit: list = []
    pred, fold_of, models = nested_predictions(factory, data, np.arange(data.n), 4, 1, audit=audit)
    folds, current = [], []
    for stage, people in audit:
        if stage.startswith("outer fold"):
            folds.append((current, people))
            current = []
        else:
            current.append((stage, people))
    assert len(folds) == 4
    stages = {s for f, _ in folds for s, _ in f}
    assert {"inner detector", "inner quality model", "quality model", "detector", "thresholds",
            "child rules"} <= stages
    for fits, held_out in folds:
        assert held_out and all(not (people & held_out) for _, people in fits)
    # every training recording was scored once, by the model of the fold that held its patient out
    assert sorted(pred.recs.tolist()) == list(range(data.n))
    for f, m in enumerate(models):
        mine = fold_of == f
        p = m.predict(data, np.arange(data.n)[mine])
        assert np.allclose(p.probs, pred.probs[mine]) and (p.record_label == pred.record_label[mine]).all()


def test_thresholds_are_chosen_on_out_of_fold_evidence_of_other_people(data, monkeypatch):
    import core.heads.recording as rec

    seen = []
    real = rec.threshold_by_rule

    def spy(rule, y, p, target=None):
        seen.append((rule, len(y)))
        return real(rule, y, p, target)

    monkeypatch.setattr(rec, "threshold_by_rule", spy)
    audit: list = []
    m = factory().fit(data, np.arange(data.n), audit=audit)
    n_screen = int(np.isin(data.labels, ("Normal", "CAS", "DAS", "CAS & DAS")).sum())
    n_cont = int(np.isin(data.labels, ("Normal", "CAS", "CAS & DAS")).sum())
    good = int((data.labels != POOR_QUALITY).sum())
    # one threshold per class at the equal-error point, each answer's from the recordings it is validated against
    assert seen == [("equal_error", n_screen), ("equal_error", n_cont), ("equal_error", good)]
    inner = [people for stage, people in audit if stage == "inner detector"]
    assert len(inner) == 3 and all(len(people) < 24 for people in inner)
    assert set().union(*inner) == set(data.groups.tolist())  # the OOF evidence covers everyone...
    assert np.isfinite(m.oof_.window_probs).all()  # ...each window predicted by a detector that never saw it


def test_it_learns_the_generated_events_and_answers_consistently(data):
    pred, _, _ = nested_predictions(factory, data, np.arange(data.n), 4, 1)
    truth = data.present(RECORD_PRESENCE)
    good = data.labels != POOR_QUALITY
    for j in range(len(CLASSES)):
        from core.evaluation.metrics import _auc

        assert _auc(truth[good, j], pred.probs[good, j]) > 0.9
    ans = screen_answers(pred.present, CLASSES)
    assert not (ans["continuous"] & ~ans["screen"]).any()  # continuous sounds imply adventitious sounds
    label = pred.record_label
    ok = ~pred.poor
    # one decision read three ways: the label says CAS exactly when the continuous answer is positive
    assert (np.isin(label[ok], ("CAS", "CAS & DAS")) == ans["continuous"][ok]).all()
    assert ((label[ok] != "Normal") == ans["screen"][ok]).all()
    normal_label = pred.record_label == "Normal"
    assert not (normal_label & ans["screen"] & ~pred.poor).any()  # a positive screen never reads "Normal"
    assert ((pred.record_label == POOR_QUALITY) == pred.poor).all()
    assert pred.poor[data.labels == POOR_QUALITY].mean() > 0.5


def test_record_labels_follow_the_decisions():
    from core.heads.recording import RecordingDecider

    d = RecordingDecider(CLASSES, thresholds={"Adventitious": .5, "CAS": .5, "DAS": .5}, das_type_threshold=.7)
    probs = np.array([[.1, .9, .9], [.9, .9, .1], [.9, .1, .9], [.9, .9, .9], [.9, .3, .2], [.9, .9, .6],
                      [.9, .9, .9]])
    poor = np.array([0, 0, 0, 0, 0, 0, 1], bool)
    out = d.record_labels(probs, poor).tolist()
    # screen negative -> Normal whatever the kinds say; no continuous sounds -> DAS; crackle evidence under the
    # typing threshold keeps a CAS recording CAS; Poor Quality first
    assert out == ["Normal", "CAS", "DAS", "CAS & DAS", "DAS", "CAS", POOR_QUALITY]
    present = np.array([[1, 0, 0], [0, 1, 1]], bool)  # read defensively: adventitious without continuous is DAS
    assert record_labels(present, np.zeros(2, bool), CLASSES).tolist() == ["DAS", "Normal"]


def test_the_artifact_round_trips_and_refuses_tampering(data, tmp_path):
    from core.encoders.base import EncoderInfo
    from core.heads.artifacts import ArtifactError, load_artifact, save_artifact
    from core.heads.recording import RecordingModelArtifact

    m = factory().fit(data, np.arange(data.n))
    meta = {"task": "respiratory", "head": "recording", "kind": "recording_model", "labels": ["Normal"],
            "classes": list(CLASSES), "presence": {k: (sorted(v) if v is not None else None) for k, v in RECORD_PRESENCE.items()},
            "pooling": m.pooling, "thresholds": m.decider.thresholds, "window_thresholds": m.decider.window_thresholds,
            "quality_threshold": m.decider.quality_threshold, "quality_prior": m.decider.quality_model.prior,
            "das_type_threshold": m.decider.das_type_threshold, "operating_point_rule": m.decider.rule,
            "examination": {"rules": {k: r.to_dict() for k, r in m.decider.child_rules.items()}},
            "encoder": {"name": "acoustic", "version": "v", "dim": 6, "fingerprint": ""}}
    objects = {"detector": dict(m.detector.models), "calibrators": dict(m.decider.calibrators),
               "quality_model": m.decider.quality_model.model}
    save_artifact(tmp_path / "rec", meta=meta, objects=objects, projection=None, metrics={}, card="")
    enc = EncoderInfo("acoustic", "v", 6, "test")
    art = load_artifact(tmp_path / "rec", enc)
    assert isinstance(art, RecordingModelArtifact)
    r = 5
    rows = data.rec_of == r
    a = art.analyse(data.X[rows], data.usable[rows], data.rms_dbfs[rows], data.clip_ratio[rows], 9.5)
    p = m.predict(data, np.array([r]))
    assert np.allclose(a.probs, p.probs[0]) and a.label == p.record_label[0]
    assert art.model.decider.das_type_threshold == m.decider.das_type_threshold
    assert art.model.decider.child_rules == m.decider.child_rules
    blob = (tmp_path / "rec" / "model.skops").read_bytes()
    (tmp_path / "rec" / "model.skops").write_bytes(blob[:-10] + b"0123456789")
    with pytest.raises(ArtifactError, match="does not match the hash"):
        load_artifact(tmp_path / "rec", enc)


def test_folds_keep_a_patients_earlier_and_later_recordings_together():
    data = synthetic_set(two_periods=True)
    assert set(data.periods.tolist()) == {"earlier", "later"}
    audit: list = []
    pred, fold_of, _ = nested_predictions(factory, data, np.arange(data.n), 4, 1, audit=audit)
    for g in np.unique(data.groups):
        mine = data.groups[pred.recs] == g
        assert len(set(data.periods[pred.recs][mine].tolist())) == 2
        assert len(set(fold_of[mine].tolist())) == 1  # both periods of a patient on one side of every split
    held = [people for stage, people in audit if stage.startswith("outer fold")]
    assert set().union(*held) == set(data.groups.tolist()) and sum(len(h) for h in held) == 24


def test_child_rules_are_fitted_without_the_scored_children(data, monkeypatch):
    """Spy on the child-level fit: in every outer fold, the examinations it is handed belong to the other folds'
    children only, and the rule that answers a held-out child comes from that fold's model."""
    import core.heads.recording as rec

    audit: list = []
    real = rec.fit_child_rules

    def spy(rows):
        audit.append(("child rule fit", frozenset(r["patient"] for r in rows)))
        return real(rows)

    monkeypatch.setattr(rec, "fit_child_rules", spy)
    pred, fold_of, models = nested_predictions(factory, data, np.arange(data.n), 4, 1, audit=audit)
    fits = []
    for stage, people in audit:
        if stage == "child rule fit":
            fits.append(people)
        elif stage.startswith("outer fold"):
            assert len(fits) == 1 and fits[0] and not (fits[0] & people)
            fits = []
    for m in models:
        assert set(m.decider.child_rules) == {"screen", "continuous"}


def test_the_fitted_child_rule_pools_sites_and_reaches_its_sensitivity():
    from core.decisions.child import fit_child_rule

    rng = np.random.default_rng(0)
    truth = rng.random(200) < 0.4
    exams = [[float(np.clip(rng.normal(0.6 if t else 0.3, 0.15), 0, 1)) for _ in range(4)] + [None] for t in truth]
    rule = fit_child_rule(exams, truth, target=0.85)
    decided = np.array([rule.decide(e) for e in exams])
    assert decided[truth].mean() >= 0.85  # reached on the examinations it was fitted on, as documented
    assert rule.decide([None, None]) is None  # no answering site, no answer
    assert rule.pooling in ("max", "mean", "top2")


def test_leave_one_period_out_reports_promise_and_drift():
    from core.heads.train_recording import leave_one_period_out

    data = synthetic_set(two_periods=True)
    audit: list = []
    lp = leave_one_period_out(factory, data, np.arange(data.n), "earlier", "later", 3, 1, 1.0, audit=audit)
    earlier = set(np.flatnonzero(data.periods == "earlier").tolist())
    assert set(lp.scored.recs.tolist()) == set(np.flatnonzero(data.periods == "later").tolist())
    assert set(lp.nested.recs.tolist()) == earlier
    # every fit of this check saw earlier-period recordings only: the later period is scored once, at the end
    fitted_windows = {stage for stage, _ in audit}
    assert "detector" in fitted_windows
    for key in ("screen", "continuous"):
        d = lp.report["drift"][key]
        assert d["drift_sensitivity"] == pytest.approx(d["scored_sensitivity"] - d["promised_sensitivity"])
        assert d["drift_specificity"] == pytest.approx(d["scored_specificity"] - d["promised_specificity"])
        assert d["within_0_05"] == (abs(d["drift_sensitivity"]) <= 0.05 and abs(d["drift_specificity"]) <= 0.05)
    assert lp.report["promised"]["split"].startswith("nested patient-grouped 3-fold CV on the earlier period")
