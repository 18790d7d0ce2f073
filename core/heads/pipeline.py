"""From a dataset folder to a verified artefact on disk: read, embed, fit with the person-grouped protocol of
`core.heads.training`, score the official test splits once, write model + meta + metrics + card.

`core.cli.train` parses the command line into `TrainOptions` and calls `train_head_artifact` (one classifier) or
`core.heads.train_recording.train_recording_model` (the respiratory recording model).
"""
from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from core.config import DEFAULT_HOP_SECONDS, QualityThresholds
from core.data.datasets import DatasetScan, scan
from core.data.embed import EmbeddedSet, embed_units
from core.encoders.cache import EmbeddingCache
from core.evaluation.metrics import evaluate
from core.evaluation.model_card import model_card
from core.evaluation.references import references_for
from core.heads.artifacts import Projection, artifact_dir, save_artifact
from core.heads.training import DEFAULT_CANDIDATES, Design, build_design, predict_units, train_head
from core.tasks import HeadSpec

OFFICIAL_NAMES = {"test_intra": "official intra-patient test", "test_inter": "official inter-patient test"}


@dataclass(frozen=True)
class TrainOptions:
    hop: float = DEFAULT_HOP_SECONDS
    folds: int = 4  # grouped CV folds for selection (outer nested folds: folds + 1)
    test_fraction: float = 0.2
    seed: int = 0
    candidates: tuple[str, ...] = DEFAULT_CANDIDATES
    group_pattern: str | None = None
    engine: str = "local"  # "ray": embed on a Ray cluster first (core.data.embed_ray)
    ray_address: str | None = None
    out: Path | None = None
    jobs: int = 1  # local engine: worker processes embedding the dataset (core.data.embed.embed_units)


def progress_bar(desc: str) -> Callable[[int, int], None]:
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


def embed_for_training(units, encoder, cache: EmbeddingCache, opts: TrainOptions, thresholds: QualityThresholds,
                       views: tuple[str, ...], label: str, log: Callable[[str], None]) -> EmbeddedSet:
    """With the Ray engine the disk cache is filled on the cluster first; the local pass then only reads it."""
    if opts.engine == "ray":
        from core.data.embed_ray import embed_with_ray

        r = embed_with_ray(units, encoder.info.name, cache.folder, hop_s=opts.hop, thresholds=thresholds,
                           views=views, address=opts.ray_address,
                           window_features=getattr(encoder, "window_features", ()))
        log(f"  Ray: {r.files} files, {r.computed} embedded now, {r.already_cached} already in the cache, "
            f"{r.no_windows} without windows; {r.windows} windows")
    return embed_units(units, encoder, cache, hop_s=opts.hop, thresholds=thresholds,
                       progress=progress_bar(f"embedding {label}"), views=views,
                       jobs=opts.jobs if opts.engine == "local" and encoder.info.name == "acoustic" else 1)


def unit_projection_features(base, d: Design) -> np.ndarray:
    """One point per unit: the mean of its scaled samples (windows) or its scaled pooled embedding."""
    Z = base[0].transform(d.X)
    sums = np.zeros((d.n_units, Z.shape[1]))
    np.add.at(sums, d.sample_unit, Z)
    return sums / np.maximum(np.bincount(d.sample_unit, minlength=d.n_units), 1)[:, None]


def official_split_name(split: str) -> str:
    return OFFICIAL_NAMES.get(split, split)


def same_people_note(groups: set, train_groups: set) -> str:
    overlap = len(groups & train_groups)
    return (f"same patients as training ({overlap} of {len(groups)} patients also in training)" if overlap
            else "patients unseen in training")


def evaluate_official_splits(emb: EmbeddedSet, head: HeadSpec, outcome, log) -> dict:
    """Official test splits shipped with the data (e.g. SPRSound intra-patient), scored once by the final model."""
    out = {}
    k = len(head.labels)
    train_groups = {u.group for u in emb.units if u.split == "train"}
    for split in sorted({u.split for u in emb.units} - {"train"}):
        idx = np.asarray([i for i, u in enumerate(emb.units) if u.split == split])
        d, skipped = build_design(emb, head, idx)
        if d.n_units == 0:
            continue
        p = predict_units(outcome.base, outcome.calibrator, d, np.arange(d.n_units), k)
        note = same_people_note(set(d.unit_groups), train_groups)
        name = official_split_name(split)
        res = evaluate(d.unit_y, p, d.unit_groups, outcome.decision, split=f"{name}: {note}",
                       normal_label=head.negative_label)
        res["skipped"] = len(skipped)
        for view in sorted(set(d.view.tolist()) - {head.score_view}):
            pv = predict_units(outcome.base, outcome.calibrator, d.rescored(view), np.arange(d.n_units), k)
            res.setdefault("other_views", {})[view] = evaluate(
                d.unit_y, pv, d.unit_groups, outcome.decision, split=f"{name}, scored on the '{view}' view: {note}",
                normal_label=head.negative_label)
        out[split] = res
        m = res["metrics"]
        log(f"  {name}: {d.n_units} {head.unit}s" + (f", SPRSound Score {m['Score']:.3f}" if "Score" in m else ""))
    return out


def skipped_reasons(skipped: list[tuple[str, str]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for _, r in skipped:
        key = r.split(":")[0]
        out[key] = out.get(key, 0) + 1
    return out


def encoder_meta(encoder) -> dict:
    i = encoder.info
    return {"name": i.name, "version": i.version, "dim": i.dim, "fingerprint": i.fingerprint, "label": i.label}


def train_head_artifact(head: HeadSpec, task: str, data: Path, encoder, cache: EmbeddingCache, opts: TrainOptions,
                        thresholds: QualityThresholds | None = None, log: Callable[[str], None] = print) -> Path:
    """One classifier head, trained and evaluated by `core.heads.training.train_head`, written to disk."""
    t0 = time.time()
    log(f"[{task}/{head.name}] reading {data} as {head.dataset}")
    ds: DatasetScan = scan(data, head.dataset, opts.group_pattern)
    if not ds.units:
        raise SystemExit(f"No labelled recordings found in {data} for head {head.name}.")
    thresholds = thresholds or QualityThresholds()
    emb = embed_for_training(ds.units, encoder, cache, opts, thresholds, head.views, head.name, log)
    train_idx = np.asarray([i for i, u in enumerate(emb.units) if u.split == "train"])
    d, skipped = build_design(emb, head, train_idx)
    skipped = ds.skipped + emb.skipped + skipped
    if d.n_units < 10 or len(np.unique(d.unit_groups)) < 5:
        raise SystemExit(f"Too little data to train {head.name}: {d.n_units} units in "
                         f"{len(np.unique(d.unit_groups))} groups.")
    log(f"  {d.n_units} {head.unit}s, {len(d.X)} training samples, {len(np.unique(d.unit_groups))} groups; "
        f"skipped {len(skipped)}")
    outcome = train_head(d, head, candidates=tuple(head.candidates or opts.candidates), folds=opts.folds,
                         test_fraction=opts.test_fraction, seed=opts.seed, nested=head.nested, log=log)
    official = evaluate_official_splits(emb, head, outcome, log)
    _, dropped = build_design(emb, head, train_idx)
    dropped_ids = {uid for uid, _ in dropped}
    kept_units = [emb.units[i] for i in train_idx if emb.units[i].uid not in dropped_ids]
    proj = Projection.fit(unit_projection_features(outcome.base, d), labels=[head.labels[y] for y in d.unit_y],
                          groups=[u.group for u in kept_units], uids=[u.uid for u in kept_units],
                          splits=[u.split for u in kept_units])
    n_groups = len(np.unique(d.unit_groups))
    metrics = {
        "task": task, "head": head.name, "title": head.title, "encoder": encoder.info.identity,
        "encoder_label": encoder.info.label, "unit": head.unit, "experimental": head.experimental,
        "research": head.research,
        "data": {**ds.summary(), "root": data.name, "skipped_total": len(skipped),
                 "skipped_reasons": skipped_reasons(skipped), "training_units": d.n_units,
                 "training_samples": int(len(d.X)), "training_groups": int(n_groups)},
        **outcome.report,
        "official_test": official,
        "published_references": references_for(head.name),
        "shipped_model": f"{outcome.chosen}, refitted on all {n_groups} training groups",
        "training_seconds": round(time.time() - t0, 1),
    }
    meta = {
        "task": task, "head": head.name, "kind": "head", "title": head.title, "labels": list(head.labels),
        "unit": head.unit, "pooled": head.pooled, "positive": head.positive, "negative_label": head.negative_label,
        "experimental": head.experimental, "research": head.research, "description": head.description,
        "encoder": encoder_meta(encoder),
        "window": {"hop_s": opts.hop},
        "quality": dataclasses.asdict(thresholds),
        "aggregation": ("pooled [mean, std] of all window embeddings -> one prediction" if head.pooled
                        else "mean of calibrated window probabilities over usable windows"),
        "decision": outcome.decision.to_dict(),
        "operating_point": head.operating_point if head.positive else None,
        "views": list(head.views), "score_view": head.score_view, "duration_feature": head.duration_feature,
        "operating_points": outcome.operating_points,
        "chosen": outcome.chosen,
        "data": metrics["data"],
    }
    out = artifact_dir(task, encoder.info.name, head.name, opts.out)
    save_artifact(out, meta=meta, objects={"base": outcome.base, "calibrator": outcome.calibrator},
                  projection=proj, metrics=metrics, card=model_card(meta, metrics))
    log(f"  wrote {out} in {time.time() - t0:.0f} s")
    return out
