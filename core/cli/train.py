"""Train shipped heads: `python -m core train --task cry --encoder acoustic --data ../shared/data/cry_pain`.

The dataset layout is recognised from the folder (SPRSound, cry_pain, donateacry, or one folder per class for
your own data) and decides which heads are trained. Output: trained/<task>/<encoder>/<head>/ (see core.heads.artifacts).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from core.heads.artifacts import Projection, artifact_dir, save_artifact
from core.encoders.cache import EmbeddingCache
from core.config import DEFAULT_HOP_SECONDS, QualityThresholds, cache_dir
from core.data.datasets import LAYOUT_HEADS, detect_layout, scan
from core.data.embed import EmbeddedSet, embed_units
from core.encoders import EncoderUnavailable, get_encoder
from core.heads.training import CANDIDATES, DEFAULT_CANDIDATES, Design, build_design, predict_units, train_head
from core.evaluation.metrics import SCORE_RULE, Decision, evaluate, score_tuned_divisors
from core.evaluation.model_card import model_card
from core.evaluation.references import references_for
from core.tasks import RECORD_2_1, HeadSpec, custom_head, get_task


def _progress(desc: str):
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="file", file=sys.stderr, mininterval=2.0, dynamic_ncols=True)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def unit_projection_features(art_base, d: Design) -> np.ndarray:
    """One point per unit: the mean of its scaled samples (windows) or its scaled pooled embedding."""
    Z = art_base[0].transform(d.X)
    sums = np.zeros((d.n_units, Z.shape[1]))
    np.add.at(sums, d.sample_unit, Z)
    return sums / np.maximum(np.bincount(d.sample_unit, minlength=d.n_units), 1)[:, None]


def evaluate_official_splits(emb: EmbeddedSet, head: HeadSpec, outcome, log, dec_2_1: Decision | None = None,
                             ) -> dict:
    """Official test splits shipped with the data (e.g. SPRSound intra-patient), scored by the final model."""
    out = {}
    splits = sorted({u.split for u in emb.units} - {"train"})
    k = len(head.labels)
    for split in splits:
        idx = np.asarray([i for i, u in enumerate(emb.units) if u.split == split])
        d, skipped = build_design(emb, head, idx)
        if d.n_units == 0:
            continue
        p = predict_units(outcome.base, outcome.calibrator, d, np.arange(d.n_units), k)
        train_groups = {u.group for u in emb.units if u.split == "train"}
        overlap = len(set(d.unit_groups) & train_groups)
        note = (f"same patients as training ({overlap} of {len(set(d.unit_groups))} patients also in training)"
                if overlap else "patients unseen in training")
        name = {"test_intra": "official intra-patient test", "test_inter": "official inter-patient test"}.get(split, split)
        res = evaluate(d.unit_y, p, d.unit_groups, outcome.decision, split=f"{name}: {note}",
                       normal_label=head.negative_label)
        res["skipped"] = len(skipped)
        for view in sorted(set(d.view.tolist()) - {head.score_view}):
            pv = predict_units(outcome.base, outcome.calibrator, d.rescored(view), np.arange(d.n_units), k)
            res.setdefault("other_views", {})[view] = evaluate(
                d.unit_y, pv, d.unit_groups, outcome.decision, split=f"{name}, scored on the '{view}' view: {note}",
                normal_label=head.negative_label)
        if dec_2_1 is not None:
            res["task_2_1"] = _record_2_1(d.unit_y, p, d.unit_groups, dec_2_1, head, res["split"])
        out[split] = res
        m = res["metrics"]
        log(f"  {name}: {d.n_units} {head.unit}s" + (f", SPRSound Score {m['Score']:.3f}" if "Score" in m else ""))
    return out


COARSE_2_1 = ("Normal", "Adventitious", "Poor Quality")


def merge_2_1(p: np.ndarray, head: HeadSpec) -> np.ndarray:
    """Task 2-1 probabilities: the record head's CAS, DAS and CAS & DAS probabilities summed."""
    out = np.zeros((len(p), len(COARSE_2_1)))
    for j, lab in enumerate(head.labels):
        out[:, COARSE_2_1.index(RECORD_2_1[lab])] += p[:, j]
    return out


def _to3(head: HeadSpec) -> np.ndarray:
    return np.asarray([COARSE_2_1.index(RECORD_2_1[lab]) for lab in head.labels])


def decision_2_1(y: np.ndarray, p: np.ndarray, head: HeadSpec) -> Decision:
    """Task 2-1 gets its own rule, tuned like the head's on out-of-fold predictions (the best 5-class rule is not
    the best 3-class one)."""
    div, _ = score_tuned_divisors(_to3(head)[y], merge_2_1(p, head), 0)
    return Decision(COARSE_2_1, priors=tuple(float(v) for v in div), rule=SCORE_RULE)


def _record_2_1(y: np.ndarray, p: np.ndarray, groups: np.ndarray, decision: Decision, head: HeadSpec,
                split: str) -> dict:
    """The full evaluation (CIs, per-class recall, confusion matrix) of the task 2-1 view of the same records."""
    return evaluate(_to3(head)[y], merge_2_1(p, head), groups, decision, normal_label="Normal",
                    split=f"SPRSound task 2-1 view of: {split}")


def _embed(units, encoder, cache: EmbeddingCache, args, thresholds, views, label: str, log) -> EmbeddedSet:
    """With `--engine ray` the disk cache is filled on the Ray cluster first; the local pass then only reads it."""
    if getattr(args, "engine", "local") == "ray":
        from core.data.embed_ray import embed_with_ray

        r = embed_with_ray(units, encoder.info.name, cache.folder, hop_s=args.hop, thresholds=thresholds,
                           views=views, address=args.ray_address)
        log(f"  Ray: {r.files} files, {r.computed} embedded now, {r.already_cached} already in the cache, "
            f"{r.no_windows} without windows; {r.windows} windows")
    return embed_units(units, encoder, cache, hop_s=args.hop, thresholds=thresholds,
                       progress=_progress(f"embedding {label}"), views=views)


def train_one(
    head: HeadSpec, task: str, data: Path, encoder, cache: EmbeddingCache, args, log=print,
    thresholds: QualityThresholds | None = None,
) -> Path:
    t0 = time.time()
    log(f"[{task}/{head.name}] reading {data} as {head.dataset}")
    ds = scan(data, head.dataset, args.group_pattern)
    if not ds.units:
        raise SystemExit(f"No labelled recordings found in {data} for head {head.name}.")
    thresholds = thresholds or QualityThresholds()
    emb = _embed(ds.units, encoder, cache, args, thresholds, head.views, head.name, log)
    window_model, stack_meta = None, None
    if head.stack_from:
        window_model, stack_meta = _stack(emb, head, task, data, encoder, cache, args, thresholds, log)
    train_idx = np.asarray([i for i, u in enumerate(emb.units) if u.split == "train"])
    d, skipped = build_design(emb, head, train_idx)
    skipped = ds.skipped + emb.skipped + skipped
    if d.n_units < 10 or len(np.unique(d.unit_groups)) < 5:
        raise SystemExit(f"Too little data to train {head.name}: {d.n_units} units in {len(np.unique(d.unit_groups))} groups.")
    log(f"  {d.n_units} {head.unit}s, {len(d.X)} training samples, {len(np.unique(d.unit_groups))} groups; "
        f"skipped {len(skipped)}")
    outcome = train_head(d, head, candidates=tuple(args.candidates), folds=args.folds,
                         test_fraction=args.test_fraction, seed=args.seed, log=log)
    dec_2_1 = None
    if head.name == "record":
        dec_dev = decision_2_1(*outcome.dev_oof[:2], head)
        dec_2_1 = decision_2_1(*outcome.all_oof[:2], head)
        for key, (arrays, dec) in {"heldout": (outcome.heldout, dec_dev), "dev_cv": (outcome.dev_oof, dec_dev),
                                   "all_groups_cv": (outcome.all_oof, dec_2_1)}.items():
            outcome.report[key]["task_2_1"] = _record_2_1(*arrays, dec, head, outcome.report[key]["split"])
        log(f"  task 2-1 Score: held-out {outcome.report['heldout']['task_2_1']['metrics']['Score']:.3f}, "
            f"all-groups CV {outcome.report['all_groups_cv']['task_2_1']['metrics']['Score']:.3f}")
    official = evaluate_official_splits(emb, head, outcome, log, dec_2_1)
    kept_units = _design_units(emb, head, train_idx)
    proj = Projection.fit(
        unit_projection_features(outcome.base, d),
        labels=[head.labels[y] for y in d.unit_y],
        groups=[u.group for u in kept_units],
        uids=[u.uid for u in kept_units],
        splits=[u.split for u in kept_units],
    )
    skipped_reasons: dict[str, int] = {}
    for _, r in skipped:
        skipped_reasons[r.split(":")[0]] = skipped_reasons.get(r.split(":")[0], 0) + 1
    metrics = {
        "task": task, "head": head.name, "title": head.title, "encoder": encoder.info.identity,
        "encoder_label": encoder.info.label, "unit": head.unit, "experimental": head.experimental,
        "data": {**ds.summary(), "root": data.name, "skipped_total": len(skipped), "skipped_reasons": skipped_reasons,
                 "training_units": d.n_units, "training_samples": int(len(d.X)),
                 "training_groups": int(len(np.unique(d.unit_groups)))},
        **outcome.report,
        "official_test": official,
        "published_references": references_for(head.name),
        "shipped_model": f"{outcome.chosen}, refitted on all {len(np.unique(d.unit_groups))} training groups",
        "training_seconds": round(time.time() - t0, 1),
    }
    meta = {
        "task": task, "head": head.name, "title": head.title, "labels": list(head.labels), "unit": head.unit,
        "pooled": head.pooled, "positive": head.positive, "negative_label": head.negative_label,
        "experimental": head.experimental, "description": head.description,
        "encoder": {"name": encoder.info.name, "version": encoder.info.version, "dim": encoder.info.dim,
                    "fingerprint": encoder.info.fingerprint, "label": encoder.info.label},
        "window": {"hop_s": args.hop},
        "quality": dataclasses.asdict(thresholds),
        "aggregation": (("pooled [mean, std] of all window embeddings" + (
                            f" + summaries of the {head.stack_from} window model's probabilities" if stack_meta else "")
                         + " -> one prediction") if head.pooled
                        else "mean of calibrated window probabilities over usable windows"),
        "stack": stack_meta,
        "decision": outcome.decision.to_dict(),
        "decision_2_1": dec_2_1.to_dict() if dec_2_1 is not None else None,
        "operating_point": head.operating_point if head.positive else None,
        "views": list(head.views), "score_view": head.score_view,
        "operating_points": outcome.operating_points,
        "chosen": outcome.chosen,
        "data": metrics["data"],
    }
    out = artifact_dir(task, encoder.info.name, head.name, args.out)
    save_artifact(out, meta=meta, base=outcome.base, calibrator=outcome.calibrator, projection=proj,
                  metrics=metrics, card=model_card(meta, metrics), window_model=window_model)
    log(f"  wrote {out} in {time.time() - t0:.0f} s")
    return out


def _stack(emb: EmbeddedSet, head: HeadSpec, task: str, data: Path, encoder, cache: EmbeddingCache, args,
           thresholds: QualityThresholds, log) -> tuple[object, dict]:
    """Give every unit of `emb` the summaries of the event model's window probabilities (see core.heads.stacking)."""
    from core.heads.stacking import STACK_CANDIDATE, oof_window_probs, summary_names, window_summary

    ev_head = get_task(task).head(head.stack_from)
    ev_scan = scan(data, ev_head.dataset, args.group_pattern)
    ev = _embed(ev_scan.units, encoder, cache, args, thresholds, ev_head.views, f"{ev_head.name} for stacking", log)
    W, model = oof_window_probs(emb, ev, ev_head, folds=args.folds + 1, seed=args.seed, log=log)
    emb.unit_features = window_summary(W, emb.unit_of, emb.usable, len(emb.units), ev_head.labels,
                                       ev_head.stack_groups)
    meta = {"from": ev_head.name, "labels": list(ev_head.labels), "groups": {k: list(v) for k, v in
            ev_head.stack_groups.items()}, "model": STACK_CANDIDATE, "features": summary_names(ev_head),
            "training": f"patient-grouped {args.folds + 1}-fold out-of-fold window probabilities for training "
                        f"records; shipped window model fitted on all training events"}
    return model, meta


def _design_units(emb: EmbeddedSet, head: HeadSpec, idx: np.ndarray):
    _, skipped = build_design(emb, head, idx)
    dropped = {uid for uid, _ in skipped}
    return [emb.units[i] for i in idx if emb.units[i].uid not in dropped]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core train", description=__doc__)
    ap.add_argument("--task", required=True, choices=["respiratory", "cry"])
    ap.add_argument("--encoder", default="acoustic", choices=["acoustic", "hear"])
    ap.add_argument("--data", required=True, type=Path, help="dataset folder")
    ap.add_argument("--head", action="append", help="train only these heads (default: all the data supports)")
    ap.add_argument("--out", type=Path, default=None, help="artefact root (default: trained/)")
    ap.add_argument("--candidates", type=lambda s: s.split(","), default=list(DEFAULT_CANDIDATES),
                    help=f"comma-separated, from {', '.join(CANDIDATES)}")
    ap.add_argument("--folds", type=int, default=4, help="grouped CV folds for selection (default 4)")
    ap.add_argument("--test-fraction", type=float, default=0.2, help="share of groups held out (default 0.2)")
    ap.add_argument("--hop", type=float, default=DEFAULT_HOP_SECONDS, help="window hop in seconds (default 1)")
    ap.add_argument("--group-pattern", default=None,
                    help="regex on file names naming the person, for your own folder-per-class data")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-cache", action="store_true", help="do not keep embeddings on disk")
    ap.add_argument("--engine", choices=["local", "ray"], default="local",
                    help="ray: embed the dataset with Ray Data (in-process Ray, or --ray-address); resumable")
    ap.add_argument("--ray-address", default=None, help="an existing Ray cluster, e.g. ray://head:10001")
    args = ap.parse_args(argv)
    if args.engine == "ray" and args.no_cache:
        ap.error("--engine ray writes embeddings into the disk cache; it cannot be combined with --no-cache")

    bad = [c for c in args.candidates if c not in CANDIDATES]
    if bad:
        ap.error(f"unknown candidate(s) {bad}")
    try:
        layout = detect_layout(args.data)
    except FileNotFoundError as exc:
        ap.error(str(exc))
    if layout == "folder":
        if not args.head or len(args.head) != 1:
            ap.error("a folder-per-class dataset needs exactly one --head NAME for the new head")
        labels = tuple(sorted(p.name for p in args.data.iterdir() if p.is_dir() and not p.name.startswith(".")))
        if len(labels) < 2:
            ap.error("a folder-per-class dataset needs at least two class folders")
        task_name = args.task
        heads = [custom_head(args.head[0], labels)]
        thresholds = get_task(args.task).quality  # e.g. the cry-activity gate for a user's own cry folders
    else:
        task_name, head_names = LAYOUT_HEADS[layout]
        if args.task != task_name:
            ap.error(f"{args.data} looks like {layout} data, which trains task {task_name!r}, not {args.task!r}")
        task = get_task(task_name)
        wanted = args.head or list(head_names)
        unknown = [h for h in wanted if h not in head_names]
        if unknown:
            ap.error(f"{layout} data trains heads {', '.join(head_names)}; not {', '.join(unknown)}")
        heads = [task.head(h) for h in wanted]
        thresholds = task.quality
    try:
        encoder = get_encoder(args.encoder)
    except EncoderUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cache = EmbeddingCache(None if args.no_cache else cache_dir() / "embeddings")
    for head in heads:
        train_one(head, task_name, args.data, encoder, cache, args, thresholds=thresholds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
