"""Analyse recordings from the command line: `python -m core analyze FILE... --task cry [--csv out.csv]`.

`--reference REF` (cry task, repeatable): cries of the same infant recorded without pain; every FILE is then judged
against them (`core.references`), and each answer says which references were used and which were not, and why.

Prints, per file, the per-window probabilities of every head and the clip verdicts. One bad file prints its error
and the others are still analysed; the exit code is 1 if any file failed.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from core.answers.analyzer import (DISCLAIMER, AnalysisResult, Analyzer, calibration_words, choose_encoder,
                                   input_check_words, reference_words, validated_words)
from core.calibration.profile import ProfileError
from core.answers.parallel import WorkerError, map_in_order, start as parallel_start
from core.heads.artifacts import ArtifactError
from core.audio.decode import AudioDecodeError
from core.encoders.cache import EmbeddingCache
from core.config import cache_dir, default_jobs
from core.encoders import EncoderUnavailable
from core.audio.filenames import display_name
from core.tasks import get_task


def print_result(r: AnalysisResult, out=None) -> None:
    out = out or sys.stdout
    print(f"\n== {r.name}  ({r.duration_s:.2f} s, task {r.task}, encoder: {r.encoder.label})", file=out)
    if r.audio_notes:
        print(f"   audio: {'; '.join(r.audio_notes)}", file=out)
    print(f"   quality: {r.clip_quality.summary()}", file=out)
    print(f"   {input_check_words(r)}", file=out)
    print(f"   {calibration_words(r)}", file=out)
    if reference_words(r):
        print(f"   {reference_words(r)}", file=out)
    heads = [h for h in r.heads.values() if h.window_probs is not None]
    cols = [(h, lab) for h in heads for lab in h.labels]
    header = f"   {'window':>6} {'start':>6} {'end':>6}  {'flags':<16}" + "".join(f" {h.name[:6] + ':' + lab[:10]:>18}" for h, lab in cols)
    print(header, file=out)
    for i, (w, q) in enumerate(zip(r.windows, r.quality)):
        vals = "".join(f" {h.window_probs[i][h.labels.index(lab)]:>18.3f}" for h, lab in cols)
        print(f"   {i:>6} {w.start_s:>6.1f} {w.end_s:>6.1f}  {q.reason() or 'ok':<16}{vals}", file=out)
    for h in r.heads.values():
        if h.window_probs is not None and h.verdict.abstained and h.unit == "window":
            continue  # a window track: its probabilities are in the table above
        tag = " [experimental]" if h.experimental else ""
        star = " (primary)" if h.name == r.primary else ""
        print(f"   verdict {h.name}{star}{tag}: {h.verdict.text()}", file=out)
        print(f"      rule: {h.verdict.rule}", file=out)
        words = validated_words(h)
        if words and not h.verdict.abstained:
            print(f"      {words}", file=out)
    if r.timeline is not None:
        tl = r.timeline
        print(f"   event timeline: {tl.summary(r.class_names)}", file=out)
        for seg in tl.segments:
            print(f"      {seg.onset_s:6.1f}-{seg.offset_s:6.1f} s  {r.class_names.get(seg.type, seg.type):<45} "
                  f"p {seg.probability:.2f}", file=out)
    print(f"   {DISCLAIMER}", file=out)


def analyze_one(analyzer: Analyzer, work: tuple) -> tuple[str, object]:
    """("ok", result) or ("error", the reason in words) for one file (here or in a worker process)."""
    path, name, experimental, references, profile = work
    if profile is not None and analyzer.calibration is None:  # a worker process: its analyzer is the shipped one
        analyzer = analyzer.with_calibration(profile)
    try:
        return "ok", analyzer.analyze(Path(path), name=name, experimental=experimental, references=references)
    except AudioDecodeError as exc:
        return "error", f"cannot analyse: {exc}"
    except Exception as exc:  # an unforeseen failure on one file: report it, go on with the others
        return "error", f"analysis failed ({type(exc).__name__}: {exc})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core analyze", description=__doc__)
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--task", required=True, choices=["respiratory", "cry"])
    ap.add_argument("--encoder", default="auto", choices=["auto", "acoustic", "hear"])
    ap.add_argument("--csv", type=Path, help="write one row per window to this CSV")
    ap.add_argument("--json", type=Path, help="write the full results to this JSON file")
    ap.add_argument("--disk-cache", action="store_true",
                    help="keep embeddings (never audio) on disk, keyed by content, so re-analysing the same files is "
                         "instant; off by default: nothing derived from a recording is written unless asked")
    ap.add_argument("--jobs", type=int, default=None,
                    help="worker processes for several files (default: every core this process may use, from 4 "
                         "files on; 1 analyses in this process)")
    ap.add_argument("--experimental", action="store_true",
                    help="also run heads marked experimental (e.g. the cry reason head, near chance on held-out "
                         "families); off by default")
    ap.add_argument("--calibration", type=Path, default=None, metavar="PROFILE.json",
                    help="answer through a calibration profile (python -m core calibrate); refused with the reason "
                         "when it was made for another task or model version")
    ap.add_argument("--reference", action="append", type=Path, default=[], metavar="REF",
                    help="cry task: a cry of the same infant recorded without pain (bath, nappy change, hunger); "
                         "repeat for several. Every FILE is judged against them")
    args = ap.parse_args(argv)
    if args.reference and args.task != "cry":
        ap.error("--reference applies to the cry task only (reference cries of the same infant)")
    jobs = args.jobs if args.jobs is not None else (default_jobs() if len(args.files) >= 4 else 1)
    parallel = jobs > 1 and len(args.files) > 1
    disk = cache_dir() / "embeddings" if args.disk_cache else None
    cache_folder = str(disk) if disk else None
    if parallel:  # the workers load their models while this process loads its own
        parallel_start(args.task, choose_encoder(get_task(args.task), args.encoder).name, jobs, cache_folder)
    try:
        analyzer = Analyzer(args.task, args.encoder,
                            cache=EmbeddingCache(disk),
                            calibration=args.calibration)
    except (EncoderUnavailable, ArtifactError, ProfileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"encoder: {analyzer.encoder.info.label} - {analyzer.encoder_note}")
    for name, why in analyzer.missing.items():
        print(f"note: head '{name}' not available: {why}")
    references = None
    if args.reference:  # checked once; each file is then checked against them (a reference that is the file itself)
        references = analyzer.check_references([(display_name(p.name), p) for p in args.reference])
        for c in references.rejected:
            print(f"note: reference {c.name} not used: {c.reason}", file=sys.stderr)
    results, failed, rows = [], 0, []
    work = [(str(f), display_name(f.name), args.experimental, references, analyzer.calibration) for f in args.files]
    if parallel:  # worker processes, results in the files' order
        outcomes = map_in_order(analyze_one, work, args.task, analyzer.encoder.info.name, jobs,
                                failed=lambda w, exc: ("error", "analysis failed (" + (
                                    str(exc) if isinstance(exc, WorkerError) else type(exc).__name__) + ")"),
                                cache_folder=cache_folder)
    else:
        if len(work) >= 4:  # the first recordings' memory and imports paid once (`Analyzer.warm_up`)
            analyzer.warm_up()
        outcomes = (analyze_one(analyzer, w) for w in work)
    for (_, name, *_), (status, r) in zip(work, outcomes):
        if status == "error":
            failed += 1
            print(f"\n== {name}: {r}", file=sys.stderr)
            continue
        print_result(r)
        results.append(r.to_dict())
        prov = r.provenance
        stamp = {"audio_sha256": prov.audio_sha256, "analysed_at": prov.analysed_at, "app_version": prov.app_version,
                 "encoder": prov.encoder} if prov else {}
        rows += [{"file": name, **row, **stamp} for row in r.window_table()]
    if args.csv and rows:
        keys = list(dict.fromkeys(k for row in rows for k in row))
        with args.csv.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    c = analyzer.cache
    where = f"on disk in {c.folder}" if c.folder is not None else "in memory only"
    if parallel:
        print(f"\nanalysed in {jobs} worker processes; embeddings kept {where}", file=sys.stderr)
    else:
        print(f"\nembeddings: {c.misses} batch(es) computed, {c.hits} reused from the cache ({where})",
              file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
