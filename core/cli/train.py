"""Train heads: `python -m core train --task cry --encoder acoustic --data ../shared/data/cry_pain`.

The dataset layout is recognised from the folder (SPRSound, cry_pain, donateacry, or one folder per class for
your own data) and decides which heads are trained. Output: trained/<task>/<encoder>/<head>/ (see
core.heads.artifacts). SPRSound trains the respiratory recording model (window detector, timeline and recording
answers, `core.heads.train_recording`) and the research event heads (SPRSound tasks 1-1 and 1-2).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.config import DEFAULT_HOP_SECONDS, cache_dir, default_jobs
from core.data.datasets import LAYOUT_HEADS, detect_layout
from core.encoders import EncoderUnavailable, get_encoder
from core.encoders.cache import EmbeddingCache
from core.heads.pipeline import TrainOptions, train_head_artifact
from core.heads.train_recording import train_recording_model
from core.heads.training import CANDIDATES, DEFAULT_CANDIDATES
from core.tasks import custom_head, get_task


def _log(line: str) -> None:
    print(line, flush=True)  # progress reaches a log file as it happens, not when the buffer fills


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
    ap.add_argument("--jobs", type=int, default=None,
                    help="local engine, built-in encoder: worker processes embedding the dataset (default: every core "
                         "this process may use; 1 embeds in this process). Same embeddings, bit for bit")
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
        encoder = get_encoder(args.encoder, window_features=get_task(task_name).window_features)
    except EncoderUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cache = EmbeddingCache(None if args.no_cache else cache_dir() / "embeddings")
    opts = TrainOptions(hop=args.hop, folds=args.folds, test_fraction=args.test_fraction, seed=args.seed,
                        candidates=tuple(args.candidates), group_pattern=args.group_pattern, engine=args.engine,
                        ray_address=args.ray_address, out=args.out,
                        jobs=args.jobs if args.jobs is not None else default_jobs())
    for head in heads:
        try:
            if head.kind == "recording_model":
                train_recording_model(head, task_name, args.data, encoder, cache, opts, thresholds=thresholds,
                                      log=_log)
            else:
                train_head_artifact(head, task_name, args.data, encoder, cache, opts, thresholds=thresholds,
                                    log=_log)
        except ValueError as exc:  # e.g. a class with no example in some fold: the data cannot train this head
            print(f"error: cannot train {head.name} on {args.data}: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
