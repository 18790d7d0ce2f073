"""Train and validate the input check of one task: `python -m core train-input-check --task respiratory|cry --data ROOT`.

ROOT holds the datasets side by side (`sprsound/`, `cry_pain/`, `donateacry/`): chest recordings are SPRSound's
(both periods), cries are cry_pain's and Donate-a-cry's, other sounds are generated (`core.inputcheck.synthetic`).
Every recording is framed, embedded and pooled exactly as an analysis does it (one windowing, one encoder).

Validation, at the unit the check answers for (a recording):
- real recordings: person-grouped k-fold (SPRSound patient, cry_pain infant, Donate-a-cry family), so no person is
  on both sides; the generated sounds are in every fold's training;
- generated sounds: leave-one-family-out, so each family is scored by a model that never heard that family;
- familiarity: held-out own-kind recordings and cuts of them (4 s to 80 % of the recording, at a random whole-second
  offset) against the fold's training recordings; the share called unusual is the false-alarm rate.
The rule is fixed (refuse when the most probable kind is not the task's), so nothing is tuned on what it is scored on.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio.decode import decode_audio
from core.config import SAMPLE_RATE, default_jobs, trained_dir
from core.data.datasets import read_cry_pain, read_donateacry, read_sprsound
from core.data.embed import embed_units
from core.evaluation.metrics import cluster_rate
from core.encoders import get_encoder
from core.encoders.base import Encoder
from core.encoders.cache import EmbeddingCache
from core.heads.artifacts import artifact_dir, save_artifact
from core.inputcheck.model import (ARTIFACT_NAME, FAMILY_PEOPLE, KINDS, SUGGEST_AT, TASK_KIND, UNUSUAL_PERCENTILE,
                                   InputCheckModel, recording_features)
from core.inputcheck.synthetic import FAMILIES, FAMILY_TEXT, generate
from core.tasks import get_task
from core.windows.framing import frame, plan_windows

GENERATED_PER_FAMILY = 100
CUTS = 800  # cuts of own-kind recordings: the familiarity reference (training people) and its false-alarm test
FOLDS = 5
#: recordings per person and split of the other task's kind (SPRSound under the cry task: about 880 recordings of all
#: 251 patients, both periods); None = all
OTHER_PER_PERSON = {"chest": 2}
SOURCE_TEXT = {"sprsound:train": "SPRSound training set (earlier period)",
               "sprsound:test_intra": "SPRSound intra-patient test set (later period)",
               "cry_pain": "cry_pain (vaccination and bath cries)", "donateacry": "Donate-a-cry (parent-tagged cries)",
               **{f"generated:{f}": f"generated: {t}" for f, t in FAMILY_TEXT.items()}}


@dataclass
class KindData:
    X: np.ndarray  # [n, 2 * dim] pooled recording features
    kind: np.ndarray  # entry of KINDS
    group: np.ndarray  # person (or generated recording) id
    source: np.ndarray  # dataset (and split) or generated family
    uid: np.ndarray
    cuts: np.ndarray  # [m, 2 * dim] features of cuts of own-kind recordings
    cut_group: np.ndarray


def embed_samples(x: np.ndarray, encoder: Encoder, cache: EmbeddingCache, hop_s: float) -> np.ndarray:
    starts, _ = plan_windows(len(x), hop_s)
    return cache.embed(encoder, frame(x, starts))


def per_person(units: list, k: int, seed: int = 0) -> list:
    """At most `k` recordings of each person and split, drawn at random: every patient is represented while the
    other task's recordings stay affordable (the cry encoder's voice-quality features cost about 1 s a recording)."""
    rng = np.random.default_rng(seed)
    by: dict[tuple[str, str], list] = {}
    for u in units:
        by.setdefault((u.group, u.split), []).append(u)
    out = []
    for key in sorted(by):
        us = by[key]
        out += [us[i] for i in sorted(rng.choice(len(us), size=min(k, len(us)), replace=False))]
    return out


def _real(task_kind: str, root: Path, encoder: Encoder, cache: EmbeddingCache, hop_s: float, log,
          other_per_person: int | None = None) -> list:
    """`other_per_person`: cap the recordings per person and split for this kind (the other task's kind)."""
    out = []
    scans = ([("sprsound", read_sprsound(root / "sprsound", "record"))] if task_kind == "chest"
             else [("cry_pain", read_cry_pain(root / "cry_pain")), ("donateacry", read_donateacry(root / "donateacry"))])
    for name, scan in scans:
        t0 = time.time()
        units = per_person(scan.units, other_per_person) if other_per_person else scan.units
        emb = embed_units(units, encoder, cache, hop_s=hop_s,
                          jobs=default_jobs() if encoder.info.name == "acoustic" else 1,
                          progress=lambda i, n: log(f"  {name} {task_kind}: {i}/{n} files") if i % 250 == 0 else None)
        pooled = emb.pooled()
        for u, row in zip(emb.units, pooled):
            source = f"sprsound:{u.split}" if name == "sprsound" else name
            out.append((row, task_kind, f"{name}:{u.group}", source, u.uid, str(u.path)))
        log(f"  {name}: {len(emb.units)} recordings in {time.time() - t0:.0f} s")
    return out


def gather(task: str, root: Path, encoder: Encoder, cache: EmbeddingCache, hop_s: float = 1.0,
           per_family: int = GENERATED_PER_FAMILY, cuts: int = CUTS, seed: int = 0, log=print) -> KindData:
    rows = []
    for kind in ("chest", "cry"):
        rows += _real(kind, root, encoder, cache, hop_s, log,
                      None if kind == TASK_KIND[task] else OTHER_PER_PERSON.get(kind))
    for fam in FAMILIES:
        for g in generate(fam, per_family, seed):
            rows.append((recording_features(embed_samples(g.samples, encoder, cache, hop_s))[0], "other",
                         f"generated:{fam}:{g.name}", f"generated:{fam}", g.name, ""))
    own = [r for r in rows if r[1] == TASK_KIND[task]]
    rng = np.random.default_rng(seed)
    cut_rows = []
    for i in rng.choice(len(own), size=min(cuts, len(own)), replace=False):
        x = decode_audio(own[i][5]).samples
        dur = len(x) / SAMPLE_RATE
        if dur < 6:
            continue
        length = rng.uniform(4, 0.8 * dur)
        at = int(rng.integers(0, int(dur - length) + 1))
        piece = x[at * SAMPLE_RATE: at * SAMPLE_RATE + int(length * SAMPLE_RATE)]
        cut_rows.append((recording_features(embed_samples(piece, encoder, cache, hop_s))[0], own[i][2]))
    return KindData(np.stack([r[0] for r in rows]), np.array([r[1] for r in rows]), np.array([r[2] for r in rows]),
                    np.array([r[3] for r in rows]), np.array([r[4] for r in rows]),
                    np.stack([c[0] for c in cut_rows]), np.array([c[1] for c in cut_rows]))


def evaluate(task: str, data: KindData, folds: int = FOLDS, seed: int = 0) -> dict:
    """Out-of-fold refusals per source, suggestions, and the familiarity false-alarm rates (see the module)."""
    from sklearn.model_selection import StratifiedGroupKFold

    own_kind = TASK_KIND[task]
    n = len(data.kind)
    pred = np.empty(n, dtype=object)  # recorded audio: person-grouped CV; generated: leave-one-family-out
    p_top = np.zeros(n)  # the check's probability of the kind it named
    pred_seen = np.empty(n, dtype=object)  # generated, scored by a fold whose training held other sounds of its family
    real = ~np.char.startswith(data.source.astype(str), "generated:")
    pct_whole = np.full(n, np.nan)
    pct_unseen = np.full(n, np.nan)
    pct_cut = np.full(len(data.cuts), np.nan)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for tr, test in splitter.split(data.X, data.kind, data.group):
        held = np.isin(data.cut_group, data.group[test])
        m = InputCheckModel(task).fit(data.X[tr], data.kind[tr], data.group[tr],
                                      data.cuts[~held], data.cut_group[~held])
        probs = m.probabilities(data.X[test])
        pred_seen[test] = np.array(m.classes)[probs.argmax(axis=1)]
        pred[test], p_top[test] = pred_seen[test], probs.max(axis=1)
        own_test = test[data.kind[test] == own_kind]
        pct_whole[own_test] = m.percentile(data.X[own_test])
        if held.any():
            pct_cut[held] = m.percentile(data.cuts[held])
    for fam in FAMILIES:
        src = f"generated:{fam}"
        out = data.source == src
        fit_rows = np.flatnonzero(~out)
        m = InputCheckModel(task).fit(data.X[fit_rows], data.kind[fit_rows], data.group[fit_rows], data.cuts,
                                      data.cut_group)
        probs = m.probabilities(data.X[out])
        pred[out], p_top[out] = np.array(m.classes)[probs.argmax(axis=1)], probs.max(axis=1)
        pct_unseen[out] = m.percentile(data.X[out])
    refused = pred != own_kind
    other_task_kind = next(k for k in TASK_KIND.values() if k != own_kind)
    suggested = (pred == other_task_kind) & (p_top >= SUGGEST_AT)  # what the user is told to do instead
    unusual_unseen = pct_unseen >= UNUSUAL_PERCENTILE
    sources = {}
    for src in sorted(set(data.source.tolist()), key=lambda s: (s.startswith("generated"), s)):
        rows = data.source == src
        kind = data.kind[rows][0]
        entry = {"text": SOURCE_TEXT.get(src, src), "kind": kind, "recordings": int(rows.sum()),
                 "people": int(len(set(data.group[rows]))) if not src.startswith("generated") else None,
                 "refused": cluster_rate(refused[rows], data.group[rows]),
                 "called": dict(Counter(pred[rows].tolist()))}
        if src.startswith("generated:"):  # a family heard in training, and the second line of defence when not
            entry["refused_family_seen"] = cluster_rate(pred_seen[rows] != own_kind, data.group[rows])
            entry["accepted_unseen_but_unusual"] = cluster_rate(unusual_unseen[rows] & ~refused[rows], data.group[rows])
            entry["sent_to_other_task"] = cluster_rate(suggested[rows], data.group[rows])
        if kind != own_kind and kind != "other":
            entry["told_right_task"] = cluster_rate(suggested[rows], data.group[rows])
        sources[src] = entry
    own = data.kind == own_kind
    other_task = (data.kind != own_kind) & (data.kind != "other")
    return {
        "task": task, "rule": "refused when the most probable kind is not the task's (fixed, not tuned); the other "
                              f"task is suggested when the check gives its kind at least {SUGGEST_AT:.0%}",
        "split": f"person-grouped {folds}-fold CV for recorded audio (SPRSound patient, cry_pain infant, "
                 "Donate-a-cry family); leave-one-family-out for generated sounds (and, as 'family seen', the same "
                 "CV with other generated sounds of the family in training)",
        "false_refusals": cluster_rate(refused[own], data.group[own]),
        "other_task_refused": cluster_rate(refused[other_task], data.group[other_task]),
        "generated_refused": cluster_rate(refused[~real], data.group[~real]),
        "generated_refused_family_seen": cluster_rate(pred_seen[~real] != own_kind, data.group[~real]),
        "sources": sources,
        "familiarity": {
            "unusual_percentile": UNUSUAL_PERCENTILE,
            "held_out_recordings_unusual": cluster_rate(pct_whole[own] >= UNUSUAL_PERCENTILE, data.group[own]),
            "held_out_cuts_unusual": cluster_rate(pct_cut[np.isfinite(pct_cut)] >= UNUSUAL_PERCENTILE,
                                           data.cut_group[np.isfinite(pct_cut)]),
            "cuts": "4 s to 80 % of a held-out recording at a random whole-second offset",
        },
    }


def validated_text(ev: dict) -> str:
    fr, ot, fam = ev["false_refusals"], ev["other_task_refused"], ev["familiarity"]
    return (f"input check: {fr['rate']:.1%} of the task's own recordings refused ({fr['count']}/{fr['n']}), "
            f"{ot['rate']:.1%} of the other task's recordings refused ({ot['count']}/{ot['n']}), "
            f"{ev['generated_refused']['rate']:.0%} of generated other sounds of a kind it never heard refused "
            f"({ev['generated_refused_family_seen']['rate']:.0%} of a kind it heard) ({ev['split']}); "
            f"'unusual' said of {fam['held_out_cuts_unusual']['rate']:.1%} of cuts of held-out recordings")


def pct(r: dict) -> str:
    if not r or not r.get("n"):
        return "–"
    return f"{r['rate']:.1%}" + (f" ({r['ci'][0]:.1%}-{r['ci'][1]:.1%})" if r.get("ci") else " (too few people for a CI)")


def source_table(ev: dict) -> str:
    """The check's out-of-fold figures per source, one row each (model card and README)."""
    lines = ["| source | recordings (people) | refused (95 % CI) | told to use the other task | refused when its kind "
             "was heard in training | accepted but called unusual |", "|---|---|---|---|---|---|"]
    for e in ev["sources"].values():
        told = e.get("told_right_task") or e.get("sent_to_other_task")
        seen, odd = e.get("refused_family_seen"), e.get("accepted_unseen_but_unusual")
        people = f" ({e['people']})" if e.get("people") else ""
        lines.append(f"| {e['text']} | {e['recordings']}{people} | {pct(e['refused'])} | {pct(told) if told else '–'} "
                     f"| {pct(seen) if seen else '–'} | {pct(odd) if odd else '–'} |")
    f = ev["familiarity"]
    lines.append(f"| familiarity: held-out recordings of the task's kind / cuts of them (4 s to 80 %), called "
                 f"unusual | {f['held_out_recordings_unusual']['n']} / {f['held_out_cuts_unusual']['n']} | "
                 f"{pct(f['held_out_recordings_unusual'])} / {pct(f['held_out_cuts_unusual'])} | – | – | – |")
    return "\n".join(lines)


def card(ev: dict, meta: dict) -> str:
    lines = [f"# Input check: {meta['task']}", "",
             "Is this recording chest auscultation, an infant cry, or another sound? A refused recording gets no "
             "answer. Rule: " + ev["rule"] + ".", "", f"Validation: {ev['split']}.", "", source_table(ev), "",
             f"Familiarity: a recording is called unusual when it is farther from the training recordings than "
             f"{ev['familiarity']['unusual_percentile']:g} % of training recordings (and cuts of them) are from "
             "another person's.", "",
             "For the other task's recordings, 'told to use the other task' is the share sent to the right task; for "
             "generated sounds it is the share wrongly sent there. Generated sounds are synthesised, not recorded (no "
             "speech or music corpus ships with this project); silence is refused earlier, by the quality gate."]
    return "\n".join(lines) + "\n"


def save_features(data: KindData, path: Path) -> None:
    np.savez_compressed(path, **{k: getattr(data, k) for k in KindData.__dataclass_fields__})


def load_features(path: Path) -> KindData:
    z = np.load(path, allow_pickle=False)
    return KindData(**{k: z[k] for k in KindData.__dataclass_fields__})


def train(task: str, root: Path, encoder_name: str = "acoustic", out: Path | None = None, seed: int = 0,
          log=print, features: Path | None = None) -> Path:
    """`features`: an .npz of the gathered features, read when it exists and written when not (derived numbers
    only, never audio), so the protocol can be re-run without embedding the datasets again."""
    spec = get_task(task)
    encoder = get_encoder(encoder_name, allow_download=False, window_features=spec.window_features)
    cache = EmbeddingCache()
    t0 = time.time()
    if features is not None and Path(features).is_file():
        data = load_features(features)
    else:
        data = gather(task, Path(root), encoder, cache, seed=seed, log=log)
        if features is not None:
            save_features(data, features)
    log(f"features: {len(data.kind)} recordings {dict(Counter(data.kind.tolist()))}, {len(data.cuts)} cuts, "
        f"{time.time() - t0:.0f} s")
    ev = evaluate(task, data, seed=seed)
    text = validated_text(ev)
    log(text)
    model = InputCheckModel(task, people=FAMILY_PEOPLE[TASK_KIND[task]], validated=text).fit(
        data.X, data.kind, data.group, data.cuts, data.cut_group)
    meta = {"kind": ARTIFACT_NAME, "task": task, "title": f"Input check ({spec.title})", "people": model.people,
            "encoder": {"name": encoder.info.name, "version": encoder.info.version, "dim": encoder.info.dim,
                        "fingerprint": encoder.info.fingerprint, "label": encoder.info.label},
            "window": {"hop_s": 1.0}, "kinds": list(KINDS), "validated_text": text,
            "data": {"recordings": dict(Counter(data.source.tolist())), "generated_per_family": GENERATED_PER_FAMILY,
                     "seed": seed}}
    path = out or artifact_dir(task, encoder.info.name, ARTIFACT_NAME, trained_dir())
    save_artifact(path, meta=meta, objects=model.objects(), projection=None, metrics=ev, card=card(ev, meta))
    log(f"saved {path} ({time.time() - t0:.0f} s)")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core train-input-check", description=__doc__.split("\n")[0])
    ap.add_argument("--task", required=True, choices=list(TASK_KIND))
    ap.add_argument("--data", required=True, type=Path, help="folder holding sprsound/, cry_pain/ and donateacry/")
    ap.add_argument("--encoder", default="acoustic", choices=["acoustic", "hear"])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--features", type=Path, default=None,
                    help="keep the gathered features in this .npz (read it when it exists)")
    a = ap.parse_args(argv)
    missing = [d for d in ("sprsound", "cry_pain", "donateacry") if not (a.data / d).is_dir()]
    if missing:
        print(f"error: {a.data} lacks {', '.join(missing)}: the check needs recordings of both kinds.", file=sys.stderr)
        return 2
    train(a.task, a.data, a.encoder, a.out, a.seed, log=lambda s: print(s, flush=True), features=a.features)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
