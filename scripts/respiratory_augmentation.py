"""Does training-time augmentation make an operating point fitted on the earlier recording period hold on the later
one? `python scripts/respiratory_augmentation.py` (about 13 min on 2 cores with the training cache filled by
`python -m core train --task respiratory ...`; it prints, it writes nothing).

One augmented copy of every earlier-period recording, made to imitate another stethoscope or room: a peaking filter
of +-4 dB at 300-1200 Hz, a spectral tilt (high-frequency emphasis or de-emphasis), coloured noise at 20-35 dB SNR and
+-6 dB of gain. The copy goes through the app's framing, quality gate and encoder, keeps the original's labels and
events, and joins the training data as a recording of the same patient (so patient-grouped folds keep it with its
original). The augmented and the plain model are fitted on the earlier period in the same run and score the later
period once; the out-of-fold figures on the original recordings stand for what each would promise.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from scipy import signal
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.audio.decode import decode_audio  # noqa: E402
from core.config import SAMPLE_RATE, WINDOW_SAMPLES, WINDOW_SECONDS, cache_dir  # noqa: E402
from core.data.datasets import scan  # noqa: E402
from core.data.embed import embed_units  # noqa: E402
from core.encoders import get_encoder  # noqa: E402
from core.encoders.cache import EmbeddingCache  # noqa: E402
from core.heads.recording import RecordingPredictions, RecordingSet, RespiratoryModel  # noqa: E402
from core.quality.gate import assess_windows, recording_floor  # noqa: E402
from core.tasks import RECORD_PRESENCE, RESP_ANSWERS, RESP_DETECTOR_CLASSES, RESPIRATORY  # noqa: E402
from core.windows.framing import describe, frame  # noqa: E402


def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    f0, gain_db, q = rng.uniform(300, 1200), rng.uniform(-4, 4), rng.uniform(0.7, 1.5)
    a_, w0 = 10 ** (gain_db / 40), 2 * np.pi * f0 / SAMPLE_RATE
    alpha = np.sin(w0) / (2 * q)
    y = signal.lfilter([1 + alpha * a_, -2 * np.cos(w0), 1 - alpha * a_],
                       [1 + alpha / a_, -2 * np.cos(w0), 1 - alpha / a_], x)  # RBJ peaking filter
    tilt = rng.uniform(-3, 3)
    if abs(tilt) > 0.3:  # + or - a share of the first difference (+6 dB/octave): high-frequency emphasis or cut
        y = y + np.sign(tilt) * (abs(tilt) / 3) * np.diff(y, prepend=y[0])
    rms = np.sqrt(np.mean(y ** 2)) + 1e-9
    noise = signal.lfilter([1], [1, -0.9], rng.normal(0, 1, len(y)))
    noise *= rms / (np.sqrt(np.mean(noise ** 2)) + 1e-12) * 10 ** (-rng.uniform(20, 35) / 20)
    return np.clip((y + noise) * 10 ** (rng.uniform(-6, 6) / 20), -1, 1).astype(np.float32)


def figures(name: str, m: RespiratoryModel, data: RecordingSet, later: np.ndarray, n_original: int) -> None:
    pred, oof = m.predict(data, later), m.oof_
    orig = oof.recs < n_original  # the promise: out-of-fold figures on original recordings only
    oof = RecordingPredictions(oof.recs[orig], oof.window_rows, oof.window_probs, oof.scores[orig], oof.probs[orig],
                               oof.p_poor[orig], oof.present[orig], oof.poor[orig], oof.record_label[orig])
    out = []
    for key, a in RESP_ANSWERS.items():
        j, pos = data.classes.index(a["class"]), a["positives"]

        def sens_spec(p: RecordingPredictions) -> tuple[float, float, float]:
            labels = data.labels[p.recs]
            keep = np.isin(labels, pos + a["negatives"]) & ~p.poor
            y, decided = np.isin(labels[keep], pos), p.present[keep, j] & p.present[keep, 0]
            return decided[y].mean(), 1 - decided[~y].mean(), roc_auc_score(y, p.probs[keep, j])

        o, s = sens_spec(oof), sens_spec(pred)
        out.append(f"{key}: promised {o[0]:.3f}/{o[1]:.3f} (AUC {o[2]:.3f}) -> later {s[0]:.3f}/{s[1]:.3f} "
                   f"(AUC {s[2]:.3f}; drift {s[0] - o[0]:+.3f}/{s[1] - o[1]:+.3f})")
    print(f"{name:10s} " + " | ".join(out), flush=True)


def main() -> int:
    rng = np.random.default_rng(0)
    ds = scan(ROOT.parent / "shared" / "data" / "sprsound", RESPIRATORY.head("recording").dataset)
    enc = get_encoder("acoustic")
    emb = embed_units(ds.units, enc, EmbeddingCache(cache_dir() / "embeddings"), thresholds=RESPIRATORY.quality)
    rs = RecordingSet.from_embedded(emb, RESP_DETECTOR_CLASSES, WINDOW_SECONDS)
    earlier, later = np.flatnonzero(rs.periods == "earlier"), np.flatnonzero(rs.periods == "later")
    t0 = time.time()
    Xa, usable_a = np.zeros_like(rs.X), np.zeros_like(rs.usable)
    for r in earlier.tolist():
        y = augment(decode_audio(str(emb.units[r].path)).samples, rng)
        rows = np.flatnonzero(rs.rec_of == r)
        starts = np.round(rs.start_s[rows] * SAMPLE_RATE).astype(int)
        batch = frame(y, starts)
        q = assess_windows(batch, describe(starts, len(y)), clip_has_full_window=len(y) >= WINDOW_SAMPLES,
                           th=RESPIRATORY.quality, floor_dbfs=recording_floor(y, RESPIRATORY.quality))
        Xa[rows], usable_a[rows] = enc.embed(batch), [w.usable for w in q]
    print(f"augmented {len(earlier)} recordings in {time.time() - t0:.0f} s", flush=True)
    n, sel = rs.n, rs.rows(earlier)
    cat = np.concatenate
    both = RecordingSet(cat([rs.uids, rs.uids[earlier]]), cat([rs.groups, rs.groups[earlier]]),
                        cat([rs.labels, rs.labels[earlier]]), cat([rs.splits, rs.splits[earlier]]),
                        cat([rs.duration_s, rs.duration_s[earlier]]), list(rs.events) + [rs.events[r] for r in earlier],
                        cat([rs.X, Xa[sel]]), cat([rs.rec_of, n + np.searchsorted(earlier, rs.rec_of[sel])]),
                        cat([rs.usable, usable_a[sel]]), cat([rs.start_s, rs.start_s[sel]]),
                        cat([rs.rms_dbfs, rs.rms_dbfs[sel]]), cat([rs.clip_ratio, rs.clip_ratio[sel]]),
                        cat([rs.Y, rs.Y[sel]]), rs.classes)
    figures("plain", RespiratoryModel(rs.classes, RECORD_PRESENCE).fit(rs, earlier), rs, later, n)
    augmented = RespiratoryModel(rs.classes, RECORD_PRESENCE).fit(both, cat([earlier, n + np.arange(len(earlier))]))
    figures("augmented", augmented, both, later, n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
