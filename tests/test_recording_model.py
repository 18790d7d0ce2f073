"""The respiratory recording model on generated data: nested fits never see the scored patients, thresholds are
chosen on other people's predictions, answers are consistent, and the artefact round-trips through disk."""
import numpy as np
import pytest

from core.heads.recording import (POOR_QUALITY, RecordingSet, RespiratoryModel, nested_predictions, record_labels,
                                  screen_answers)
from core.tasks import RECORD_PRESENCE, RESP_DETECTOR_CLASSES
from core.windows.labels import Event, label_windows

CLASSES = tuple(RESP_DETECTOR_CLASSES)


def synthetic_set(n_patients: int = 24, per_patient: int = 4, seed: int = 0) -> RecordingSet:
    """Recordings of 8 windows; a wheeze (CAS) or crackle (DAS) event shifts features 0 or 1 of the windows
    holding it; Poor Quality recordings are loud noise (feature 2)."""
    rng = np.random.default_rng(seed)
    kinds = ["Normal", "CAS", "DAS", "CAS & DAS", "Normal", POOR_QUALITY]
    uids, groups, labels, events, X, rec_of, starts, Y = [], [], [], [], [], [], [], []
    for p in range(n_patients):
        for k in range(per_patient):
            r = len(uids)
            lab = kinds[(p + k) % len(kinds)]
            ev = []
            if lab in ("CAS", "CAS & DAS"):
                ev.append(Event(2.2, 2.8, "Wheeze"))
            if lab in ("DAS", "CAS & DAS"):
                ev.append(Event(5.1, 5.9, "Fine Crackle"))
            st = np.arange(8.0)
            y = label_windows(st, 2.0, 9.5, ev, RESP_DETECTOR_CLASSES)
            x = rng.normal(0, 1, (8, 6))
            x[:, 0] += 2.5 * (y[:, 1] == 1)
            x[:, 1] += 2.5 * (y[:, 2] == 1)
            if lab == POOR_QUALITY:
                x[:, 2] += 3.0
            uids.append(f"r{r}")
            groups.append(f"p{p:02d}")
            labels.append(lab)
            events.append(tuple(ev))
            X.append(x)
            rec_of += [r] * 8
            starts.append(st)
            Y.append(y)
    n = len(rec_of)
    return RecordingSet(np.array(uids), np.array(groups), np.array(labels), np.array(["train"] * len(uids)),
                        np.full(len(uids), 9.5), events, np.concatenate(X).astype(np.float32), np.array(rec_of),
                        np.ones(n, bool), np.concatenate(starts), np.full(n, -40.0), np.zeros(n),
                        np.concatenate(Y), CLASSES)


@pytest.fixture(scope="module")
def data():
    return synthetic_set()


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
    assert {"inner detector", "inner quality model", "quality model", "detector", "thresholds"} <= stages
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
    real = rec.balanced_threshold

    def spy(y, p):
        seen.append(len(y))
        return real(y, p)

    monkeypatch.setattr(rec, "balanced_threshold", spy)
    audit: list = []
    m = factory().fit(data, np.arange(data.n), audit=audit)
    good = int((data.labels != POOR_QUALITY).sum())
    assert seen == [good] * len(CLASSES)  # one threshold per class, from every good recording's OOF evidence
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
    assert not (ans["asthma"] & ~ans["screen"]).any()  # asthma-indicative implies adventitious
    normal_label = pred.record_label == "Normal"
    assert not (normal_label & ans["screen"] & ~pred.poor).any()  # a positive screen never reads "Normal"
    assert ((pred.record_label == POOR_QUALITY) == pred.poor).all()
    assert pred.poor[data.labels == POOR_QUALITY].mean() > 0.5


def test_record_labels_follow_the_decisions():
    present = np.array([[0, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1], [1, 0, 0], [0, 1, 0], [1, 1, 1]], bool)
    poor = np.array([0, 0, 0, 0, 0, 0, 1], bool)
    probs = np.array([[.1, .1, .1], [.9, .9, .1], [.9, .1, .9], [.9, .9, .9], [.9, .3, .2], [.1, .9, .1], [.9, .9, .9]])
    th = {"Adventitious": .5, "CAS": .5, "DAS": .5}
    out = record_labels(present, poor, CLASSES, probs, th).tolist()
    assert out == ["Normal", "CAS", "DAS", "CAS & DAS", "CAS", "Normal", POOR_QUALITY]


def test_the_artifact_round_trips_and_refuses_tampering(data, tmp_path):
    from core.encoders.base import EncoderInfo
    from core.heads.artifacts import ArtifactError, load_artifact, save_artifact
    from core.heads.recording import RecordingModelArtifact

    m = factory().fit(data, np.arange(data.n))
    meta = {"task": "respiratory", "head": "recording", "kind": "recording_model", "labels": ["Normal"],
            "classes": list(CLASSES), "presence": {k: (sorted(v) if v is not None else None) for k, v in RECORD_PRESENCE.items()},
            "pooling": m.pooling, "thresholds": m.decider.thresholds, "window_thresholds": m.decider.window_thresholds,
            "quality_threshold": m.decider.quality_threshold, "quality_prior": m.decider.quality_model.prior,
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
    blob = (tmp_path / "rec" / "model.skops").read_bytes()
    (tmp_path / "rec" / "model.skops").write_bytes(blob[:-10] + b"0123456789")
    with pytest.raises(ArtifactError, match="does not match the hash"):
        load_artifact(tmp_path / "rec", enc)
