"""What each design choice of the respiratory recording model buys, measured the way the shipped model is.

`python scripts/respiratory_ablation.py --data ../shared/data/sprsound` runs the earlier-period half of the shift
check of `core.heads.train_recording` (nested patient-grouped CV on the earlier period, the training release; then
the model refitted on all of it, scored once on the later period, the intra-patient release) once per variant,
changing one choice at a time from the shipped configuration, and writes `trained/respiratory/<encoder>/recording/ablation.json`, which
`scripts/shipped_table.py` folds into the model card, the metrics page and the README. Embeddings come from the
training cache (run `python -m core train --task respiratory ...` first). About an hour on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import WINDOW_SECONDS, cache_dir  # noqa: E402
from core.data.datasets import scan  # noqa: E402
from core.encoders import get_encoder  # noqa: E402
from core.encoders.cache import EmbeddingCache  # noqa: E402
from core.evaluation.model_card import fmt_ci  # noqa: E402
from core.heads.artifacts import artifact_dir  # noqa: E402
from core.heads.pipeline import TrainOptions, embed_for_training  # noqa: E402
from core.heads.recording import RecordingSet, RespiratoryModel, nested_predictions  # noqa: E402
from core.heads.train_recording import evaluate_predictions  # noqa: E402
from core.tasks import RECORD_PRESENCE, RESP_DETECTOR_CLASSES, RESPIRATORY  # noqa: E402

VARIANTS = {
    "shipped": "shipped: acoustic-3 features, labels at min(50 % of the event, 1 s), mean pooling, gradient boosting",
    "no_mel_detail": "without the 10-ms log-mel detail (the acoustic-2 features)",
    "labels_any_overlap": "window labels: any overlap with an event makes a window positive",
    "labels_whole_event": "window labels: only a window holding the whole event (or 1 s of it) is positive",
    "pool_max": "recording evidence: maximum instead of mean of the window probabilities",
    "pool_top2": "recording evidence: mean of the two highest window probabilities",
    "logreg": "detector: logistic regression instead of gradient boosting",
    "per_recording_norm": "per-recording normalisation: features minus the recording's median appended",
}


def _row(name: str, ev_cv: dict, ev_intra: dict, seconds: float) -> dict:
    def screen(ev):
        s = ev["answers"]["screen"]
        return f"{s['sensitivity']:.3f} / {s['specificity']:.3f} (AUC {s['metrics']['roc_auc']:.3f})"

    def scores(ev):
        r = ev["record"]["rule"]
        a = ev["record"]["argmax"]
        return (f"{r['task_2_1']['metrics']['Score']:.3f} / {r['metrics']['Score']:.3f} (argmax "
                f"{a['task_2_1']['metrics']['Score']:.3f} / {a['metrics']['Score']:.3f})")

    det = ev_cv.get("detection") or {}
    return {"variant": VARIANTS[name], "key": name, "cv_screen": screen(ev_cv), "cv_scores": scores(ev_cv),
            "intra_screen": screen(ev_intra), "intra_scores": scores(ev_intra),
            "cv_window_auc": " / ".join(f"{c} {det[c]['roc_auc']:.3f}" for c in det) or "–",
            "asthma_cv": fmt_ci(ev_cv["answers"]["continuous"]["metrics"]["roc_auc"], None),
            "asthma_intra": fmt_ci(ev_intra["answers"]["continuous"]["metrics"]["roc_auc"], None),
            "seconds": round(seconds)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sprsound")
    ap.add_argument("--encoder", default="acoustic")
    ap.add_argument("--only", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--rerun-shipped", action="store_true",
                    help="rerun the shipped configuration instead of reading the trained model's metrics.json")
    args = ap.parse_args(argv)
    encoder = get_encoder(args.encoder)
    head = RESPIRATORY.head("recording")
    opts = TrainOptions()
    ds = scan(args.data, head.dataset)
    emb = embed_for_training(ds.units, encoder, EmbeddingCache(cache_dir() / "embeddings"), opts,
                             RESPIRATORY.quality, ("context",), "recordings", print)
    base = RecordingSet.from_embedded(emb, RESP_DETECTOR_CLASSES, WINDOW_SECONDS)
    out_path = artifact_dir("respiratory", encoder.info.name, "recording") / "ablation.json"
    done = json.loads(out_path.read_text())["rows"] if out_path.is_file() else []
    rows = {r["key"]: r for r in done}

    def write() -> None:
        out_path.write_text(json.dumps({
            "note": "Each row changes one choice from the shipped configuration and reruns the earlier-period half "
                    "of the shift check: nested patient-grouped 5-fold CV on the training release (CV) and the model "
                    "refitted on all of it scored once on the intra-patient release (intra, the same patients "
                    "recorded later). Screen: sensitivity / specificity on normal recordings (AUC); Scores: SPRSound task 2-1 "
                    "/ 2-2 of the shipped thresholded rule (plain argmax of the same probabilities in brackets). "
                    "Command: python scripts/respiratory_ablation.py",
            "rows": [rows[k] for k in VARIANTS if k in rows]}, indent=1))

    metrics_path = out_path.parent / "metrics.json"
    for name in args.only:
        t0 = time.time()
        if name == "shipped" and metrics_path.is_file() and not args.rerun_shipped:
            # the shipped configuration is exactly what `python -m core train` just ran in its shift check: same
            # protocol, same seeds
            sh = json.loads(metrics_path.read_text())["shift"]["earlier_to_later"]
            rows[name] = _row(name, sh["promised"], sh["scored"], 0.0)
            write()
            continue
        rs, model_kw = base, {}
        if name == "no_mel_detail":
            rs = replace(base, X=base.X[:, :encoder.blocks["mel_detail"].start])
        elif name in ("labels_any_overlap", "labels_whole_event"):
            kw = {"min_fraction": 0.0, "min_overlap_s": 0.0} if name == "labels_any_overlap" else \
                {"min_fraction": 1.0, "min_overlap_s": 1.0}
            rs = RecordingSet.from_embedded(emb, RESP_DETECTOR_CLASSES, WINDOW_SECONDS, **kw)
        elif name == "pool_max":
            model_kw["pooling"] = "max"
        elif name == "pool_top2":
            model_kw["pooling"] = "top2"
        elif name == "logreg":
            model_kw["detector_model"] = "logreg"
        elif name == "per_recording_norm":
            med = np.zeros_like(base.X)
            for r in range(base.n):
                m = base.rec_of == r
                pick = m & base.usable if (m & base.usable).any() else m
                med[m] = np.median(base.X[pick], axis=0)
            rs = replace(base, X=np.concatenate([base.X, base.X - med], axis=1))

        def factory():
            return RespiratoryModel(rs.classes, RECORD_PRESENCE, folds=opts.folds, seed=opts.seed, **model_kw)

        train = np.flatnonzero(rs.splits == "train")
        intra = np.flatnonzero(rs.splits == "test_intra")
        nested, fold_of, models = nested_predictions(factory, rs, train, opts.folds + 1, opts.seed + 1)
        fold = {r: f for r, f in zip(train.tolist(), fold_of.tolist())}
        ev_cv = evaluate_predictions(rs, nested, "nested CV", lambda r: models[fold[r]].decider.window_thresholds,
                                     opts.hop)
        shipped = factory().fit(rs, train)
        ev_in = evaluate_predictions(rs, shipped.predict(rs, intra), "intra",
                                     lambda r: shipped.decider.window_thresholds, opts.hop)
        rows[name] = _row(name, ev_cv, ev_in, time.time() - t0)
        print(json.dumps(rows[name]), flush=True)
        write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
