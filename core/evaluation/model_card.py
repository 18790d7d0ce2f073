"""A short model card written next to every artefact, generated from its own meta and metrics (no typed numbers)."""
from __future__ import annotations

#: by dataset layout (core.data.datasets): the limits come from the data a head was trained on
LIMITS = {
    "sprsound": (
        "Trained on SPRSound (Shanghai Children's Medical Center, one stethoscope model, 8 kHz recordings, "
        "children aged 0-18). Not validated on other stethoscopes, adults, or noisy wards. The official "
        "inter-patient test set was not available, so the held-out figures come from a patient-grouped split of the "
        "training release."
    ),
    "cry_pain": (
        "18 infants recorded in two situations (vaccination vs bath); the label is the situation, not a per-cry "
        "annotation, so the head may partly learn the setting (room, microphone distance) rather than the cry. With "
        "so few infants the held-out confidence intervals are wide (see the cross-validation over all infants). "
        "Not validated for neonatal intensive care, premature infants or other recording set-ups."
    ),
    "donateacry": (
        "Donate-a-cry reasons are tagged by parents after the fact, heavily imbalanced (see the label counts) and "
        "recorded with phone apps at 8 kHz. Split by family, performance is near chance: treat the output as a "
        "research curiosity, never as a reason for a decision."
    ),
}


def _limits(layout: str) -> str:
    key = "sprsound" if layout.startswith("sprsound") else layout
    return LIMITS.get(key, "Trained on user-supplied data: its limits are those of that data; see its documentation.")


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _block(title: str, ev: dict) -> list[str]:
    m, ci = ev["metrics"], ev["ci95"]
    lines = [f"### {title}", f"Split: {ev['split']}.", f"n = {ev['n']} in {ev['n_groups']} groups.", "",
             "| metric | value | 95 % CI (cluster bootstrap by person) |", "|---|---|---|"]
    for key in ("balanced_accuracy", "accuracy", "macro_f1", "roc_auc", "SE", "SP", "AS", "HS", "Score"):
        if key in m:
            c = ci.get(key)
            lines.append(f"| {key} | {_fmt(m[key])} | {'n/a' if not c else f'{c[0]:.3f} to {c[1]:.3f}'} |")
    lines.append(f"| ECE (top-label) | {_fmt(ev.get('ece'))} | |")
    labels = ev.get("labels") or list(ev.get("per_class", {}))
    if labels and ev.get("confusion_matrix"):
        lines += ["", "Per-class recall (95 % CI) and confusion matrix (rows: true, columns: predicted):", "",
                  "| true \\ predicted | " + " | ".join(labels) + " | recall |",
                  "|---" * (len(labels) + 2) + "|"]
        for lab, row in zip(labels, ev["confusion_matrix"]):
            pc = ev["per_class"][lab]
            c = pc.get("recall_ci")
            rec = f"{pc['recall']:.3f}" + (f" ({c[0]:.2f}–{c[1]:.2f})" if c else "")
            lines.append(f"| {lab} | " + " | ".join(str(v) for v in row) + f" | {rec} |")
    pg = ev.get("per_group")
    if pg:
        by = ", ".join(f"{lab} {a} of {b}" for lab, (a, b) in pg["majority_correct_by_label"].items())
        lines += ["", f"Per person: the majority of their units is classified right for "
                      f"{pg['majority_correct']} of {pg['n_groups']} people (by true label: {by})."]
    lines.append("")
    if "task_2_1" in ev:
        lines += _block(f"{title}: SPRSound task 2-1 (Normal / Adventitious / Poor Quality; CAS, DAS and CAS & DAS "
                        f"probabilities summed)", ev["task_2_1"])
    return lines


OFFICIAL_NAMES = {"test_intra": "Official intra-patient test (same patients as training)",
                  "test_inter": "Official inter-patient test (patients unseen in training)"}


def evaluations(metrics: dict, include_dev: bool = True) -> list[tuple[str, dict]]:
    """Every evaluation block of a head's metrics.json, titled, headline first (the card and the metrics page)."""
    out = [("Held-out people (headline)", metrics["heldout"])]
    if include_dev and "dev_cv" in metrics:
        out.append(("Grouped cross-validation, development people", metrics["dev_cv"]))
    out.append(("Grouped cross-validation over all people", metrics["all_groups_cv"]))
    if "leave_one_group_out" in metrics:
        out.append(("Leave one person out (every person a fold of their own)", metrics["leave_one_group_out"]))
    for view, ev in metrics.get("all_groups_cv_other_views", {}).items():
        out.append((f"Grouped cross-validation over all people, '{view}' view", ev))
    for split, ev in metrics.get("official_test", {}).items():
        name = OFFICIAL_NAMES.get(split, f"Official test split ({split})")
        out.append((name, ev))
        for view, ov in ev.get("other_views", {}).items():
            out.append((f"{name}, '{view}' view", ov))
    return out


def _decision_lines(meta: dict) -> list[str]:
    dec, ops = meta.get("decision") or {}, meta.get("operating_points") or {}
    if dec.get("threshold") is not None:
        name = meta.get("operating_point") or "balanced"
        op = ops.get(name, {})
        out = [f"- Decision: '{dec['positive']}' when its probability >= {dec['threshold']:.3f} ({name} operating point, "
               f"chosen on person-grouped out-of-fold predictions: sensitivity {op.get('sensitivity', float('nan')):.3f}, "
               f"specificity {op.get('specificity', float('nan')):.3f} there)."]
        hs = ops.get("high_sensitivity")
        if name != "high_sensitivity" and hs:
            out.append(f"- Alternative operating point for sensitivity >= {hs['target']:.2f}: threshold "
                       f"{hs['threshold']:.3f}, specificity {hs['specificity']:.3f} on the same predictions.")
        return out
    if not dec.get("rule"):
        return []
    sr = ops.get("score_rule")
    return [f"- Decision: {dec['rule']}" + (f" (a = {sr['a']:.1f}, w = {sr['w_normal']:.2f})." if sr else ".")]


def model_card(meta: dict, metrics: dict) -> str:
    data = metrics["data"]
    lines = [
        f"# Model card: {meta['task']} / {meta['head']} ({meta['encoder']['name']})",
        "",
        f"**{meta['title']}**" + (" (EXPERIMENTAL)" if meta.get("experimental") else ""),
        "",
        "Screening aid for research; not a diagnosis.",
        "",
        "## What it is",
        f"- Encoder: {meta['encoder']['label']} (`{meta['encoder']['name']}:{meta['encoder']['version']}`, "
        f"{meta['encoder']['dim']}-d per 2-s window, hop {meta['window']['hop_s']} s).",
        f"- Head: {metrics['shipped_model']}; probabilities calibrated by a logistic map fitted on grouped "
        f"out-of-fold scores.",
        f"- Labels: {', '.join(meta['labels'])}. Unit of prediction: {meta['unit']}. Aggregation: {meta['aggregation']}.",
        f"- {meta.get('description', '')}",
        *_decision_lines(meta),
        "",
        "## Data",
        f"- Source folder: `{data['root']}` ({data['layout']}); {data['training_units']} {meta['unit']}s from "
        f"{data['training_groups']} people used for training; {data['skipped_total']} item(s) skipped "
        f"({', '.join(f'{k}: {v}' for k, v in data['skipped_reasons'].items()) or 'none'}).",
        f"- Label counts (all splits): {', '.join(f'{k} {v}' for k, v in data['labels'].items())}.",
        "",
        "## Performance",
        "Every split is by person (patient / infant / family): nobody is on both sides.",
        "",
    ]
    for title, ev in evaluations(metrics, include_dev=False):
        lines += _block(title, ev)
    refs = metrics.get("published_references") or []
    if refs:
        lines += ["## Published SPRSound scores, for reference", "",
                  "Not measured on our splits: read them beside ours, not against them.", "",
                  "| task | Score | system | source | evaluated on |", "|---|---|---|---|---|"]
        lines += [f"| {r['task']} | {r['score']:.4g} | {r['system']} | {r['source']} | {r['test_split']} |" for r in refs]
        lines.append("")
    lines += ["## Limitations", _limits(data["layout"]), ""]
    return "\n".join(lines)
