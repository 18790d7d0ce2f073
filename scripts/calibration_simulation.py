"""Does a local recalibration land where it was asked? A simulated new clinic (issue 26).

Respiratory: the recording model is fitted on the earlier SPRSound period only (the whole procedure, as shipped) and
answers the later period's recordings, which stand for a new clinic. Per split, the later period's patients are
halved at random; a profile is fitted on n recordings of the first half's patients (whole patients, in random order,
until n: 20, 50, 100, or all of the half) and the other half is answered with it. Reported over splits: the
held-out half's sensitivity and specificity per recording (adventitious and continuous-sound answers) and per child
(one examination per patient: the earliest recording of each site), at a requested sensitivity of 0.85 and at a
requested specificity of 0.80, beside the earlier period's own thresholds on the same half, how often the profile
was refused for too few recordings, and how often the held-out figure fell inside the CI the profile reported.
Cry: every cry answered by a head fitted on the other 17 infants (nested, as in the headline); profiles fitted on k
infants' cries, the other infants scored.

`python scripts/calibration_simulation.py` (about 10 minutes with warm embeddings) writes
trained/calibration_simulation.json, which the README, the Calibration page and `scripts/shipped_table.py` read.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.calibration.fit import ANSWERS  # noqa: E402
from core.calibration.simulation import simulate  # noqa: E402

OUT = ROOT / "trained" / "calibration_simulation.json"


def respiratory_rows(data: Path, cache_file: Path) -> tuple[list[dict], dict, dict]:
    """The later period's recordings answered by a model fitted on the earlier period only (cached: derived rows)."""
    if cache_file.is_file():
        c = json.loads(cache_file.read_text())
        return c["rows"], c["poolings"], c["child_rules"]
    from core.config import WINDOW_SECONDS, cache_dir, default_jobs
    from core.data.datasets import scan
    from core.encoders import get_encoder
    from core.encoders.cache import EmbeddingCache
    from core.heads.pipeline import TrainOptions, embed_for_training
    from core.heads.recording import RecordingSet, RespiratoryModel, recording_rows
    from core.tasks import RECORD_PRESENCE, RESP_DETECTOR_CLASSES, RESP_TRAINING_SPLITS, RESPIRATORY

    head = RESPIRATORY.head(RESPIRATORY.main_head)
    enc = get_encoder("acoustic", window_features=RESPIRATORY.window_features)
    ds = scan(data, head.dataset, None)
    emb = embed_for_training(ds.units, enc, EmbeddingCache(cache_dir() / "embeddings"),
                             TrainOptions(jobs=default_jobs()), RESPIRATORY.quality, ("context",), head.name, print)
    rs = RecordingSet.from_embedded(emb, RESP_DETECTOR_CLASSES, WINDOW_SECONDS)
    pool = np.flatnonzero(np.isin(rs.splits, RESP_TRAINING_SPLITS))
    earlier, later = pool[rs.periods[pool] == "earlier"], pool[rs.periods[pool] == "later"]
    print(f"fitting on {len(earlier)} earlier recordings; answering {len(later)} later ones", flush=True)
    model = RespiratoryModel(rs.classes, RECORD_PRESENCE, folds=4, seed=0).fit(rs, earlier, log=print)
    rows = recording_rows(rs, model.predict(rs, later))
    for r in rows:
        for key in ANSWERS["respiratory"]:
            r[f"d_{key}"] = r.pop(key)
    rules = {k: r.to_dict() for k, r in model.decider.child_rules.items()}
    poolings = {k: r.pooling for k, r in model.decider.child_rules.items()}
    cache_file.write_text(json.dumps({"rows": rows, "poolings": poolings, "child_rules": rules}))
    return rows, poolings, rules


def cry_rows(data: Path) -> list[dict]:
    """Every cry answered by a head (model, calibration, threshold) fitted on the other infants only."""
    from core.references.train import _load_design, nested_validation

    head, d = _load_design(data, "acoustic")
    run = nested_validation(d, "logreg", 1, "none", n_draws=1)
    p, pred = run["probabilities"][0], run["predicted"][0]
    return [{"uid": str(i), "patient": str(d.unit_groups[i]), "label": head.labels[d.unit_y[i]], "poor": False,
             "p_pain": float(p[i]), "d_pain": bool(pred[i])} for i in range(d.n_units)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--splits", type=int, default=50)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/calibration_rows.json"),
                    help="derived rows of the earlier-period model (never audio), reused between runs")
    args = ap.parse_args(argv)
    t0 = time.time()
    rows, poolings, rules = respiratory_rows(args.data / "sprsound", args.cache)
    later_people = len({r["patient"] for r in rows})
    resp = simulate(rows, "respiratory", [20, 50, 100, "all"], args.splits, poolings, rules, log=print)
    crows = cry_rows(args.data / "cry_pain")
    cry = simulate(crows, "cry", [5, 7, 9], args.splits, {}, {}, by_people=True, log=print)
    OUT.write_text(json.dumps({
        "command": "python scripts/calibration_simulation.py",
        "respiratory": {"results": resp, "recordings": len(rows), "patients": later_people,
                        "setting": "model fitted on the earlier SPRSound period only; the later period's patients "
                                   "halved at random per split; profile fitted on n recordings of the first half "
                                   "(whole patients in random order), the other half answered with it"},
        "cry": {"results": cry, "recordings": len(crows), "infants": len({r['patient'] for r in crows}),
                "setting": "every cry answered by a head fitted on the other infants (nested); profile fitted on "
                           "the cries of k infants, the other infants answered with it"},
        "splits": args.splits, "seconds": round(time.time() - t0)}, indent=1) + "\n")
    print(f"wrote {OUT} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
