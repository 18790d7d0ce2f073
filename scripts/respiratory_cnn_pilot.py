"""Pilot, not shipped: a small learned model on log-mel windows for the respiratory task. `pip install torch==2.13.0`
(CPU build; not a project requirement), then:

- `python scripts/respiratory_cnn_pilot.py` (about 13 min on 2 cores with the training cache filled): does it rank
  the later recording period better than the built-in features? A 3-block CNN (about 30k weights) on 10-ms log-mel
  windows is fitted on the earlier period's usable windows (the labels of `core.windows.labels`, ambiguous ones
  masked; random time shift and frequency masking), its window probabilities are pooled by the mean over a
  recording's usable windows, and the later period's recordings are ranked by it, by the window detector fitted on
  the same recordings, and by the average of the two ranks. One fit with one seed.
- `python scripts/respiratory_cnn_pilot.py --shift` (about 5 min): does a learned representation shift less on the
  later period than the built-in features? The same protocol for both models: five patient-grouped folds of the
  earlier period give out-of-fold window probabilities (the promise), the later period is scored by the mean of the
  five fold models, the recording evidence is the mean over usable windows, and the adventitious screen's threshold
  is the equal-error point on the earlier out-of-fold recordings. A smaller CNN (8/16/24 channels on a 32-band,
  20-ms log-mel, time shifts only; about 30 s per fit) is compared with the window detector and with their average.

It prints and writes nothing. Single measurements for deciding what to put in the nested protocol, not validated
figures.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
try:
    import torch
    from torch import nn
except ImportError:
    raise SystemExit("This pilot needs PyTorch: pip install torch==2.13.0 (CPU build)") from None

from core.audio.decode import decode_audio  # noqa: E402
from core.config import SAMPLE_RATE, WINDOW_SECONDS, cache_dir  # noqa: E402
from core.data.datasets import scan  # noqa: E402
from core.data.embed import embed_units  # noqa: E402
from core.encoders import get_encoder  # noqa: E402
from core.encoders.cache import EmbeddingCache  # noqa: E402
from core.heads.recording import RecordingSet, RespiratoryModel, pool_scores  # noqa: E402
from core.tasks import RECORD_PRESENCE, RESP_DETECTOR_CLASSES, RESPIRATORY  # noqa: E402
from core.windows.labels import NEGATIVE, POSITIVE  # noqa: E402

HOP = 160  # 10 ms at 16 kHz
N_MELS = 64
EPOCHS = 8


def log_mel_windows(rs: RecordingSet, paths: list[str], n_mels: int = N_MELS, hop: int = HOP,
                    n_fft: int = 512, win_length: int = 400, center: bool = True) -> np.ndarray:
    """[n_windows, n_mels, frames] level-normalised log-mel (50-4000 Hz: SPRSound is sampled at 8 kHz) of every
    window. `center=False`: frame t covers samples [t * hop, t * hop + n_fft), so a window's frames start at its
    first sample."""
    import librosa

    frames = int(round(WINDOW_SECONDS * SAMPLE_RATE / hop))
    fb = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=n_fft, n_mels=n_mels, fmin=50, fmax=4000).astype(np.float32)
    out = np.zeros((len(rs.X), n_mels, frames), np.float32)
    for r, path in enumerate(paths):
        x = decode_audio(path).samples
        spec = np.log(fb @ np.abs(librosa.stft(x, n_fft=n_fft, hop_length=hop, win_length=win_length,
                                               center=center)) ** 2 + 1e-10)
        for i in np.flatnonzero(rs.rec_of == r):
            a = int(round(rs.start_s[i] * SAMPLE_RATE / hop))
            seg = spec[:, a:a + frames]
            if seg.shape[1] < frames:
                seg = np.pad(seg, ((0, 0), (0, frames - seg.shape[1])), mode="edge") if seg.shape[1] else \
                    np.full((n_mels, frames), np.log(1e-10), np.float32)
            out[i] = seg - np.median(seg)
    return out


class SmallCNN(nn.Module):
    def __init__(self, n_out: int, widths: tuple[int, int, int] = (16, 32, 48)):
        super().__init__()

        def block(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2))

        a, b, c = widths
        self.features = nn.Sequential(block(1, a), block(a, b), block(b, c), nn.Dropout(0.2))
        self.out = nn.Linear(2 * c, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x).mean(dim=2)  # over frequency: [batch, channels, time]
        return self.out(torch.cat([h.mean(-1), h.amax(-1)], 1))


def fit(X: np.ndarray, Y: np.ndarray, rng: np.random.Generator, epochs: int = EPOCHS,
        widths: tuple[int, int, int] = (16, 32, 48), lr: float = 1e-3, shift: int = 20,
        freq_mask: bool = True) -> SmallCNN:
    """Masked binary cross-entropy per class (ambiguous windows do not count), positives up-weighted up to 10x."""
    mask = np.isin(Y, [POSITIVE, NEGATIVE]).astype(np.float32)
    target = (Y == POSITIVE).astype(np.float32)
    pos_weight = torch.tensor(np.clip((mask * (1 - target)).sum(0) / np.maximum((mask * target).sum(0), 1), 1, 10),
                              dtype=torch.float32)
    net = SmallCNN(Y.shape[1], widths)
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-3)
    xs, ts, ms = torch.from_numpy(X)[:, None], torch.from_numpy(target), torch.from_numpy(mask)
    for epoch in range(epochs):
        net.train()
        t0, total = time.time(), 0.0
        for idx in torch.randperm(len(xs)).split(128):
            x = torch.roll(xs[idx], int(rng.integers(-shift, shift + 1)), dims=3)
            if freq_mask:  # up to 8 bands
                f0 = int(rng.integers(0, xs.shape[2] - 8))
                x[:, :, f0:f0 + int(rng.integers(0, 8))] = 0
            loss = nn.functional.binary_cross_entropy_with_logits(
                net(x), ts[idx], weight=ms[idx], pos_weight=pos_weight, reduction="sum") / ms[idx].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        print(f"  epoch {epoch}: loss {total / len(xs):.4f} ({time.time() - t0:.0f} s)", flush=True)
    return net.eval()


def predict(net: SmallCNN, X: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([torch.sigmoid(net(torch.from_numpy(b)[:, None])).numpy()
                               for b in np.array_split(X, max(1, len(X) // 512))])


def shift_check(rs: RecordingSet, mels: np.ndarray) -> None:
    """Both models in one protocol: out-of-fold on the earlier period (promise), the later period scored by the mean
    of the fold models; the adventitious screen at the equal-error point of the earlier out-of-fold recordings."""
    from sklearn.metrics import roc_auc_score

    from core.decisions.operating_points import equal_error_threshold
    from core.heads.detector import fit_detector
    from core.heads.training import grouped_folds

    a = rs.classes.index("Adventitious")
    earlier, later = np.flatnonzero(rs.periods == "earlier"), np.flatnonzero(rs.periods == "later")
    folds = grouped_folds(rs.labels[earlier] != "Normal", rs.groups[earlier], 5, seed=1)
    later_rows = rs.rows(later)
    probs = {m: np.full((len(rs.X), len(rs.classes)), np.nan) for m in ("detector", "CNN")}
    for m in probs:
        probs[m][later_rows] = 0.0
    for k, (tr, te) in enumerate(folds):
        recs = earlier[tr][rs.labels[earlier[tr]] != "Poor Quality"]
        rows = rs.rows(recs)
        test_rows = rs.rows(earlier[te])
        det = fit_detector(rs.classes, rs.X[rows], rs.Y[rows], rs.usable[rows], groups=rs.groups[rs.rec_of[rows]])
        probs["detector"][test_rows] = det.predict_proba(rs.X[test_rows])
        probs["detector"][later_rows] += det.predict_proba(rs.X[later_rows]) / len(folds)
        rows = rows[rs.usable[rows]]
        mu, sd = mels[rows].mean(), mels[rows].std()
        torch.manual_seed(k)
        net = fit((mels[rows] - mu) / sd, rs.Y[rows], np.random.default_rng(k), epochs=6, widths=(8, 16, 24), lr=2e-3,
                  shift=10, freq_mask=False)
        probs["CNN"][test_rows] = predict(net, (mels[test_rows] - mu) / sd)
        probs["CNN"][later_rows] += predict(net, (mels[later_rows] - mu) / sd) / len(folds)
        print(f"fold {k + 1}/{len(folds)} fitted", flush=True)
    probs["average of the two"] = (probs["detector"] + probs["CNN"]) / 2
    for m, p in probs.items():
        ev = {period: pool_scores(p, rs.rec_of, rs.usable, recs, "mean")[:, a] for period, recs in
              (("earlier", earlier), ("later", later))}
        y = {period: rs.labels[recs] for period, recs in (("earlier", earlier), ("later", later))}
        keep = {period: np.isin(v, ("Normal", "CAS", "DAS", "CAS & DAS")) for period, v in y.items()}
        pos = {period: y[period][keep[period]] != "Normal" for period in y}
        t = equal_error_threshold(pos["earlier"], ev["earlier"][keep["earlier"]])
        figs = {}
        for period, recs in (("earlier", earlier), ("later", later)):
            e, yy = ev[period][keep[period]], pos[period]
            short = (rs.duration_s[recs][keep[period]] < 12) & ~yy
            figs[period] = ((e[yy] >= t).mean(), (e[~yy] < t).mean(), roc_auc_score(yy, e), (e[short] >= t).mean())
        (se, pe, ae, fe), (sl, pl, al, fl) = figs["earlier"], figs["later"]
        print(f"{m:20s} earlier out-of-fold {se:.3f} / {pe:.3f} (AUC {ae:.3f}); later {sl:.3f} / {pl:.3f} "
              f"(AUC {al:.3f}); drift {sl - se:+.3f} / {pl - pe:+.3f}; false alarms on 9.2-s Normal recordings "
              f"{fe:.3f} -> {fl:.3f}", flush=True)


def main() -> int:
    from scipy.stats import rankdata
    from sklearn.metrics import roc_auc_score

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    ds = scan(ROOT.parent / "shared" / "data" / "sprsound", RESPIRATORY.head("recording").dataset)
    emb = embed_units(ds.units, get_encoder("acoustic", window_features=RESPIRATORY.window_features),
                      EmbeddingCache(cache_dir() / "embeddings"), thresholds=RESPIRATORY.quality)
    rs = RecordingSet.from_embedded(emb, RESP_DETECTOR_CLASSES, WINDOW_SECONDS)
    if "--shift" in sys.argv[1:]:
        torch.set_num_threads(2)
        shift_check(rs, log_mel_windows(rs, [str(u.path) for u in emb.units], n_mels=32, hop=320, n_fft=640,
                                        win_length=640, center=False))
        return 0
    mels = log_mel_windows(rs, [str(u.path) for u in emb.units])
    earlier, later = np.flatnonzero(rs.periods == "earlier"), np.flatnonzero(rs.periods == "later")
    rows = rs.rows(earlier[rs.labels[earlier] != "Poor Quality"])
    rows = rows[rs.usable[rows]]
    mu, sd = mels[rows].mean(), mels[rows].std()
    net = fit((mels[rows] - mu) / sd, rs.Y[rows], rng)
    later_rows = rs.rows(later)
    probs = np.full((len(rs.X), len(rs.classes)), np.nan)
    probs[later_rows] = predict(net, (mels[later_rows] - mu) / sd)
    cnn = pool_scores(probs, rs.rec_of, rs.usable, later, "mean")
    det = RespiratoryModel(rs.classes, RECORD_PRESENCE).fit(rs, earlier).predict(rs, later).scores
    labels = rs.labels[later]
    for j, c in enumerate(rs.classes):
        pos = tuple(k for k, v in RECORD_PRESENCE.items() if v and c in v)
        keep = np.isin(labels, pos + ("Normal",))
        y = np.isin(labels[keep], pos)
        both = rankdata(cnn[keep, j]) + rankdata(det[keep, j])
        print(f"{c}: later-period AUC, detector {roc_auc_score(y, det[keep, j]):.3f}, CNN "
              f"{roc_auc_score(y, cnn[keep, j]):.3f}, rank average {roc_auc_score(y, both):.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
