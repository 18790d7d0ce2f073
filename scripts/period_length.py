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
level-normalised log-mel band means), later minus earlier.

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


def length_rows(rs, pred, recs_period: str, source: str) -> list[dict]:
    """Per length: Normal recordings' false alarms, evidence and window probability; abnormal ones' sensitivity."""
    a = rs.classes.index("Adventitious")
    recs = pred.recs
    good = ~pred.poor
    out = []
    for name, lo, hi in LENGTHS:
        in_len = (rs.duration_s[recs] >= lo) & (rs.duration_s[recs] < hi) & good
        normal = in_len & (rs.labels[recs] == "Normal")
        abnormal = in_len & np.isin(rs.labels[recs], ABNORMAL)
        win = []
        for i in np.flatnonzero(normal):
            rows = np.isin(pred.window_rows, rs.rows(np.array([recs[i]])))
            rows &= rs.usable[pred.window_rows]
            if rows.any():
                win.append(float(pred.window_probs[rows, a].mean()))
        out.append({
            "period": recs_period, "source": source, "length": name,
            "normal_recordings": int(normal.sum()), "normal_patients": int(len(np.unique(rs.groups[recs[normal]]))),
            "false_alarm_rate": round(float(pred.present[normal, a].mean()), 3) if normal.any() else None,
            "median_evidence": round(float(np.median(pred.scores[normal, a])), 4) if normal.any() else None,
            "mean_window_probability": round(float(np.mean(win)), 4) if win else None,
            "abnormal_recordings": int(abnormal.sum()),
            "sensitivity": round(float(pred.present[abnormal, a].mean()), 3) if abnormal.any() else None,
        })
    return out


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
        "by_length": rows, "separability": separability(rs, pool),
        "band_centres_hz": [round(float(c)) for c in centres],
        "drift_check": lp.report["drift"]["screen"], "seconds": round(time.time() - t0)}, indent=1) + "\n")
    print(f"wrote {OUT} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
