"""The recalibration simulation's engine and its table (scripts/calibration_simulation.py prepares the rows).

A labelled set answered by a model that never saw it stands for a new clinic: per split its people are halved at
random, a profile is fitted on n recordings of the first half (whole people in random order; or on n people), and the
other half is answered with it. Reported per requested target and n: the held-out half's sensitivity and
specificity per recording and per child (median and spread over splits), the same half under the model's own
thresholds, how often the profile was refused for too few recordings, and how often the held-out figure fell inside
the CI the profile itself reported (its person-grouped cross-validation on the calibration half).
"""
from __future__ import annotations

import numpy as np

from core.calibration.fit import (ANSWERS, Target, apply, check_counts, child_figures, cross_validate, fit_params,
                                  recording_figures)
from core.calibration.profile import ProfileError

TARGETS = {"sensitivity 0.85": Target("sensitivity", 0.85), "specificity 0.80": Target("specificity", 0.80)}


def _summary(values: list[float]) -> dict:
    v = np.asarray([x for x in values if x is not None], float)
    if not len(v):
        return {"n": 0}
    q = np.percentile(v, [0, 25, 50, 75, 100])
    return {"n": int(len(v)), "min": q[0], "q25": q[1], "median": q[2], "q75": q[3], "max": q[4]}


def _inside(fig: dict | None, reported: dict | None, what: str) -> bool | None:
    if not fig or not reported or fig.get(what) is None or not reported.get(f"{what}_ci"):
        return None
    lo, hi = reported[f"{what}_ci"]
    return bool(lo - 1e-9 <= fig[what] <= hi + 1e-9)


def simulate(rows: list[dict], task: str, sizes: list, splits: int, poolings: dict, shipped_child: dict,
             seed: int = 0, by_people: bool = False, targets: dict | None = None, log=None) -> dict:
    from core.decisions.child import ChildRule

    rules = {k: ChildRule.from_dict(v) for k, v in shipped_child.items()}
    people = sorted({r["patient"] for r in rows})
    out = {}
    for tname, target in (targets or TARGETS).items():
        for n in sizes:
            rng = np.random.default_rng(seed)
            acc: dict = {"refused": 0, "splits": splits, "recordings_used": []}
            for _ in range(splits):
                order = list(rng.permutation(people))
                half = len(order) // 2
                a_people, b_people = (order[:n], order[n:]) if by_people else (order[:half], order[half:])
                cal = []
                for p in a_people:
                    if n != "all" and not by_people and len(cal) >= n:
                        break
                    cal += [r for r in rows if r["patient"] == p]
                if n != "all" and not by_people:
                    cal = cal[:n]
                test = [r for r in rows if r["patient"] in set(b_people)]
                for key in ANSWERS[task]:  # the model's own thresholds on the same half, profile or not
                    f0 = recording_figures(test, key, task, "held-out half")
                    fc0 = child_figures(test, key, task, rules, poolings, "held-out half") if key in poolings else None
                    for what in ("sensitivity", "specificity"):
                        acc.setdefault(f"{key}:recording:{what}:shipped", []).append(f0[what] if f0 else None)
                        if key in poolings:
                            acc.setdefault(f"{key}:child:{what}:shipped", []).append(fc0[what] if fc0 else None)
                try:
                    check_counts(cal, task)
                except ProfileError:
                    acc["refused"] += 1
                    continue
                acc["recordings_used"].append(len(cal))
                answers, child = fit_params(cal, task, target, poolings)
                reported = cross_validate(cal, task, target, poolings, rules)
                scored = apply(test, answers, task)
                for key in ANSWERS[task]:
                    f = recording_figures(scored, key, task, "held-out half")
                    rep = reported[key]["recording"]["after"]
                    for what in ("sensitivity", "specificity"):
                        acc.setdefault(f"{key}:recording:{what}", []).append(f[what] if f else None)
                        acc.setdefault(f"{key}:recording:{what}:inside_ci", []).append(_inside(f, rep, what))
                    if key in poolings:
                        fc = child_figures(scored, key, task, {**rules, **child}, poolings, "held-out half")
                        repc = (reported[key].get("child") or {}).get("after")
                        for what in ("sensitivity", "specificity"):
                            acc.setdefault(f"{key}:child:{what}", []).append(fc[what] if fc else None)
                            acc.setdefault(f"{key}:child:{what}:inside_ci", []).append(_inside(fc, repc, what))
            res = {"refused": acc.pop("refused"), "splits": acc.pop("splits"),
                   "recordings_used": _summary(acc.pop("recordings_used"))}
            for k, v in acc.items():
                if k.endswith(":inside_ci"):
                    vv = [x for x in v if x is not None]
                    res[k] = {"share": float(np.mean(vv)) if vv else None, "n": len(vv)}
                else:
                    res[k] = _summary(v)
            out[f"{tname} | n={n}"] = res
            if log:
                log(f"{tname} n={n}: " + ", ".join(f"{k} {v['median']:.3f}" for k, v in res.items()
                                                   if isinstance(v, dict) and "median" in v and "shipped" not in k))
    return out




def _cell(v: dict | None) -> str:
    if not v or not v.get("n"):
        return "–"
    return f"{v['median']:.2f} ({v['q25']:.2f}–{v['q75']:.2f})"


def _cover(res: dict, keys: list[str]) -> str:
    shares = [res.get(k, {}) for k in keys]
    got = [s for s in shares if s.get("share") is not None]
    if not got:
        return "–"
    return ", ".join(f"{s['share']:.0%}" for s in got)


def simulation_table(d: dict) -> str:
    """The simulation (trained/calibration_simulation.json) in Markdown: per task and unit, the held-out half's
    sensitivity / specificity, median (interquartile range) over splits, for each requested target and size."""
    lines = []
    for task, answers in (("respiratory", ("screen", "continuous")), ("cry", ("pain",))):
        block = d.get(task)
        if not block:
            continue
        res = block["results"]
        what = {"screen": "adventitious", "continuous": "continuous", "pain": "pain"}
        units = ("recording", "child") if task == "respiratory" else ("recording",)
        size = "infants calibrated on" if task == "cry" else "local recordings"
        lines += [f"**{task}** ({block['setting']}; {d.get('splits')} splits):", ""]
        for unit in units:
            head = [f"requested ({unit})", size, "refused (too few)"]
            for a in answers:
                head += [f"{what[a]}: sensitivity", f"{what[a]}: specificity"]
            head += [f"held-out {what[answers[0]]} figure inside the profile's 95 % CI (sens., spec.)"]
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            first = True
            for key, r in res.items():
                target, n = key.split(" | n=")
                if first:  # the model's own thresholds on the same held-out halves (no profile)
                    cells = ["none: the model's own thresholds", "0", "–"]
                    for a in answers:
                        cells += [_cell(r.get(f"{a}:{unit}:sensitivity:shipped")),
                                  _cell(r.get(f"{a}:{unit}:specificity:shipped"))]
                    lines.append("| " + " | ".join(cells + ["–"]) + " |")
                    first = False
                cells = [target, n, f"{r['refused']} of {r['splits']}"]
                for a in answers:
                    cells += [_cell(r.get(f"{a}:{unit}:sensitivity")), _cell(r.get(f"{a}:{unit}:specificity"))]
                cells.append(_cover(r, [f"{a}:{unit}:{m}:inside_ci" for a in answers[:1]
                                        for m in ("sensitivity", "specificity")]))
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
    lines.append("Cells: median over splits (interquartile range) on the held-out half; refused: the calibration "
                 "half had fewer recordings per class or people than a profile needs; no CI below 10 people (the "
                 "cry profiles' infants). Command: `"
                 + d.get("command", "python scripts/calibration_simulation.py") + "`.")
    return "\n".join(lines)
