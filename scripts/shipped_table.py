"""Write the README's tables and every MODEL_CARD.md from trained/*/*/*/{meta,metrics}.json, so no number is
ever typed by hand.

`python scripts/shipped_table.py` rewrites the blocks between the README's markers and the model cards;
`--check` exits 1 when any of them is out of date (the test suite runs it).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from core.evaluation.metrics import format_with_ci  # noqa: E402
from core.evaluation.model_card import (ablation_rows, answer_rows, decision_ablation_records,  # noqa: E402
                                        examination_rows, fmt_ci, load_metrics, md_table, model_card,
                                        operating_point_records, operating_point_words, period_band_words,
                                        period_evidence_records, period_length_records, pooling_shift_records,
                                        recording_model_card, recording_splits, shift_records)
from core.evaluation.references import HEAD_TASKS, LATER_NOTE, OUR_SPLITS, comparison, cv_is_nested  # noqa: E402
README = ROOT / "README.md"
START, END = "<!-- shipped-table:start -->", "<!-- shipped-table:end -->"
SPR_START, SPR_END = "<!-- sprsound-table:start -->", "<!-- sprsound-table:end -->"
CRY_START, CRY_END = "<!-- cry-table:start -->", "<!-- cry-table:end -->"
RESP_START, RESP_END = "<!-- respiratory-table:start -->", "<!-- respiratory-table:end -->"
ABL_START, ABL_END = "<!-- ablation-table:start -->", "<!-- ablation-table:end -->"
CRY_ABL_START, CRY_ABL_END = "<!-- cry-ablation-table:start -->", "<!-- cry-ablation-table:end -->"
EXAM_START, EXAM_END = "<!-- examination-table:start -->", "<!-- examination-table:end -->"
SHIFT_START, SHIFT_END = "<!-- shift-table:start -->", "<!-- shift-table:end -->"
CHECK_START, CHECK_END = "<!-- input-check-table:start -->", "<!-- input-check-table:end -->"
TL_START, TL_END = "<!-- timeline-refinement:start -->", "<!-- timeline-refinement:end -->"
REF_START, REF_END = "<!-- cry-references-table:start -->", "<!-- cry-references-table:end -->"
SIM_START, SIM_END = "<!-- calibration-simulation:start -->", "<!-- calibration-simulation:end -->"


def _fmt(ev: dict, key: str) -> str:
    v = ev["metrics"].get(key)
    if v is None:
        return "–"
    return format_with_ci(v, ev["ci95"].get(key))


def table(root: Path = ROOT / "trained") -> str:
    rows = ["| task / head (encoder) | held-out: units (people) | balanced acc. (95 % CI) | macro ROC-AUC (95 % CI) | "
            "SPRSound Score, held-out patients | SPRSound Score, official intra-patient test (same patients) |",
            "|---|---|---|---|---|---|"]
    for f in sorted(root.glob("*/*/*/metrics.json")):
        m = json.loads(f.read_text())
        if m.get("kind") == "recording_model" or f.parent.name == "input_check":
            continue  # per recording: the respiratory table below; the input check has its own table
        h = m["heldout"]
        few = "; too few for a CI" if h["ci95"].get("roc_auc") is None else ""
        intra = m.get("official_test", {}).get("test_intra")
        tag = " (experimental)" if m.get("experimental") else (" (research)" if m.get("research") else "")
        rows.append(
            f"| {m['task']} / {m['head']}{tag} ({m['encoder'].split(':')[0]}) | {h['n']} {m['unit']}s ({h['n_groups']}{few}) | "
            f"{_fmt(h, 'balanced_accuracy')} | {_fmt(h, 'roc_auc')} | {_fmt(h, 'Score')} | "
            f"{_fmt(intra, 'Score') if intra else '–'} |"
        )
    return "\n".join(rows)


def input_check_table(root: Path = ROOT / "trained") -> str:
    """Per task, the input check's out-of-fold figures per source (the model card's table)."""
    from core.inputcheck.train import source_table

    return "\n\n".join(f"**{ev['task']} task's check**\n\n{source_table(ev)}"
                        for ev in (json.loads(f.read_text())
                                   for f in sorted(root.glob("*/*/input_check/metrics.json"))))


def timeline_table(root: Path = ROOT / "trained") -> str | None:
    """The timeline cut at breathing pauses, per level and period (scripts/timeline_refinement.py)."""
    f = root / "respiratory" / "acoustic" / "recording" / "timeline_refinement.json"
    if not f.is_file():
        return None
    d = json.loads(f.read_text())

    def cell(v: dict, crit: str, m: str) -> str:
        return " / ".join("–" if v[crit][t][m] is None or v[crit][t][m] != v[crit][t][m] else f"{v[crit][t][m]:.3f}"
                          for t in ("CAS", "DAS"))

    rows = ["| cut level | period (out of fold) | overlap F1 | overlap precision | overlap recall | onset/offset F1 "
            "| onset/offset error rate |", "|---|---|---|---|---|---|---|"]
    for level, per in d["by_level"].items():
        for period in ("earlier", "later"):
            v = per[period]
            rows.append(f"| {'none (1-s timeline)' if level == 'none' else level} | {period} | "
                        f"{cell(v, 'overlap', 'f1')} | {cell(v, 'overlap', 'precision')} | "
                        f"{cell(v, 'overlap', 'recall')} | {cell(v, 'onset_offset', 'f1')} | "
                        f"{cell(v, 'onset_offset', 'error_rate')} |")
    sh = d["shipped"]["rule"]
    rows.append("")
    rows.append("Each cell: continuous (CAS) / discontinuous (DAS). Shipped: "
                + (f"cut at level {sh['level']:g}" if sh else "no cut (the 1-s timeline): the level chosen on one period "
                   "did not improve the other, in either direction") + ".")
    return "\n".join(rows)


def _value(v: tuple) -> str:
    value, ci = v
    if value is None:
        return "–"
    return format_with_ci(value, ci)


def sprsound_table(root: Path = ROOT / "trained", encoder: str = "acoustic") -> str:
    rows = ["| SPRSound task | " + " | ".join(t for _, t in OUR_SPLITS) + " | published (source, system) |",
            "|---" * (len(OUR_SPLITS) + 2) + "|"]
    splits: set[str] = set()
    chose_itself = False
    for head in HEAD_TASKS:
        f = root / "respiratory" / encoder / head / "metrics.json"
        if not f.is_file():
            continue
        m = json.loads(f.read_text())
        mark = "" if cv_is_nested(m) else " †"
        chose_itself |= bool(mark)
        for row in comparison(m):
            splits.update(r["test_split"] for r in row["published"])
            pub = "; ".join(f"{r['score']:.4g} ({r['source']}, {r['system']})" for r in row["published"]) or "–"
            vals = [_value(row[t]) + (mark if i == 0 else "") for i, (_, t) in enumerate(OUR_SPLITS)]
            rows.append(f"| {row['task']} ({head}) | " + " | ".join(vals) + f" | {pub} |")
    rows += ["", LATER_NOTE, "", "Patient-grouped CV is nested (the decision rule chosen without the scored patients)"
             + ("; † marks a head whose rule was chosen on the same out-of-fold predictions it is scored on, "
                "so that figure is optimistic." if chose_itself else ".")]
    if splits:
        rows += ["", "Published figures evaluated on: " + "; ".join(sorted(splits)) + "."]
    return "\n".join(rows)


def cry_table(root: Path = ROOT / "trained", encoder: str = "acoustic") -> str:
    """The cry heads by their nested figures: every infant (family) scored by a procedure fitted without them."""
    rows = ["| head | split | ROC-AUC | sensitivity at the shipped threshold | specificity | people with the "
            "majority of their cries right | median within-person AUC |", "|---|---|---|---|---|---|---|"]
    for f in sorted(f for f in (root / "cry" / encoder).glob("*/metrics.json") if f.parent.name != "input_check"):
        m = json.loads(f.read_text())
        nested = m.get("nested_cv")
        tag = " (experimental)" if m.get("experimental") else ""
        if not nested:
            rows.append(f"| {m['head']}{tag} | – (no nested evaluation) | – | – | – | – | – |")
            continue
        pg = nested.get("per_group")
        op = (nested.get("operating_points") or {}).get("balanced")
        sens = fmt_ci(op["sensitivity"], op["sensitivity_ci"]) if op else "–"
        spec = fmt_ci(op["specificity"], op["specificity_ci"]) if op else "–"
        aucs = [r["auc"] for r in pg["groups"] if r.get("auc") is not None] if pg else []
        rows.append(f"| {m['head']}{tag} | {nested['split']} | {_fmt(nested, 'roc_auc')} | {sens} | {spec} | "
                    + (f"{pg['majority_correct']} of {pg['n_groups']}" if pg else "–") + " | "
                    + (f"{float(np.median(aucs)):.3f} ({len(aucs)} with both kinds)" if aucs else "–") + " |")
    gate = root / "cry" / encoder / "gate.json"
    if gate.is_file():  # scripts/cry_gate_coverage.py
        g = json.loads(gate.read_text())
        rows += ["", "Cry gate: recordings with at least one usable window (a verdict), before and after silence was "
                     "judged against the recording's own background (`python scripts/cry_gate_coverage.py`):", "",
                 "| recordings | gate | with a verdict | refused: no crying |", "|---|---|---|---|"]
        for name, by_gate in g["sets"].items():
            for gname, v in by_gate.items():
                rows.append(f"| {name} | {gname} | {v['with_verdict']} of {v['recordings']} "
                            f"({v['share_with_verdict']:.1%}) | {v['refused_no_crying']} |")
    return "\n".join(rows)


def respiratory_table(root: Path = ROOT / "trained", encoder: str = "acoustic") -> str:
    """The recording-level answers, at the unit the app answers for, on every split."""
    f = root / "respiratory" / encoder / "recording" / "metrics.json"
    if not f.is_file():
        return "(the respiratory recording model is not trained on this checkout)"
    m = json.loads(f.read_text())
    meta = json.loads((f.parent / "meta.json").read_text())
    rows = ["| answer (per recording) | split | recordings (patients) | sensitivity | specificity | AUC |",
            "|---|---|---|---|---|---|"]
    rows += answer_rows(meta, m, against=False)
    rows += ["", "| SPRSound record task | split | shipped rule | plain argmax (same probabilities) |",
             "|---|---|---|---|"]
    for task, pick in (("2-1", lambda r: r["task_2_1"]), ("2-2", lambda r: r)):
        for name, ev in recording_splits(m):
            rule, arg = pick(ev["record"]["rule"]), pick(ev["record"]["argmax"])
            rows.append(f"| {task} | {name} | {fmt_ci(rule['metrics']['Score'], rule['ci95']['Score'])} | "
                        f"{fmt_ci(arg['metrics']['Score'], arg['ci95']['Score'])} |")
    rows += ["", "| window detector class | split | ROC-AUC (windows) | PR-AUC (prevalence) | timeline event F1 "
             "(overlap) | timeline event F1 (onset within 1 s) |", "|---|---|---|---|---|---|"]
    for c in meta["classes"]:
        for name, ev in recording_splits(m):
            d = ev["detection"][c]
            tl = {k: v["classes"].get(c) for k, v in ev["timeline"].items()}
            f1 = {k: fmt_ci(v["f1"], v["ci95"]["f1"]) if v else "– (not a timeline type)" for k, v in tl.items()}
            rows.append(f"| {meta['class_names'].get(c, c)} | {name} | {fmt_ci(d['roc_auc'], d['ci95']['roc_auc'])} | "
                        f"{fmt_ci(d['average_precision'], d['ci95']['average_precision'])} ({d['prevalence']:.3f}) | "
                        f"{f1['overlap']} | {f1['onset']} |")
    return "\n".join(rows)


def ablation_table(root: Path = ROOT / "trained", encoder: str = "acoustic", task: str = "respiratory",
                   head: str = "recording") -> str:
    f = root / task / encoder / head / "ablation.json"
    if not f.is_file():
        return f"(not measured on this checkout: `python scripts/{task}_ablation.py`)"
    a = json.loads(f.read_text())
    return "\n".join([a["note"], "", *ablation_rows(a)])


def examination_table(root: Path = ROOT / "trained", encoder: str = "acoustic") -> str:
    f = root / "respiratory" / encoder / "recording" / "metrics.json"
    if not f.is_file():
        return "(the respiratory recording model is not trained on this checkout)"
    rows = examination_rows(json.loads((f.parent / "meta.json").read_text()), json.loads(f.read_text()),
                            selections=("examination",), splits=("cv", "cv_later", "shift_earlier_to_later_promised",
                                                                "shift_earlier_to_later"))
    return "\n".join(rows) or "(this model was trained before child-level scoring: retrain it)"


def shift_table(root: Path = ROOT / "trained", encoder: str = "acoustic") -> str:
    """The leave-one-period-out check, what differs between the periods, and the decision ablation."""
    f = root / "respiratory" / encoder / "recording" / "metrics.json"
    if not f.is_file():
        return "(the respiratory recording model is not trained on this checkout)"
    meta, m = json.loads((f.parent / "meta.json").read_text()), load_metrics(f.parent)
    shift = shift_records(meta, m)
    if not shift:
        return "(this model was trained on one period only: retrain it)"
    return "\n".join(["**Leave one period out** (whole procedure fitted on one period; promised = its own nested CV; "
                      "target: both figures within 0.05):", "", *md_table(shift), "",
                      "**What differs between the periods** (Normal recordings unless said otherwise):", "",
                      *md_table(period_evidence_records(meta, m)), "",
                      *(["**Where the later period's false alarms come from** (the adventitious screen of the check "
                         "above, by SPRSound's two recording lengths; `python scripts/period_length.py`):", "",
                         *md_table(period_length_records(m)), "", period_band_words(m), "",
                         "**Does any operating point hold?** (the adventitious screen's threshold swept along its "
                         "ranking; promised: nested CV on the earlier period; scored: the later period)", "",
                         *md_table(operating_point_records(m)), "", operating_point_words(m), "",
                         "**Poolings that weigh the typical windows more** (measured, not shipped; calibration and "
                         "thresholds refitted for each on every fit's own out-of-fold evidence):", "",
                         *md_table(pooling_shift_records(m)), ""]
                        if m.get("period_length") else []),
                      "**Decision ablation** (same out-of-fold evidence, only the decisions refitted; CV over both "
                      "periods; drift = fitted on the earlier period, scored on the later, minus its promise):", "",
                      *md_table(decision_ablation_records(meta, m))])


def references_table(root: Path = ROOT / "trained", encoder: str = "acoustic") -> str | None:
    f = root / "cry" / encoder / "pain" / "references.json"
    if not f.is_file():
        return None
    from core.references.train import reference_table

    return reference_table(json.loads(f.read_text()))


def simulation_table_md(root: Path = ROOT / "trained") -> str | None:
    f = root / "calibration_simulation.json"
    if not f.is_file():
        return None
    from core.calibration.simulation import simulation_table

    return simulation_table(json.loads(f.read_text()))


def _splice(text: str, start: str, end: str, body: str) -> str:
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def render(readme: str, body: str, spr: str | None = None, cry: str | None = None, resp: str | None = None,
           abl: str | None = None, exam: str | None = None, cry_abl: str | None = None,
           shift: str | None = None, check: str | None = None, timeline: str | None = None,
           references: str | None = None, simulation: str | None = None) -> str:
    out = _splice(readme, START, END, body)
    for start, end, block in ((SPR_START, SPR_END, spr), (CRY_START, CRY_END, cry), (RESP_START, RESP_END, resp),
                              (ABL_START, ABL_END, abl), (EXAM_START, EXAM_END, exam),
                              (CRY_ABL_START, CRY_ABL_END, cry_abl), (SHIFT_START, SHIFT_END, shift),
                              (CHECK_START, CHECK_END, check), (TL_START, TL_END, timeline),
                              (REF_START, REF_END, references), (SIM_START, SIM_END, simulation)):
        if block is not None and start in out:
            out = _splice(out, start, end, block)
    return out


def cards(root: Path = ROOT / "trained") -> dict[Path, str]:
    """Model cards are not covered by the artefact hashes, so they can follow the card template without retraining."""
    out = {}
    for f in sorted(root.glob("*/*/*/metrics.json")):
        meta, metrics = json.loads((f.parent / "meta.json").read_text()), load_metrics(f.parent)
        if meta.get("kind") == "recording_model":
            out[f.parent / "MODEL_CARD.md"] = recording_model_card(meta, metrics)
        elif meta.get("kind") == "input_check":
            from core.inputcheck.train import card

            out[f.parent / "MODEL_CARD.md"] = card(metrics, meta)
        else:
            out[f.parent / "MODEL_CARD.md"] = model_card(meta, metrics)
    return out


def main(argv: list[str]) -> int:
    text = README.read_text()
    wanted = {README: render(text, table(), sprsound_table(), cry_table(), respiratory_table(), ablation_table(),
                             examination_table(), ablation_table(task="cry", head="pain"), shift_table(),
                             input_check_table(), timeline_table(), references_table(), simulation_table_md()),
              **cards()}
    stale = [p for p, body in wanted.items() if not p.is_file() or p.read_text() != body]
    if "--check" in argv:
        if stale:
            print("out of date (run `python scripts/shipped_table.py`): "
                  + ", ".join(str(p.relative_to(ROOT)) for p in stale), file=sys.stderr)
            return 1
        return 0
    for p in stale:
        p.write_text(wanted[p])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
