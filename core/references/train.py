"""Fit and validate the reference map: `python -m core train-references --data ../shared/data/cry_pain`.

Validation is the pain head's headline protocol, nested leave-one-infant-out over the 18 infants, with references:
for the tested infant, k = 1, 2, 3 reference cries are drawn from its discomfort cries (several random draws), its
other cries are scored. The pain head's model is fitted on the other 17 infants; the map's weights and its threshold
are fitted on the other infants' out-of-fold scores with references drawn the same way from their own discomfort
cries, so nothing is chosen on the tested infant (the `audit` list lets a test check it). An infant with k or fewer
discomfort cries (2 of the 18 have 2 or 3) gives all of them as references and is scored on its pain cries only.

The shipped map is fitted the same way on all 18 infants' grouped out-of-fold scores and read by the shipped head.
Also measured (model card): how much of the embedding and of the score encodes the infant rather than the cause.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneGroupOut, StratifiedKFold
from sklearn.pipeline import make_pipeline as sk_pipeline
from sklearn.preprocessing import StandardScaler

from core.evaluation.metrics import _auc, binary_operating_points, cluster_rate
from core.heads.training import Design, make_pipeline, oof_scores, raw_scores
from core.references.model import REFERENCE_FILE, ReferenceMap

KS = (1, 2, 3)
DRAWS = 10  # reference draws per tested infant and k (validation)
FIT_DRAWS = 20  # reference draws per training infant and k (fitting a map)
INNER_FOLDS = 4
VARIANTS = {
    "none": "no references: the head's score alone, calibrated the same way (the pain head without references)",
    "learned": "shipped: logistic map of the cry's score and the references' mean score (weights learned per k)",
    "offset": "the cry's score minus the references' mean score (a fixed per-infant offset)",
    "centred": "every window's embedding minus the references' mean embedding, head refitted on centred windows",
}


@dataclass(frozen=True)
class Draw:
    group: str
    refs: np.ndarray  # unit indices used as references
    scored: np.ndarray  # the infant's other units


def draw_references(d: Design, units: np.ndarray, k: int, n_draws: int, rng: np.random.Generator,
                    negative: int = 0) -> list[Draw]:
    """For each person among `units`, `n_draws` sets of k references from their negative units (all of them when
    they have k or fewer), and the person's other units to score."""
    out = []
    for g in np.unique(d.unit_groups[units]):
        mine = units[d.unit_groups[units] == g]
        neg = mine[d.unit_y[mine] == negative]
        if not len(neg):
            continue  # nobody to take references from: such a person cannot be judged against references
        kk = min(k, len(neg))
        for _ in range(n_draws):
            refs = np.sort(rng.choice(neg, kk, replace=False))
            out.append(Draw(str(g), refs, np.setdiff1d(mine, refs)))
    return out


def _unit_means(d: Design, samples: np.ndarray, w: np.ndarray, units: np.ndarray) -> dict[int, float]:
    m = d.scoring[samples]
    su, ws = d.sample_unit[samples][m], w[m]
    return {int(u): float(ws[su == u].mean()) for u in units if (su == u).any()}


def _window_logit(model, X: np.ndarray, pos: int) -> np.ndarray:
    s = raw_scores(model, X, 2)
    return s[:, pos] - s[:, 1 - pos]


def unit_scores_oof(d: Design, units: np.ndarray, name: str, folds: int, seed: int, pos: int) -> np.ndarray:
    """Each unit's score (mean window logit) from a model fitted on the other folds' people only (the heads'
    person-grouped out-of-fold scores, `core.heads.training.oof_scores`)."""
    s = oof_scores(d, units, name, 2, folds, seed)
    out = np.full(d.n_units, np.nan)
    for u, v in _unit_means(d, d.samples_of(units), s[:, pos] - s[:, 1 - pos], units).items():
        out[u] = v
    return out


def unit_scores_fit(d: Design, train: np.ndarray, test: np.ndarray, name: str, pos: int) -> np.ndarray:
    s_tr, s_te = d.samples_of(train), d.samples_of(test)
    model = make_pipeline(name).fit(d.X[s_tr], d.y[s_tr])
    out = np.full(d.n_units, np.nan)
    for u, v in _unit_means(d, s_te, _window_logit(model, d.X[s_te], pos), test).items():
        out[u] = v
    return out


def _features(u: np.ndarray, r: float | None, variant: str) -> np.ndarray:
    if variant == "none" or r is None:
        return u[:, None]
    if variant in ("offset", "centred"):
        return (u - r)[:, None]
    return np.stack([u, np.full(len(u), r)], axis=1)


def fit_map(u: np.ndarray, d: Design, draws: list[Draw], variant: str, pos: int, operating_point: str
            ) -> tuple[LogisticRegression, float]:
    """The logistic map and its threshold from simulated references (no references: `draws` empty, every unit)."""
    if draws:
        F = np.concatenate([_features(u[dr.scored], float(u[dr.refs].mean()), variant) for dr in draws])
        Y = np.concatenate([d.unit_y[dr.scored] for dr in draws])
    else:
        ok = ~np.isnan(u)
        F, Y = u[ok][:, None], d.unit_y[ok]
    cal = LogisticRegression(C=1.0, max_iter=2000).fit(F, Y == pos)
    th = binary_operating_points(Y == pos, cal.predict_proba(F)[:, 1])[operating_point]["threshold"]
    return cal, float(th)


def _centred(d: Design, draws: list[Draw]) -> Design:
    """Windows of each draw's scored units minus the mean window of its references (one draw per person)."""
    X = d.X.copy()
    for dr in draws:
        c = d.X[d.samples_of(dr.refs)].mean(axis=0)
        s = d.samples_of(dr.scored)
        X[s] = d.X[s] - c
    return replace(d, X=X)


def nested_validation(d: Design, name: str, k: int, variant: str = "learned", *, pos: int = 1,
                      operating_point: str = "high_sensitivity", n_draws: int = DRAWS, seed: int = 0,
                      audit: list | None = None) -> dict:
    """Leave-one-person-out; for k >= 1 each tested person is scored `n_draws` times with k references of their own.
    Returns per-draw probabilities and decisions of every scored unit, and the figures."""
    units = np.arange(d.n_units)
    p = np.full((n_draws, d.n_units), np.nan)
    pred = np.zeros((n_draws, d.n_units), bool)
    thresholds = []
    for f, (tr, te) in enumerate(LeaveOneGroupOut().split(units, groups=d.unit_groups)):
        rng = np.random.default_rng(seed * 1000 + f)
        if variant == "centred":
            train_draws = draw_references(d, units[tr], k, 1, rng)
            dd = _centred(d, train_draws)
            scored = np.concatenate([dr.scored for dr in train_draws])
            u_in = unit_scores_oof(dd, scored, name, INNER_FOLDS, seed + f, pos)
            cal, th = fit_map(u_in, dd, [], "none", pos, operating_point)
            s_tr = dd.samples_of(scored)
            model = make_pipeline(name).fit(dd.X[s_tr], dd.y[s_tr])
        else:
            u_in = unit_scores_oof(d, units[tr], name, INNER_FOLDS, seed + f, pos)
            train_draws = draw_references(d, units[tr], k, FIT_DRAWS, rng) if variant != "none" else []
            cal, th = fit_map(u_in, d, train_draws, variant, pos, operating_point)
            u_te = unit_scores_fit(d, units[tr], units[te], name, pos)
        if audit is not None:  # who the map and threshold were fitted on, and who they score
            audit.append((frozenset(np.unique(d.unit_groups[tr]).tolist()),
                          frozenset(np.unique(d.unit_groups[te]).tolist())))
        thresholds.append(th)
        tests = (draw_references(d, units[te], k, n_draws, np.random.default_rng(seed * 1000 + 500 + f))
                 if variant != "none" else [Draw("", np.zeros(0, int), units[te])] * n_draws)
        for j, dr in enumerate(tests):
            if variant == "centred":
                dt = _centred(d, [dr])
                s = dt.samples_of(dr.scored)
                sc = _unit_means(dt, s, _window_logit(model, dt.X[s], pos), dr.scored)
                u = np.array([sc[int(x)] for x in dr.scored])
                q = cal.predict_proba(u[:, None])[:, 1]
            else:
                r = float(u_te[dr.refs].mean()) if len(dr.refs) else None
                q = cal.predict_proba(_features(u_te[dr.scored], r, variant))[:, 1]
            p[j, dr.scored] = q
            pred[j, dr.scored] = q >= th
    return {"variant": variant, "k": k, "probabilities": p, "predicted": pred, "thresholds": thresholds,
            **figures(d, p, pred, pos)}


def figures(d: Design, p: np.ndarray, pred: np.ndarray, pos: int) -> dict:
    """AUC, sensitivity and specificity per draw (mean, spread), CIs by resampling people over all draws, and
    the people with most of their scored units right."""
    y = d.unit_y == pos
    groups = d.unit_groups
    aucs, sens, spec, majority = [], [], [], []
    per_person: dict[str, list[float]] = {}
    for j in range(len(p)):
        m = ~np.isnan(p[j])
        aucs.append(_auc(y[m], p[j][m]))
        sens.append(float(pred[j][m & y].mean()))
        spec.append(float((~pred[j][m & ~y]).mean()))
        right = 0
        for g in np.unique(groups):
            mg = m & (groups == g)
            share = float((pred[j][mg] == y[mg]).mean())
            per_person.setdefault(str(g), []).append(share)
            right += share > 0.5
        majority.append(right)
    m_all = ~np.isnan(p)
    yy, gg = np.broadcast_to(y, p.shape)[m_all], np.broadcast_to(groups, p.shape)[m_all]
    pr = pred[m_all]
    s_ci = cluster_rate(pr[yy], gg[yy])["ci"]
    c_ci = cluster_rate(~pr[~yy], gg[~yy])["ci"]

    def stats(v):
        return {"mean": float(np.mean(v)), "sd": float(np.std(v)), "min": float(np.min(v)), "max": float(np.max(v))}

    return {"auc": stats(aucs), "sensitivity": stats(sens), "specificity": stats(spec),
            "sensitivity_ci": s_ci, "specificity_ci": c_ci, "majority": stats(majority),
            "all_people_right": int(sum(v == len(np.unique(groups)) for v in majority)), "n_draws": len(p),
            "n_people": int(len(np.unique(groups))), "scored_per_draw": float(m_all.sum() / len(p)),
            "per_person": {g: float(np.mean(v)) for g, v in per_person.items()}}


def fit_shipped(d: Design, name: str, k: int, *, pos: int = 1, operating_point: str = "high_sensitivity",
                seed: int = 0) -> tuple[tuple[float, float, float], float]:
    """The shipped map for k references: fitted on every person's grouped out-of-fold scores."""
    units = np.arange(d.n_units)
    u = unit_scores_oof(d, units, name, INNER_FOLDS, seed, pos)
    cal, th = fit_map(u, d, draw_references(d, units, k, FIT_DRAWS, np.random.default_rng(seed)), "learned", pos,
                      operating_point)
    return (float(cal.coef_[0, 0]), float(cal.coef_[0, 1]), float(cal.intercept_[0])), th


def identity(d: Design, runs: dict[str, dict], pos: int = 1, seed: int = 0) -> dict:
    """How much encodes the infant rather than the cause: infant identification from each recording's mean
    embedding (3-fold, by recording), before and after subtracting the mean of 2 reference cries; and the share
    of the score's variance (logit of P(pain)) that lies between infants, among cries of the same kind, without
    and with references."""
    units = np.arange(d.n_units)
    P = np.stack([d.X[d.samples_of(np.array([u]))].mean(axis=0) for u in units])
    rng = np.random.default_rng(seed)
    keep, before, after = [], [], []
    for rep in range(3):
        sel, centre = [], []
        for dr in draw_references(d, units, 2, 1, rng):
            if len(dr.refs) < 2 or len(np.flatnonzero(d.unit_y[dr.scored] != pos)) < 1:
                continue
            sel += dr.scored.tolist()
            centre += [P[dr.refs].mean(axis=0)] * len(dr.scored)
        sel_a, c = np.asarray(sel), np.asarray(centre)
        labs = d.unit_groups[sel_a]
        keep = np.unique(labs)
        for X, acc in ((P[sel_a], before), (P[sel_a] - c, after)):
            hits = []
            for tr, te in StratifiedKFold(3, shuffle=True, random_state=rep).split(X, labs):
                m = sk_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=3000)).fit(X[tr], labs[tr])
                hits.append(float((m.predict(X[te]) == labs[te]).mean()))
            acc.append(float(np.mean(hits)))

    def between_share(prob: np.ndarray) -> dict:
        out = {}
        for lab, cls in (("discomfort", False), ("pain", True)):
            shares = []
            for row in prob:
                m = ~np.isnan(row) & ((d.unit_y == pos) == cls)
                z = np.log(np.clip(row[m], 1e-6, 1 - 1e-6) / np.clip(1 - row[m], 1e-6, 1))
                g = d.unit_groups[m]
                tot = ((z - z.mean()) ** 2).sum()
                btw = sum((g == q).sum() * (z[g == q].mean() - z.mean()) ** 2 for q in np.unique(g))
                shares.append(float(btw / tot) if tot > 0 else float("nan"))
            out[lab] = float(np.mean(shares))
        return out

    return {"infants": int(len(keep)), "chance": 1.0 / max(len(keep), 1),
            "id_accuracy_embedding": float(np.mean(before)), "id_accuracy_centred": float(np.mean(after)),
            "score_between_infants_without": between_share(runs["none"]["probabilities"]),
            "score_between_infants_with_2": between_share(runs["learned:2"]["probabilities"])}


def _load_design(data: Path, encoder_name: str):
    from core.config import cache_dir
    from core.data.datasets import scan
    from core.encoders import get_encoder
    from core.encoders.cache import EmbeddingCache
    from core.heads.pipeline import TrainOptions, embed_for_training
    from core.heads.training import build_design
    from core.tasks import CRY

    head = CRY.head("pain")
    encoder = get_encoder(encoder_name, window_features=CRY.window_features)
    ds = scan(data, head.dataset, None)
    emb = embed_for_training(ds.units, encoder, EmbeddingCache(cache_dir() / "embeddings"), TrainOptions(),
                             CRY.quality, head.views, head.name, print)
    d, _ = build_design(emb, head, np.asarray([i for i, u in enumerate(emb.units) if u.split == "train"]))
    return head, d


def _slim(run: dict) -> dict:
    return {k: v for k, v in run.items() if k not in ("probabilities", "predicted")}


def main(argv: list[str] | None = None) -> int:
    from core.heads.artifacts import artifact_dir

    ap = argparse.ArgumentParser(prog="python -m core train-references", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="the cry_pain folder")
    ap.add_argument("--encoder", default="acoustic", choices=["acoustic", "hear"])
    ap.add_argument("--draws", type=int, default=DRAWS, help=f"reference draws per tested infant (default {DRAWS})")
    ap.add_argument("--no-ablation", action="store_true", help="only the shipped variant (and no references)")
    args = ap.parse_args(argv)
    out_dir = artifact_dir("cry", args.encoder, "pain")
    meta_path = out_dir / "meta.json"
    if not meta_path.is_file():
        print(f"error: no trained pain head in {out_dir}; train it first (python -m core train --task cry ...)",
              file=sys.stderr)
        return 2
    meta = json.loads(meta_path.read_text())
    try:
        head, d = _load_design(args.data, args.encoder)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    name, pos, op = meta["chosen"], head.labels.index(head.positive), head.operating_point
    runs: dict[str, dict] = {}
    t0 = time.time()
    plan = [("none", 0)] + [("learned", k) for k in KS]
    if not args.no_ablation:
        plan += [(v, k) for v in ("offset", "centred") for k in KS]
    for variant, k in plan:
        key = variant if variant == "none" else f"{variant}:{k}"
        runs[key] = nested_validation(d, name, max(k, 1), variant, pos=pos, operating_point=op, n_draws=args.draws)
        r = runs[key]
        print(f"{key:10s} AUC {r['auc']['mean']:.3f} sens {r['sensitivity']['mean']:.3f} spec "
              f"{r['specificity']['mean']:.3f} majority {r['majority']['mean']:.1f} ({time.time() - t0:.0f} s)",
              flush=True)
    coef, thresholds, figs = {}, {}, {}
    n_g = len(np.unique(d.unit_groups))
    for k in KS:
        coef[k], thresholds[k] = fit_shipped(d, name, k, pos=pos, operating_point=op)
        r = runs[f"learned:{k}"]
        figs[k] = {"sensitivity": r["sensitivity"]["mean"], "sensitivity_ci": r["sensitivity_ci"],
                   "specificity": r["specificity"]["mean"], "specificity_ci": r["specificity_ci"],
                   "auc": r["auc"]["mean"], "majority": r["majority"]["mean"], "n_people": n_g,
                   "validated_on": (f"nested leave-one-infant-out over {n_g} infants with {k} reference "
                                    f"cr{'y' if k == 1 else 'ies'} drawn from the tested infant's discomfort cries "
                                    f"({args.draws} draws; map and threshold fitted on the other infants only)")}
    extra = {"runs": {key: _slim(r) for key, r in runs.items()}, "variants": VARIANTS,
             "identity": identity(d, runs, pos), "data": {"recordings": int(d.n_units), "infants": n_g},
             "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "command": "python -m core train-references --data ../shared/data/cry_pain"}
    m = ReferenceMap(head.name, head.positive, next(lab for lab in head.labels if lab != head.positive), coef,
                     thresholds, figs, (meta.get("sha256") or {}).get("model.skops", ""), op, extra)
    (out_dir / REFERENCE_FILE).write_text(json.dumps(m.to_dict(), indent=1) + "\n")
    print(f"wrote {out_dir / REFERENCE_FILE} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def _cell(v: dict, key: str) -> str:
    s = v[key]
    ci = v.get(f"{key}_ci")
    return (f"{s['mean']:.3f}" + (f" ({ci[0]:.2f}–{ci[1]:.2f})" if ci else "")
            + (f", draw sd {s['sd']:.3f}" if s["sd"] > 0 else ""))


def reference_table(d: dict) -> str:
    """The validation with and without references, the ablation and the identity measurement, in Markdown (the
    model card, the README and the Metrics page show the same text), from a `references.json`."""
    runs = d.get("runs", {})
    if not runs:
        return ""
    n = d.get("data", {})
    head = ("| variant | references | AUC | sensitivity (95 % CI) | specificity (95 % CI) | infants with most cries "
            "right (of {p}) | draws with every infant right |\n|---|---|---|---|---|---|---|")
    people = next(iter(runs.values()))["n_people"]

    def row(key: str, text: str, k: str) -> str:
        r = runs[key]
        return (f"| {text} | {k} | {_cell(r, 'auc')} | {_cell(r, 'sensitivity')} | {_cell(r, 'specificity')} | "
                f"{r['majority']['mean']:.1f} (lowest {r['majority']['min']:.0f}) | {r['all_people_right']} of "
                f"{r['n_draws']} |")

    lines = [f"Split: nested leave-one-infant-out over {n.get('infants', people)} infants "
             f"({n.get('recordings', '?')} recordings). For the tested infant, k reference cries are drawn from its "
             f"discomfort cries ({next(iter(runs.values()))['n_draws']} draws per infant, figures are the mean over "
             "draws with their standard deviation across draws, CIs by resampling infants over all draws) and its other cries are scored; the "
             "pain head, the reference map and its threshold are fitted on the other infants only, with references "
             "drawn the same way from their own discomfort cries. Infants with k or fewer discomfort cries give all "
             "of them and are scored on their pain cries. Threshold: the highest reaching sensitivity 0.90 on the "
             "other infants. The dataset holds one bath session per infant, so the references come from the same "
             "session as the discomfort cries they are scored with; references recorded on another day may fit "
             "less well, which these figures cannot show. Command: `"
             + d.get("command", "python -m core train-references") + "`.", "",
             head.format(p=people), row("none", "without references (the head's score, calibrated alike)", "0")]
    for k in KS:
        if f"learned:{k}" in runs:
            lines.append(row(f"learned:{k}", "**shipped**: learned map of the cry's and the references' scores",
                             str(k)))
    for v in ("offset", "centred"):
        for k in KS:
            if f"{v}:{k}" in runs:
                lines.append(row(f"{v}:{k}", VARIANTS[v], str(k)))
    ident = d.get("identity")
    if ident:
        w, wo = ident["score_between_infants_with_2"], ident["score_between_infants_without"]
        lines += ["", f"How much encodes the infant rather than the cause ({ident['infants']} infants with at least "
                      f"3 discomfort cries): a recording's mean embedding names its infant "
                      f"{ident['id_accuracy_embedding']:.0%} of the time (3-fold by recording; chance "
                      f"{ident['chance']:.0%}), and {ident['id_accuracy_centred']:.0%} after subtracting the mean "
                      "of 2 of its reference cries: centring does not remove the infant, since a 2-cry mean is itself "
                      "specific to the infant and leaves an offset of its own (the centred rows above do not help "
                      "either). The "
                      "reference step acts on the score instead: the share of the pain score's variance (logit of "
                      f"P(pain)) lying between infants falls from {wo['discomfort']:.0%} to {w['discomfort']:.0%} "
                      f"among discomfort cries and from {wo['pain']:.0%} to {w['pain']:.0%} among pain cries with 2 "
                      "references."]
    return "\n".join(lines)
