"""Metrics agree with scikit-learn, the SPRSound official score follows its definition, CIs bracket the estimate."""
import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

from core.evaluation.metrics import Decision, binary_operating_points, evaluate, expected_calibration_error, sprsound_scores


def test_sprsound_score_definition():
    # normal = 0; 4 normals of which 3 right (SP 0.75); 4 abnormal of which 2 exactly right (SE 0.5)
    y = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    p = np.array([0, 0, 0, 1, 1, 2, 2, 0])
    s = sprsound_scores(y, p, 0)
    assert s["SP"] == 0.75 and s["SE"] == 0.5
    assert s["AS"] == pytest.approx(0.625) and s["HS"] == pytest.approx(0.6)
    assert s["Score"] == pytest.approx(0.6125)


def test_evaluate_matches_sklearn_and_ci_brackets_point():
    rng = np.random.default_rng(0)
    n, k = 400, 3
    y = rng.integers(0, k, n)
    logits = rng.standard_normal((n, k)) + 1.5 * np.eye(k)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    groups = np.repeat(np.arange(80), 5)
    dec = Decision(("a", "b", "c"))
    ev = evaluate(y, probs, groups, dec, split="test split", normal_label="a", n_boot=300)
    pred = probs.argmax(1)
    m = ev["metrics"]
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, probs, multi_class="ovr"))
    for key in ("balanced_accuracy", "roc_auc", "Score"):
        lo, hi = ev["ci95"][key]
        assert lo <= m[key] <= hi and hi - lo < 0.3
    assert np.array(ev["confusion_matrix"]).sum() == n
    assert ev["split"] == "test split" and ev["n_groups"] == 80
    assert set(ev["curves"]) == {"a", "b", "c"}


def test_decision_rules():
    d = Decision(("neg", "pos"), positive="pos", threshold=0.3)
    assert d.predict(np.array([[0.75, 0.25], [0.65, 0.35]])).tolist() == [0, 1]
    prior = Decision(("maj", "min"), priors=(0.9, 0.1))
    assert prior.predict(np.array([[0.8, 0.2]])).tolist() == [1]  # 0.2/0.1 > 0.8/0.9
    assert Decision.from_dict(d.to_dict()) == d


def test_ece_and_operating_points():
    y = np.array([0, 1] * 50)
    perfect = np.eye(2)[y]
    assert expected_calibration_error(y, perfect)[0] == 0.0
    p = np.linspace(0, 1, 100)
    ops = binary_operating_points(p > 0.4, p)
    assert ops["high_sensitivity"]["sensitivity"] >= 0.9
    assert ops["balanced"]["sensitivity"] == 1.0 and ops["balanced"]["specificity"] == 1.0


def test_score_tuned_rule_beats_or_equals_prevalence_rule():
    from core.evaluation.metrics import score_tuned_divisors, sprsound_scores

    rng = np.random.default_rng(0)
    y = rng.choice(3, 600, p=[0.7, 0.2, 0.1])
    p = rng.dirichlet(np.ones(3), 600) * 0.6 + np.eye(3)[y] * 0.4
    prior = np.bincount(y) / len(y)
    div, info = score_tuned_divisors(y, p, 0)
    tuned = sprsound_scores(y, np.argmax(p / div, axis=1), 0)["Score"]
    assert tuned >= sprsound_scores(y, np.argmax(p / prior, axis=1), 0)["Score"] - 1e-9
    assert tuned >= sprsound_scores(y, np.argmax(p, axis=1), 0)["Score"] - 1e-9
    assert abs(info["oof_score"] - tuned) < 1e-9 and 0.0 <= info["a"] <= 1.0


def test_per_group_majorities_by_hand():
    from core.evaluation.metrics import per_group

    dec = Decision(("discomfort", "pain"), "pain", 0.5)
    y = np.array([1, 1, 0, 1, 0, 0])
    p1 = np.array([0.9, 0.2, 0.1, 0.4, 0.8, 0.7])
    probs = np.stack([1 - p1, p1], axis=1)
    groups = np.array(["A", "A", "A", "B", "B", "B"])
    res = per_group(y, probs, groups, dec)
    a, b = res["groups"]
    assert (a["n"], a["correct"], a["majority_correct"]) == (3, 2, True)
    assert (b["n"], b["correct"], b["majority_correct"]) == (3, 0, False)
    assert a["pain"] == {"n": 2, "correct": 1, "mean_probability": pytest.approx(0.55)}
    assert res["majority_correct"] == 1 and res["majority_correct_by_label"] == {"discomfort": [1, 2], "pain": [0, 2]}


def test_operating_point_read_off_the_roc_curve():
    from core.evaluation.metrics import operating_point_at

    roc = {"threshold": [1.0, 0.8, 0.5, 0.2], "y": [0.0, 0.5, 0.9, 1.0], "x": [0.0, 0.1, 0.3, 1.0]}
    assert operating_point_at(roc, 0.6) == {"threshold": 0.8, "sensitivity": 0.5, "specificity": 0.9}
    assert operating_point_at(roc, 0.5)["sensitivity"] == 0.9
    assert operating_point_at(roc, 0.0)["specificity"] == 0.0


def test_nested_cv_never_lets_the_scored_people_choose_the_threshold():
    from core.heads.training import Design, nested_cv
    from core.tasks import custom_head

    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(40), 6)  # more people than LOGO_MAX_GROUPS: grouped folds
    y = np.tile([0, 0, 0, 1, 1, 1], 40)
    X = rng.normal(0, 1, (len(y), 4)) + y[:, None] * 1.2
    d = Design(X, y, np.arange(len(y)), y, groups, len(y))
    head = custom_head("toy", ("neg", "pos"))
    audit: list = []
    res = nested_cv(d, head, "logreg", 5, 3, 0, log=lambda s: None, audit=audit)
    assert len(audit) == 5
    scored = set()
    for chose, scores in audit:
        assert chose and scores and not (chose & scores)
        scored |= scores
    assert scored == set(range(40))  # everyone scored once, by a rule they did not choose
    op = res["operating_points"]["balanced"]
    assert len(op["fold_thresholds"]) == 5 and 0.5 < op["sensitivity"] <= 1 and op["sensitivity_ci"] is not None
    assert "nested grouped 5-fold CV" in res["split"] and res["metrics"]["roc_auc"] > 0.8


def test_nested_leave_one_infant_out_never_lets_the_tested_infant_choose_the_threshold(monkeypatch):
    import core.heads.training as training
    from core.heads.training import Design, nested_cv
    from core.tasks import custom_head

    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(18), 8)  # 18 infants, as in cry_pain
    y = np.tile([0, 0, 0, 0, 1, 1, 1, 1], 18)
    voice = rng.normal(0, 1, 18)[groups]  # each infant's own offset: the ranking holds within an infant
    X = np.c_[rng.normal(0, 1, (len(y), 3)) + y[:, None] * 1.5, voice]
    d = Design(X, y, np.arange(len(y)), y, groups, len(y))
    seen: list[int] = []  # how many recordings chose each threshold
    real = training.choose_decision

    audit: list = []
    monkeypatch.setattr(training, "choose_decision",
                        lambda head, yu, pu: (seen.append(len(yu)), real(head, yu, pu))[1])
    res = nested_cv(d, custom_head("toy", ("neg", "pos")), "logreg", 5, 4, 0, log=lambda s: None, audit=audit)
    assert len(audit) == 18
    for chose, scored in audit:
        assert len(scored) == 1 and len(chose) == 17 and not (chose & scored)  # the tested infant chose nothing
    assert seen == [17 * 8] * 18  # every threshold chosen on exactly the other 17 infants' recordings
    assert "nested leave-one-person-out over all 18 people" in res["split"]
    pg = res["per_group"]
    assert pg["n_groups"] == 18 and all(r["auc"] is not None and r["sensitivity"] is not None for r in pg["groups"])
    assert res["ci95"]["roc_auc"] is not None  # 18 infants: enough for a cluster bootstrap
    assert len(res["operating_points"]["balanced"]["fold_thresholds"]) == 18


def test_a_heads_metrics_carry_the_files_measured_beside_them(tmp_path):
    """One loader for the Metrics page, the model cards and the README: metrics.json with the side files (ablation,
    references, period_length) under their keys; the recording-length table reads its file's own figures."""
    import json

    from core.evaluation.model_card import (load_metrics, operating_point_records, operating_point_words,
                                            period_band_words, period_length_records, pooling_shift_records)

    (tmp_path / "metrics.json").write_text(json.dumps({"task": "respiratory"}))
    assert load_metrics(tmp_path) == {"task": "respiratory"} and period_length_records({}) == []
    rows = [{"period": p, "source": s, "length": ln, "normal_recordings": 10, "normal_patients": 4,
             "false_alarm_rate": fa, "median_evidence": 0.05, "mean_window_probability": 0.07,
             "abnormal_recordings": 3, "sensitivity": None if ln == "15.4 s" else 0.667}
            for p, s in (("earlier", "nested"), ("later", "scored")) for ln, fa in (("9.2 s", 0.2), ("15.4 s", 0.3))]
    sep = [{"length": "9.2 s", "earlier": 8, "later": 2, "period_auc": 0.67, "band_difference_db": [0.0, 1.3, -0.3]},
           {"length": "15.4 s", "earlier": 8, "later": 2, "period_auc": 0.55, "band_difference_db": [0.1, 1.1, -0.2]}]
    poolings = [{"pooling": "median", "promised": [0.8, 0.74, 0.85], "scored": [0.8, 0.56, 0.79],
                 "drift": [0.0, -0.18]}]
    sweep = [{"threshold": t, "shipped": t == 0.255, "promised": [0.8, sp], "scored": [0.78, sp - d],
              "drift": [-0.02, -d], "within": d <= 0.05} for t, sp, d in ((0.255, 0.77, 0.11), (0.78, 0.99, 0.016))]
    oracle = {"promise": [0.806, 0.766], "threshold": 0.2958, "scored": [0.76, 0.716], "worst_drift": 0.051}
    (tmp_path / "period_length.json").write_text(json.dumps({"by_length": rows, "separability": sep,
                                                             "band_centres_hz": [300, 640, 3000],
                                                             "poolings": poolings, "operating_points": {
                                                                 "sweep": sweep, "tolerance": 0.05, "oracle": oracle}}))
    m = load_metrics(tmp_path)
    table = period_length_records(m)
    assert [(r["period"], r["length"], r["false alarms"]) for r in table] == [
        ("earlier", "9.2 s", "0.200"), ("earlier", "15.4 s", "0.300"), ("later", "9.2 s", "0.200"),
        ("later", "15.4 s", "0.300")]
    assert table[0]["audio tells the periods apart (AUC, Normal)"] == "0.67"
    assert table[1]["abnormal recordings: sensitivity"] == "–"  # none of that length
    assert "9.2 s: 300 Hz +0.0 dB, 640 Hz +1.3 dB" in period_band_words(m, at_hz=(300, 640))
    assert pooling_shift_records(m)[0]["drift sens / spec"] == "+0.000 / -0.180"
    points = operating_point_records(m)
    assert [(r["threshold"], r["within 0.05"]) for r in points] == [("0.255 (shipped)", "no"), ("0.780", "yes")]
    assert points[0]["drift sens / spec"] == "-0.020 / -0.110"
    words = operating_point_words(m)
    assert "0.760 / 0.716" in words and "0.051 off at worst" in words and "allows 0.05" in words
    assert operating_point_records({}) == [] and operating_point_words({}) == ""


def test_the_operating_point_sweep_and_its_oracle_bound():
    """scripts/period_length.py: with no shift every swept threshold holds and the later period's own labels find
    the promise exactly; with the later Normal recordings scoring higher the shipped threshold drifts, and the
    oracle reports how close any threshold could come."""
    import importlib.util
    from types import SimpleNamespace

    from core.config import PROJECT_ROOT

    spec = importlib.util.spec_from_file_location("period_length", PROJECT_ROOT / "scripts" / "period_length.py")
    pl = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pl)
    rng = np.random.default_rng(0)
    labels = np.array(["Normal"] * 300 + ["CAS"] * 100 + ["Normal"] * 300 + ["CAS"] * 100)
    rs = SimpleNamespace(classes=("Adventitious", "CAS", "DAS"), labels=labels)

    def pred(recs, p, t):
        probs = np.zeros((len(recs), 3))
        probs[:, 0] = p
        return SimpleNamespace(recs=recs, probs=probs, poor=np.zeros(len(recs), bool),
                               present=(probs >= t))

    t = 0.5
    earlier = np.r_[rng.uniform(0, 0.6, 300), rng.uniform(0.4, 1, 100)]
    for shift, holds in ((0.0, True), (0.15, False)):
        later = earlier + np.r_[np.full(300, shift), np.zeros(100)]
        lp = SimpleNamespace(nested=pred(np.arange(400), earlier, t), scored=pred(np.arange(400, 800), later, t),
                             model=SimpleNamespace(decider=SimpleNamespace(thresholds={"Adventitious": t})))
        op = pl.operating_points(rs, lp)
        shipped = [r for r in op["sweep"] if r["shipped"]]
        assert len(shipped) == 1 and len(op["sweep"]) == len(pl.SWEEP_SPECIFICITIES) + 1
        assert all(r["within"] for r in op["sweep"]) if holds else not shipped[0]["within"]
        assert (op["oracle"]["worst_drift"] == 0.0) == holds
