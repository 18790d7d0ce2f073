"""Does cutting the timeline's segments at the breathing pauses separate events? `python scripts/timeline_refinement.py`

Out-of-fold window probabilities of the respiratory detector (patient-grouped 4-fold CV over both recording
periods, the shipped detector's settings; window thresholds at the best window F1 on them, as the shipped model
fits them), the event timeline built from them as the app builds it, then cut by the breath envelope
(`core.decisions.timeline.refine`) at several levels. Scored against the annotated events of every recording
(Poor Quality excluded) with the overlap, 1-s onset and sound-event-detection (onset/offset) criteria.

The level is never scored on the recordings it was chosen on: chosen on the earlier period, scored on the later,
and the other way round; the shipped level is chosen on both periods and written, with every figure, to
trained/respiratory/acoustic/recording/timeline_refinement.json (read by the app; not covered by the artefact's
hashes, like ablation.json). About 10 min on 2 cores with the training cache filled.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from core.audio.decode import decode_audio  # noqa: E402
from core.config import WINDOW_SECONDS, cache_dir  # noqa: E402
from core.data.datasets import scan  # noqa: E402
from core.data.embed import embed_units  # noqa: E402
from core.decisions.operating_points import f1_threshold  # noqa: E402
from core.decisions.timeline import Refinement, build_timeline, refine  # noqa: E402
from core.encoders import get_encoder  # noqa: E402
from core.encoders.cache import EmbeddingCache  # noqa: E402
from core.evaluation.events import CRITERIA, Counts, error_rate, event_scores, recording_counts  # noqa: E402
from core.heads.detector import WindowDetector  # noqa: E402
from core.heads.recording import POOR_QUALITY, RecordingSet  # noqa: E402
from core.heads.training import grouped_folds  # noqa: E402
from core.tasks import RESP_DETECTOR_CLASSES, RESP_TIMELINE_TYPES, RESPIRATORY  # noqa: E402
from core.windows.envelope import ENVELOPE_HOP_S, breath_envelope  # noqa: E402
from core.windows.labels import AMBIGUOUS, POSITIVE  # noqa: E402

LEVELS = (None, 0.1, 0.2, 0.3, 0.4, 0.5)  # None: the unrefined 1-s timeline
OUT = ROOT / "trained" / "respiratory" / "acoustic" / "recording" / "timeline_refinement.json"
HOP_S = 1.0


def counts_for(rs, P, thresholds, envs, recs, level) -> dict[str, list[dict[str, Counts]]]:
    out = {c: [] for c in CRITERIA}
    rule = None if level is None else Refinement(level)
    for r in recs.tolist():
        rows = np.flatnonzero(rs.rec_of == r)
        tl = build_timeline(P[rows], rs.start_s[rows], rs.usable[rows], float(rs.duration_s[r]), rs.classes,
                            thresholds, RESP_TIMELINE_TYPES, HOP_S)
        tl = refine(tl, envs[r], ENVELOPE_HOP_S, rule)
        for c in CRITERIA:
            out[c].append(recording_counts(rs.events[r], tl.segments, float(rs.duration_s[r]), RESP_DETECTOR_CLASSES,
                                           RESP_TIMELINE_TYPES, c))
    return out


def summary(rs, counts, recs, split: str) -> dict:
    res = {}
    for c in CRITERIA:
        ev = event_scores(counts[c], rs.groups[recs], RESP_TIMELINE_TYPES, split=split, criterion=c, n_boot=300)
        for t in RESP_TIMELINE_TYPES:
            total = sum((x[t] for x in counts[c]), Counts(0, 0, 0))
            ev["classes"][t]["error_rate"] = error_rate(total)
        res[c] = ev
    return res


def objective(s: dict) -> float:
    """What a level is chosen for: the mean overlap F1 of the two event kinds (separate events found as separate
    segments, few extra ones)."""
    return float(np.mean([s["overlap"]["classes"][t]["f1"] for t in RESP_TIMELINE_TYPES]))


def main() -> int:
    t0 = time.time()
    ds = scan(ROOT.parent / "shared" / "data" / "sprsound", RESPIRATORY.head("recording").dataset)
    enc = get_encoder("acoustic")
    emb = embed_units(ds.units, enc, EmbeddingCache(cache_dir() / "embeddings"), thresholds=RESPIRATORY.quality)
    rs = RecordingSet.from_embedded(emb, RESP_DETECTOR_CLASSES, WINDOW_SECONDS)
    print(f"{rs.n} recordings embedded ({time.time() - t0:.0f} s)", flush=True)
    recs = np.arange(rs.n)
    P = np.full((len(rs.X), len(rs.classes)), np.nan)
    for n, (tr, te) in enumerate(grouped_folds(rs.labels, rs.groups, 4, 0), 1):
        rows_tr, rows_te = rs.rows(recs[tr]), rs.rows(recs[te])
        det = WindowDetector(rs.classes).fit(rs.X[rows_tr], rs.Y[rows_tr], rs.usable[rows_tr],
                                             groups=rs.groups[rs.rec_of[rows_tr]])
        P[rows_te] = det.predict_proba(rs.X[rows_te])
        print(f"fold {n}: detector fitted ({time.time() - t0:.0f} s)", flush=True)
    good = recs[rs.labels != POOR_QUALITY]
    rows = rs.rows(good)
    thresholds = {}
    for j, c in enumerate(rs.classes):
        ok = rows[rs.usable[rows] & (rs.Y[rows, j] != AMBIGUOUS)]
        thresholds[c] = f1_threshold(rs.Y[ok, j] == POSITIVE, P[ok, j])
    envs = {}
    for r in good.tolist():
        envs[r] = breath_envelope(decode_audio(str(emb.units[r].path)).samples)
    print(f"envelopes ({time.time() - t0:.0f} s)", flush=True)
    periods = {p: good[rs.periods[good] == p] for p in ("earlier", "later")}
    results: dict = {}
    for level in LEVELS:
        key = "none" if level is None else f"{level:g}"
        results[key] = {p: summary(rs, counts_for(rs, P, thresholds, envs, rp, level), rp, f"{p} period, out of fold")
                        for p, rp in periods.items()}
        results[key]["both"] = summary(rs, counts_for(rs, P, thresholds, envs, good, level), good,
                                       "both periods, out of fold")
        print(key, {p: round(objective(results[key][p]), 3) for p in ("earlier", "later", "both")}, flush=True)
    levels = list(results)  # "none" competes: the refinement must earn its place
    shift, held = {}, []
    for fit_on, score_on in (("earlier", "later"), ("later", "earlier")):
        best = max(levels, key=lambda k: objective(results[k][fit_on]))
        shift[f"{fit_on}->{score_on}"] = {"level": None if best == "none" else float(best),
                                         "before": results["none"][score_on], "after": results[best][score_on]}
        held.append(objective(results[best][score_on]) > objective(results["none"][score_on]))
    # shipped only if the level chosen on one period improved the other, both ways; else the 1-s timeline stays
    chosen = max(levels, key=lambda k: objective(results[k]["both"]))
    shipped = chosen if all(held) else "none"
    out = {
        "note": "Event timeline cut at breathing pauses (core.decisions.timeline.refine): the level is chosen on one "
                "recording period and scored on the other (shift), and the shipped level on both periods. Window "
                "probabilities are patient-grouped 4-fold out of fold over both periods. Command: "
                "python scripts/timeline_refinement.py",
        "window_thresholds": thresholds, "levels": [k for k in results], "objective": "mean overlap F1 of CAS and DAS",
        "shift": shift, "held_both_ways": held,
        "shipped": {"rule": None if shipped == "none" else Refinement(float(shipped)).to_dict(),
                    "candidate": chosen, "before": results["none"]["both"], "after": results[chosen]["both"]},
        "by_level": {k: {p: {c: {t: {m: v[c]["classes"][t][m] for m in ("f1", "precision", "recall", "error_rate")}
                                 for t in RESP_TIMELINE_TYPES} for c in CRITERIA} for p, v in res.items()}
                     for k, res in results.items()},
    }
    OUT.write_text(json.dumps(out, indent=1, default=float))
    print(f"shipped level {shipped} (candidate {chosen}, held both ways: {held}); written {OUT} "
          f"({time.time() - t0:.0f} s)")
    for k, v in shift.items():
        print(k, "level", v["level"], "overlap F1 before", {t: round(v["before"]["overlap"]["classes"][t]["f1"], 3)
                                                           for t in RESP_TIMELINE_TYPES},
              "after", {t: round(v["after"]["overlap"]["classes"][t]["f1"], 3) for t in RESP_TIMELINE_TYPES})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
