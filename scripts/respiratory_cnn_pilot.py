"""Pilot, not shipped: does a small learned model on 10-ms log-mel windows rank the later recording period better
than the built-in features? `pip install torch==2.13.0` (CPU build; not a project requirement), then
`python scripts/respiratory_cnn_pilot.py` (about 13 min on 2 cores with the training cache filled).

A 3-block CNN (about 30k weights) is fitted on the earlier period's usable windows (the labels of
`core.windows.labels`, ambiguous ones masked; random time shift and frequency masking), its window probabilities are
pooled by the mean over a recording's usable windows, and the later period's recordings are ranked by it, by the
window detector fitted on the same recordings, and by the average of the two ranks. It prints and writes nothing.
One fit with one seed: a pilot for the nested protocol, not a validated figure.
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
FRAMES = 200  # one 2-s window
N_MELS = 64
EPOCHS = 8


def log_mel_windows(rs: RecordingSet, paths: list[str]) -> np.ndarray:
    """[n_windows, 64, 200] level-normalised log-mel (50-4000 Hz: SPRSound is sampled at 8 kHz) of every window."""
    import librosa

    fb = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=512, n_mels=N_MELS, fmin=50, fmax=4000).astype(np.float32)
    out = np.zeros((len(rs.X), N_MELS, FRAMES), np.float32)
    for r, path in enumerate(paths):
        x = decode_audio(path).samples
        spec = np.log(fb @ np.abs(librosa.stft(x, n_fft=512, hop_length=HOP, win_length=400)) ** 2 + 1e-10)
        for i in np.flatnonzero(rs.rec_of == r):
            a = int(round(rs.start_s[i] * SAMPLE_RATE / HOP))
            seg = spec[:, a:a + FRAMES]
            if seg.shape[1] < FRAMES:
                seg = np.pad(seg, ((0, 0), (0, FRAMES - seg.shape[1])), mode="edge") if seg.shape[1] else \
                    np.full((N_MELS, FRAMES), np.log(1e-10), np.float32)
            out[i] = seg - np.median(seg)
    return out


class SmallCNN(nn.Module):
    def __init__(self, n_out: int):
        super().__init__()

        def block(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2))

        self.features = nn.Sequential(block(1, 16), block(16, 32), block(32, 48), nn.Dropout(0.2))
        self.out = nn.Linear(96, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x).mean(dim=2)  # over frequency: [batch, channels, time]
        return self.out(torch.cat([h.mean(-1), h.amax(-1)], 1))


def fit(X: np.ndarray, Y: np.ndarray, rng: np.random.Generator) -> SmallCNN:
    """Masked binary cross-entropy per class (ambiguous windows do not count), positives up-weighted up to 10x."""
    mask = np.isin(Y, [POSITIVE, NEGATIVE]).astype(np.float32)
    target = (Y == POSITIVE).astype(np.float32)
    pos_weight = torch.tensor(np.clip((mask * (1 - target)).sum(0) / np.maximum((mask * target).sum(0), 1), 1, 10),
                              dtype=torch.float32)
    net = SmallCNN(Y.shape[1])
    opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=1e-3)
    xs, ts, ms = torch.from_numpy(X)[:, None], torch.from_numpy(target), torch.from_numpy(mask)
    for epoch in range(EPOCHS):
        net.train()
        t0, total = time.time(), 0.0
        for idx in torch.randperm(len(xs)).split(128):
            x = torch.roll(xs[idx], int(rng.integers(-20, 21)), dims=3)
            f0 = int(rng.integers(0, N_MELS - 8))
            x[:, :, f0:f0 + int(rng.integers(0, 8))] = 0
            loss = nn.functional.binary_cross_entropy_with_logits(
                net(x), ts[idx], weight=ms[idx], pos_weight=pos_weight, reduction="sum") / ms[idx].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        print(f"epoch {epoch}: loss {total / len(xs):.4f} ({time.time() - t0:.0f} s)", flush=True)
    return net.eval()


def main() -> int:
    from scipy.stats import rankdata
    from sklearn.metrics import roc_auc_score

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    ds = scan(ROOT.parent / "shared" / "data" / "sprsound", RESPIRATORY.head("recording").dataset)
    emb = embed_units(ds.units, get_encoder("acoustic"), EmbeddingCache(cache_dir() / "embeddings"),
                      thresholds=RESPIRATORY.quality)
    rs = RecordingSet.from_embedded(emb, RESP_DETECTOR_CLASSES, WINDOW_SECONDS)
    mels = log_mel_windows(rs, [str(u.path) for u in emb.units])
    earlier, later = np.flatnonzero(rs.periods == "earlier"), np.flatnonzero(rs.periods == "later")
    rows = rs.rows(earlier[rs.labels[earlier] != "Poor Quality"])
    rows = rows[rs.usable[rows]]
    mu, sd = mels[rows].mean(), mels[rows].std()
    net = fit((mels[rows] - mu) / sd, rs.Y[rows], rng)
    later_rows = rs.rows(later)
    probs = np.full((len(rs.X), len(rs.classes)), np.nan)
    with torch.no_grad():
        probs[later_rows] = np.concatenate([torch.sigmoid(net(torch.from_numpy((mels[b] - mu) / sd)[:, None])).numpy()
                                            for b in np.array_split(later_rows, max(1, len(later_rows) // 512))])
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
