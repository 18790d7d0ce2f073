"""Stacked record features: summaries of an event model's window probabilities, built the same in training and
in the app, and never from a model that saw the record's own patient."""
import numpy as np

from core.heads.stacking import summary_names, window_summary
from core.tasks import RESPIRATORY


def test_window_summary_by_hand():
    spec = RESPIRATORY.head("event_type")
    k = len(spec.labels)
    p = np.zeros((5, k))
    p[:, 0] = [0.9, 0.2, 0.6, 0.5, 1.0]  # Normal
    p[:, 2] = 1 - p[:, 0]  # Wheeze (a CAS, adventitious)
    unit_of = np.array([0, 0, 0, 1, 1])
    usable = np.array([True, True, False, False, False])  # unit 1 has no usable window: all of its windows count
    f = window_summary(p, unit_of, usable, 2, spec.labels, spec.stack_groups)
    names = summary_names(spec)
    assert f.shape == (2, len(names))
    col = {n: i for i, n in enumerate(names)}
    assert np.isclose(f[0, col["event_type:Wheeze:mean"]], 0.45)  # the unusable window is left out
    assert np.isclose(f[0, col["event_type:Wheeze:max"]], 0.8) and np.isclose(f[0, col["event_type:Wheeze:second"]], 0.1)
    assert np.isclose(f[0, col["event_type:CAS:max"]], 0.8) and np.isclose(f[0, col["event_type:DAS:max"]], 0.0)
    assert np.isclose(f[0, col["usable_fraction"]], 2 / 3)
    assert np.isclose(f[1, col["event_type:Adventitious:mean"]], 0.25) and f[1, col["usable_fraction"]] == 0


def test_oof_window_model_never_saw_the_records_patient(monkeypatch):
    from core.heads import stacking
    from core.data.datasets import Unit
    from core.data.embed import EmbeddedSet

    rng = np.random.default_rng(0)
    spec = RESPIRATORY.head("event_type")
    patients = [f"p{i}" for i in range(10)]
    ev_units = [Unit(f"e{i}", "x.wav", spec.labels[i % 3], patients[i % 10], "train", 0.0, 1.0) for i in range(60)]
    n_ev = len(ev_units)
    ev_X = np.repeat(rng.normal(size=(n_ev, 4)), 2, axis=0)
    ev_X[:, 0] = np.repeat([int(u.group[1:]) for u in ev_units], 2)  # feature 0 names the patient
    events = EmbeddedSet(ev_units, ev_X, np.repeat(np.arange(n_ev), 2), np.ones(2 * n_ev, bool),
                         view=np.tile(np.array(["event", "context"], dtype=object), n_ev))
    rec_units = [Unit(f"r{i}", "x.wav", ("Normal", "CAS")[i % 2], patients[i % 10], "train") for i in range(20)]
    rec_X = rng.normal(size=(60, 4))
    rec_of = np.repeat(np.arange(20), 3)
    rec_X[:, 0] = [int(rec_units[u].group[1:]) for u in rec_of]
    records = EmbeddedSet(rec_units, rec_X, rec_of, np.ones(60, bool))
    seen = []

    class Spy:
        def __init__(self, name):
            self.groups = None

        def fit(self, X, y):
            self.groups = set(X[:, 0].astype(int).tolist())
            return self

    def fake_probs(model, X, k):
        assert not set(X[:, 0].astype(int).tolist()) & model.groups or len(model.groups) == 10
        seen.append((set(X[:, 0].astype(int).tolist()), model.groups))
        return np.full((len(X), k), 1.0 / k)

    import core.heads.training

    monkeypatch.setattr(core.heads.training, "make_pipeline", Spy)
    monkeypatch.setattr(stacking, "window_probs", fake_probs)
    W, model = stacking.oof_window_probs(records, events, spec, folds=5, seed=0, log=lambda s: None)
    assert W.shape == (60, len(spec.labels)) and len(model.groups) == 10
    assert len(seen) == 5 and all(not (pred & fitted) for pred, fitted in seen)
