"""Where does the adventitious screen lose specificity on the later period? By recording length, and how different
the audio is. `python scripts/period_length.py` (about 7 min on 2 cores with the training cache filled).

SPRSound recordings come in two lengths (9.2 s and 15.4 s). The leave-one-period-out check of the shipped training
(`core.heads.train_recording.leave_one_period_out`, earlier -> later, the same folds and seeds) is rerun, and its
answers are broken down by length and period: the earlier period's nested predictions (what the fit promises) and
the later period's answers by the model fitted on all of the earlier one. For Normal recordings: false alarms of
the adventitious screen, the median pooled evidence, and the mean window probability; for abnormal recordings the
sensitivity. Then how well the audio alone tells the periods apart, per length: the pooled window embeddings of
Normal recordings, a logistic regression predicting the period, patient-grouped 5-fold CV (a patient's recordings of
both periods in one fold), AUC (0.5: no difference); and the long-term spectrum of Normal recordings (the encoder's
level-normalised log-mel band means), later minus earlier. Last, the issue's candidate poolings that weigh a
recording's typical windows more than the mean does (median, trimmed mean, mean of logits, quantile-normalised window
scores), each with the calibration and threshold refitted on every fit's own out-of-fold evidence, promised (nested
on the earlier period) against scored (the later period). And whether any operating point holds: one threshold swept
from specificity 0.5 to 0.99, promised against scored, and the closest the later period's own labels could choose.

Writes trained/respiratory/acoustic/recording/period_length.json, read by the model card, the README and the Metrics
page (not covered by the artefact's hashes, like ablation.json). It fits nothing the app uses.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "trained" / "respiratory" / "acoustic" / "recording" / "period_length.json"
LENGTHS = (("9.2 s", 0.0, 12.0), ("15.4 s", 12.0, 1e9))  # SPRSound's two recording lengths
ABNORMAL = ("CAS", "DAS", "CAS & DAS")


def _groups(rs, recs: np.ndarray, poor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which of these recordings the screen is scored on: (abnormal, Normal), leaving out poor-quality ones."""
    labs = rs.labels[recs]
    return ~poor & np.isin(labs, ABNORMAL), ~poor & (labs == "Normal")


def length_rows(rs, pred, recs_period: str, source: str) -> list[dict]:
    """Per length: Normal recordings' false alarms, evidence and window probability; abnormal ones' sensitivity."""
    a = rs.classes.index("Adventitious")
    recs = pred.recs
    abnormal_all, normal_all = _groups(rs, recs, pred.poor)
    has_usable = np.array([rs.usable[rs.rec_of == r].any() for r in recs])
    out = []
    for name, lo, hi in LENGTHS:
        in_len = (rs.duration_s[recs] >= lo) & (rs.duration_s[recs] < hi)
        normal, abnormal = in_len & normal_all, in_len & abnormal_all
        # the mean window probability of a recording is its pooled evidence (mean pooling over its usable windows)
        win = pred.scores[normal & has_usable, a]
        out.append({
            "period": recs_period, "source": source, "length": name,
            "normal_recordings": int(normal.sum()), "normal_patients": int(len(np.unique(rs.groups[recs[normal]]))),
            "false_alarm_rate": round(float(pred.present[normal, a].mean()), 3) if normal.any() else None,
            "median_evidence": round(float(np.median(pred.scores[normal, a])), 4) if normal.any() else None,
            "mean_window_probability": round(float(np.mean(win)), 4) if len(win) else None,
            "abnormal_recordings": int(abnormal.sum()),
            "sensitivity": round(float(pred.present[abnormal, a].mean()), 3) if abnormal.any() else None,
        })
    return out


def _pooled(rs, pred, fn) -> np.ndarray:
    """[R, k] `fn` of each recording's usable window probabilities, as the shipped pooling reads them."""
    from core.heads.recording import pool_scores

    return pool_scores(pred.window_probs, rs.rec_of[pred.window_rows], rs.usable[pred.window_rows], pred.recs, fn)


def _pooling(name: str, reference: np.ndarray):
    """A pooling of window probabilities [n, k] -> [k]; `reference`: Normal-recording windows of the fitting data."""
    if name == "mean (shipped)":
        return lambda v: v.mean(axis=0)
    if name == "median":
        return lambda v: np.median(v, axis=0)
    if name == "trimmed mean (without the highest and lowest window)":
        return lambda v: np.sort(v, axis=0)[1:-1].mean(axis=0) if len(v) > 3 else v.mean(axis=0)
    if name == "mean of window logits":
        def logit_mean(v):
            c = np.clip(v, 1e-6, 1 - 1e-6)
            return 1.0 / (1.0 + np.exp(-np.log(c / (1 - c)).mean(axis=0)))
        return logit_mean
    cdf = [np.sort(reference[:, j]) for j in range(reference.shape[1])]  # quantile-normalised window scores
    return lambda v: np.clip([np.searchsorted(cdf[j], v[:, j]).mean() / len(cdf[j]) for j in range(v.shape[1])],
                             1e-4, 1 - 1e-4)


POOLINGS = ("mean (shipped)", "median", "trimmed mean (without the highest and lowest window)",
            "mean of window logits", "quantile-normalised window scores, then the mean")


def pooling_rows(rs, lp) -> list[dict]:
    """Each pooling refitted (calibration, thresholds) on every fit's own out-of-fold evidence, as the shipped
    decisions are; the adventitious screen promised (nested, earlier period) and scored (later period)."""
    from sklearn.metrics import roc_auc_score

    from core.heads.recording import RecordingDecider
    from core.heads.train_recording import _subset

    a = rs.classes.index("Adventitious")

    def refit(m, name):
        o = m.oof_
        normal = np.isin(rs.rec_of[o.window_rows], o.recs[rs.labels[o.recs] == "Normal"]) & rs.usable[o.window_rows]
        fn = _pooling(name, o.window_probs[normal])
        d = RecordingDecider(m.classes, m.pooling, rule=m.decider.rule).fit(_pooled(rs, o, fn), rs.labels[o.recs],
                                                                             m.presence)
        d.quality_threshold = m.decider.quality_threshold
        return d, fn

    def figures(recs, probs, present, poor):
        abnormal, normal = _groups(rs, recs, poor)
        both = normal | abnormal
        return (float(present[abnormal, a].mean()), float(1 - present[normal, a].mean()),
                float(roc_auc_score(abnormal[both], probs[both, a])))

    out = []
    for name in POOLINGS:
        recs, probs, present, poor = [], [], [], []
        for f, m in enumerate(lp.fold_models):
            keep = np.array([lp.fold_of[r] == f for r in lp.nested.recs.tolist()])
            part = _subset(lp.nested, keep, rs)
            d, fn = refit(m, name)
            p = d.calibrate(_pooled(rs, part, fn))
            recs.append(part.recs), probs.append(p), present.append(d.present(p)), poor.append(part.poor)
        promised = figures(np.concatenate(recs), np.concatenate(probs), np.concatenate(present), np.concatenate(poor))
        d, fn = refit(lp.model, name)
        p = d.calibrate(_pooled(rs, lp.scored, fn))
        scored = figures(lp.scored.recs, p, d.present(p), lp.scored.poor)
        out.append({"pooling": name, "promised": [round(v, 3) for v in promised],
                    "scored": [round(v, 3) for v in scored],
                    "drift": [round(scored[0] - promised[0], 3), round(scored[1] - promised[1], 3)]})
    return out


#: promised specificities (share of the earlier period's Normal recordings below the threshold) the sweep visits
SWEEP_SPECIFICITIES = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99)


def operating_points(rs, lp, tolerance: float = 0.05) -> dict:
    """Is there any operating point of this model that holds on the later period? One threshold on the calibrated
    adventitious probability, swept from specificity 0.5 to 0.99 on the earlier period's nested out-of-fold
    probabilities (the promise), and scored with the model fitted on the earlier period on the later one. Then the
    oracle bound: the threshold chosen with the later period's own labels that comes closest to the shipped promise
    (if even it misses by more than the tolerance, no threshold, calibration or label-free shift of the score can
    meet the stability target: they all move one threshold along the same ranking)."""
    a = rs.classes.index("Adventitious")

    def split(pred):
        return (pred.probs[:, a], *_groups(rs, pred.recs, pred.poor))

    p_e, abn_e, norm_e = split(lp.nested)
    p_l, abn_l, norm_l = split(lp.scored)

    def figures(p, abn, norm, t):
        return float((p[abn] >= t).mean()), float((p[norm] < t).mean())

    shipped_t = float(lp.model.decider.thresholds["Adventitious"])
    rows = []
    for t in sorted([float(np.quantile(p_e[norm_e], q)) for q in SWEEP_SPECIFICITIES] + [shipped_t]):
        promised, scored = figures(p_e, abn_e, norm_e, t), figures(p_l, abn_l, norm_l, t)
        drift = (scored[0] - promised[0], scored[1] - promised[1])
        rows.append({"threshold": round(t, 4), "shipped": t == shipped_t,
                     "promised": [round(v, 3) for v in promised], "scored": [round(v, 3) for v in scored],
                     "drift": [round(v, 3) for v in drift], "within": bool(max(map(abs, drift)) <= tolerance)})
    promise = (float(lp.nested.present[abn_e, a].mean()), float(1 - lp.nested.present[norm_e, a].mean()))
    best = min((max(abs(f[0] - promise[0]), abs(f[1] - promise[1])), t, f)
               for t in np.unique(p_l) for f in [figures(p_l, abn_l, norm_l, t)])
    return {"sweep": rows, "tolerance": tolerance,
            "oracle": {"promise": [round(v, 3) for v in promise], "threshold": round(float(best[1]), 4),
                       "scored": [round(v, 3) for v in best[2]], "worst_drift": round(float(best[0]), 3)}}


def separability(rs, pool: np.ndarray) -> list[dict]:
    """Per length: patient-grouped CV AUC of telling the periods apart from Normal recordings' pooled embeddings."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pooled = np.zeros((rs.n, rs.X.shape[1]), np.float32)
    for r in pool:
        k = (rs.rec_of == r) & rs.usable
        if k.any():
            pooled[r] = rs.X[k].mean(axis=0)
    out = []
    for name, lo, hi in LENGTHS:
        sel = pool[(rs.labels[pool] == "Normal") & (rs.duration_s[pool] >= lo) & (rs.duration_s[pool] < hi)]
        y = rs.periods[sel] == "later"
        p = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000)),
                              pooled[sel], y, groups=rs.groups[sel], cv=GroupKFold(5), method="predict_proba")[:, 1]
        bands = pooled[sel][:, 1:65]  # acoustic encoder: level, then the 64 level-normalised log-mel band means
        diff = bands[y].mean(axis=0) - bands[~y].mean(axis=0)
        out.append({"length": name, "earlier": int((~y).sum()), "later": int(y.sum()),
                    "period_auc": round(float(roc_auc_score(y, p)), 3),
                    "band_difference_db": [round(float(v), 2) for v in diff]})
    return out


def main() -> int:
    import librosa

    from core.config import WINDOW_SECONDS, cache_dir, default_jobs
    from core.data.datasets import scan
    from core.encoders import get_encoder
    from core.encoders.acoustic import FMAX, FMIN, N_MELS, VERSION
    from core.encoders.cache import EmbeddingCache
    from core.heads.pipeline import TrainOptions, embed_for_training
    from core.heads.recording import RecordingSet, RespiratoryModel
    from core.heads.train_recording import leave_one_period_out
    from core.tasks import RECORD_PRESENCE, RESP_DETECTOR_CLASSES, RESP_TRAINING_SPLITS, RESPIRATORY

    t0 = time.time()
    head = RESPIRATORY.head(RESPIRATORY.main_head)
    enc = get_encoder("acoustic", window_features=RESPIRATORY.window_features)
    data = ROOT.parent / "shared" / "data" / "sprsound"
    ds = scan(data, head.dataset, None)
    opts = TrainOptions(jobs=default_jobs())
    emb = embed_for_training(ds.units, enc, EmbeddingCache(cache_dir() / "embeddings"), opts, RESPIRATORY.quality,
                             ("context",), head.name, print)
    rs = RecordingSet.from_embedded(emb, RESP_DETECTOR_CLASSES, WINDOW_SECONDS)
    pool = np.flatnonzero(np.isin(rs.splits, RESP_TRAINING_SPLITS))

    def factory() -> RespiratoryModel:
        return RespiratoryModel(rs.classes, RECORD_PRESENCE, folds=opts.folds, seed=opts.seed)

    print("leave one period out, earlier -> later (as the shipped training runs it)", flush=True)
    lp = leave_one_period_out(factory, rs, pool, "earlier", "later", opts.folds + 1, opts.seed + 1, opts.hop,
                              log=print)
    rows = (length_rows(rs, lp.nested, "earlier", "nested CV on the earlier period (the promise)")
            + length_rows(rs, lp.scored, "later", "fitted on the earlier period, scored on the later"))
    centres = librosa.mel_frequencies(n_mels=N_MELS + 2, fmin=FMIN, fmax=FMAX)[1:-1]
    OUT.write_text(json.dumps({
        "command": "python scripts/period_length.py", "encoder": VERSION, "answer": "Adventitious",
        "by_length": rows, "separability": separability(rs, pool), "poolings": pooling_rows(rs, lp),
        "operating_points": operating_points(rs, lp),
        "band_centres_hz": [round(float(c)) for c in centres],
        "drift_check": lp.report["drift"]["screen"], "seconds": round(time.time() - t0)}, indent=1) + "\n")
    print(f"wrote {OUT} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
