"""A short model card written next to every artefact, generated from its own meta and metrics (no typed numbers)."""
from __future__ import annotations

import numpy as np

#: by dataset layout (core.data.datasets): the limits come from the data a head was trained on
LIMITS = {
    "sprsound": (
        "Trained on SPRSound (Shanghai Children's Medical Center, one stethoscope model, 8 kHz recordings, "
        "children aged 0-18). Not validated on other stethoscopes, adults, or noisy wards. The official "
        "inter-patient test set was not available, so the held-out figures come from patient-grouped splits (for the "
        "respiratory recording model: of the training release and the intra-patient release together, a patient's "
        "recordings of both periods always on one side)."
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
        if any(r.get("auc") is not None for r in pg["groups"]):
            lines += ["", "| person | units | right | sensitivity | specificity | within-person AUC |",
                      "|---|---|---|---|---|---|"]
            for r in pg["groups"]:
                lines.append(f"| {r['group']} | {r['n']} | {r['correct']} | {_fmt(r.get('sensitivity'))} | "
                             f"{_fmt(r.get('specificity'))} | {_fmt(r.get('auc'))} |")
    lines.append("")
    if "task_2_1" in ev:
        lines += _block(f"{title}: SPRSound task 2-1 (Normal / Adventitious / Poor Quality; CAS, DAS and CAS & DAS "
                        f"probabilities summed)", ev["task_2_1"])
    return lines


OFFICIAL_NAMES = {"test_intra": "Official intra-patient test (same patients as training)",
                  "test_inter": "Official inter-patient test (patients unseen in training)"}


def evaluations(metrics: dict, include_dev: bool = True) -> list[tuple[str, dict]]:
    """Every evaluation block of a head's metrics.json, titled, headline first (the card and the metrics page)."""
    nested = metrics.get("nested_cv")
    if nested and "per_group" in nested:  # a small cohort: every person scored by a procedure fitted without them
        out = [("Nested leave-one-person-out (headline: model, calibration and threshold chosen on the other "
                "people only)", nested),
               (f"Held-out people ({metrics['heldout']['n_groups']}; too few for a headline)", metrics["heldout"])]
    else:
        out = [("Held-out people (headline)", metrics["heldout"])]
    if include_dev and "dev_cv" in metrics:
        out.append(("Grouped cross-validation, development people", metrics["dev_cv"]))
    if nested and "per_group" not in nested:
        out.append(("Nested grouped cross-validation over all people (threshold chosen without the scored people)",
                    nested))
    out.append(("Grouped cross-validation over all people (threshold chosen on these predictions)",
                metrics["all_groups_cv"]))
    for view, ev in metrics.get("all_groups_cv_other_views", {}).items():
        out.append((f"Grouped cross-validation over all people, '{view}' view", ev))
    for split, ev in metrics.get("official_test", {}).items():
        name = OFFICIAL_NAMES.get(split, f"Official test split ({split})")
        out.append((name, ev))
        for view, ov in ev.get("other_views", {}).items():
            out.append((f"{name}, '{view}' view", ov))
    return out


def _ci(ci) -> str:
    return f" ({ci[0]:.2f}–{ci[1]:.2f})" if ci else ""


def _decision_lines(meta: dict) -> list[str]:
    dec, ops = meta.get("decision") or {}, meta.get("operating_points") or {}
    if dec.get("threshold") is not None:
        name = meta.get("operating_point") or "balanced"
        op = ops.get(name, {})
        where = (f"validated by {op['validated_on']}" if op.get("validated_on")
                 else "measured on the same person-grouped out-of-fold predictions it was chosen on (optimistic)")
        out = [f"- Decision: '{dec['positive']}' when its probability >= {dec['threshold']:.3f} ({name} operating point, "
               f"chosen on person-grouped out-of-fold predictions): sensitivity {op.get('sensitivity', float('nan')):.3f}"
               f"{_ci(op.get('sensitivity_ci'))}, specificity {op.get('specificity', float('nan')):.3f}"
               f"{_ci(op.get('specificity_ci'))}, {where}."]
        hs = ops.get("high_sensitivity")
        if name != "high_sensitivity" and hs:
            out.append(f"- Alternative operating point for sensitivity >= {hs['target']:.2f}: threshold "
                       f"{hs['threshold']:.3f}, sensitivity {hs['sensitivity']:.3f}, specificity "
                       f"{hs['specificity']:.3f} ({'same validation' if hs.get('validated_on') else 'same predictions'}).")
        return out
    if not dec.get("rule"):
        return []
    sr = ops.get("score_rule")
    return [f"- Decision: {dec['rule']}" + (f" (a = {sr['a']:.1f}, w = {sr['w_normal']:.2f})." if sr else ".")]


def _split_note(metrics: dict) -> str:
    """The sentence above the evaluations: true for every split listed (the intra-patient test is not by person)."""
    if "test_intra" in metrics.get("official_test", {}):
        return ("Every split is by person (patient / infant / family), so nobody is on both sides, except the official "
                "intra-patient test: other recordings of the same patients as training (its split line gives how "
                "many), a test of new recordings of known patients, not of new patients.")
    return "Every split is by person (patient / infant / family): nobody is on both sides."


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
        _split_note(metrics),
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
    abl = metrics.get("ablation")
    if abl:
        lines += ["## Ablation: what each choice of features bought", abl.get("note", ""), "", *ablation_rows(abl), ""]
    if metrics.get("references"):
        from core.references.train import reference_table

        lines += ["## With the infant's reference cries (no pain)", reference_table(metrics["references"]), ""]
    lines += ["## Limitations", _limits(data["layout"]), ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ recording model

RECORD_SPLITS = (("cv", "Patient-grouped CV, both periods (nested)"),
                 ("cv_by_period/earlier", "Same CV, earlier-period recordings"),
                 ("cv_by_period/later", "Same CV, later-period recordings"),
                 ("heldout", "Held-out patients (first outer fold)"),
                 ("shift/earlier_to_later/scored", "Shift check: fitted on the earlier period, scored on the later"),
                 ("official_test/test_inter", "Official inter-patient test (unseen patients)"),
                 # artefacts of the previous protocol (training release only) still read
                 ("official_test/test_intra", "Official intra-patient test (same patients, recorded later)"))


def _at(metrics: dict, path: str) -> dict | None:
    node = metrics
    for part in path.split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def recording_splits(metrics: dict):
    """(split name, evaluation) for each split the recording model's metrics hold, in reading order."""
    for path, name in RECORD_SPLITS:
        ev = _at(metrics, path)
        if ev and "answers" in ev:
            yield name, ev


def answer_rows(meta: dict, metrics: dict, against: bool = True) -> list[str]:
    """One markdown row per recording answer and split: sensitivity, specificity and AUC with their CIs."""
    rows = []
    for key, a in meta["answers"].items():
        for name, ev in recording_splits(metrics):
            e = ev["answers"][key]
            title = f"{a['title']} (vs {' + '.join(e['negatives'])} recordings)" if against else a["title"]
            rows.append(f"| {title} | {name} | {e['n']} ({e['n_groups']}) | "
                        f"{fmt_ci(e['sensitivity'], e['sensitivity_ci'])} | "
                        f"{fmt_ci(e['specificity'], e['specificity_ci'])} | "
                        f"{fmt_ci(e['metrics']['roc_auc'], e['ci95']['roc_auc'])} |")
    return rows


def examination_rows(meta: dict, metrics: dict, selections: tuple[str, ...] | None = None,
                     splits: tuple[str, ...] | None = None) -> list[str]:
    """The child-level rule per child (the Examination page's unit): header and one row per answer, recordings
    chosen, rule and split. The shipped rule is marked; the others are shown beside it, not chosen on it."""
    from core.decisions.child import RULES, SELECTIONS, SHIPPED_RULE
    from core.evaluation.examination import child_level_figures

    rows = [f"| {meta['answers'][key]['title'].split(' (')[0]} | {SELECTIONS[sel]} | "
            f"{'**shipped**: ' if rule == SHIPPED_RULE else 'compared: '}{_rule_words(meta, key, rule)} | {name} | "
            f"{e.get('n_examinations', e['n_children'])} ({e['n_children']}; {e['n_positive']}) | "
            f"{fmt_ci(e['sensitivity'], e['sensitivity_ci'])} | "
            f"{fmt_ci(e['specificity'], e['specificity_ci'])} | {fmt_ci(e['auc'], e['auc_ci'])} |"
            for key, sel, rule, split, name, e in child_level_figures(metrics, list(meta["answers"]))
            if (selections is None or sel in selections) and (splits is None or split in splits)]
    if not rows:
        return []
    return ["| answer (per child) | recordings per child | rule | split | examinations (children; positive) | sensitivity | "
            "specificity | AUC (pooled score) |", "|---|---|---|---|---|---|---|---|", *rows]


def _rule_words(meta: dict, key: str, rule: str) -> str:
    from core.decisions.child import FITTED_RULE, RULES

    fitted = ((meta.get("examination") or {}).get("rules") or {}).get(key)
    if rule == FITTED_RULE and fitted:
        return f"{fitted['text']} (chosen on other children)"
    return RULES[rule]


def md_table(records: list[dict]) -> list[str]:
    """Rows of dicts (same keys) as a Markdown table."""
    if not records:
        return []
    cols = list(records[0])
    return (["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
            + ["| " + " | ".join(str(r.get(c, "–")) for c in cols) + " |" for r in records])


def shift_records(meta: dict, metrics: dict) -> list[dict]:
    """The leave-one-period-out check per answer: what the fitting period's nested CV promised, what the other
    period got, and whether both figures stayed within 0.05 (the stability target)."""
    out = []
    for name, sh in (metrics.get("shift") or {}).items():
        a, b = name.split("_to_")
        if "skipped" in sh:
            out.append({"answer (per recording)": "–", "fitted on → scored on": f"{a} → {b}",
                        "promised sens / spec (nested CV)": "–", "scored sens / spec": f"not run: {sh['skipped']}",
                        "drift sens / spec": "–", "within 0.05": "–"})
            continue
        for key, d in sh["drift"].items():
            if key not in meta["answers"]:
                continue
            out.append({"answer (per recording)": meta["answers"][key]["title"].split(" (")[0],
                        "fitted on → scored on": f"{a} → {b}",
                        "promised sens / spec (nested CV)": f"{d['promised_sensitivity']:.3f} / "
                                                            f"{d['promised_specificity']:.3f}",
                        "scored sens / spec": f"{fmt_ci(d['scored_sensitivity'], d['scored_sensitivity_ci'])} / "
                                              f"{fmt_ci(d['scored_specificity'], d['scored_specificity_ci'])}",
                        "drift sens / spec": f"{d['drift_sensitivity']:+.3f} / {d['drift_specificity']:+.3f}",
                        "within 0.05": "yes" if d["within_0_05"] else "no"})
        for task in ("2_1", "2_2"):
            r, g = sh["drift"]["record"][f"rule_{task}"], sh["drift"]["record"][f"argmax_{task}"]
            out.append({"answer (per recording)": f"record label, task {task.replace('_', '-')} Score",
                        "fitted on → scored on": f"{a} → {b}",
                        "promised sens / spec (nested CV)": f"{r['promised']:.3f} (argmax {g['promised']:.3f})",
                        "scored sens / spec": f"{r['scored']:.3f} (argmax {g['scored']:.3f})",
                        "drift sens / spec": f"{r['scored'] - r['promised']:+.3f}",
                        "within 0.05": "–"})
    return out


def period_evidence_records(meta: dict, metrics: dict) -> list[dict]:
    """What differs between the periods (Normal recordings unless said otherwise): medians and quartiles."""
    pe = metrics.get("period_evidence")
    if not pe:
        return []
    qs = pe["quantiles"]
    mid = qs.index(50)

    def iqr(v: list) -> str:
        return f"{v[mid]:.3f} ({v[mid - 1]:.3f}–{v[mid + 1]:.3f})" if v else "–"

    per = pe["periods"]
    names = meta.get("class_names", {})
    rows = [("Normal recordings (patients)", lambda p: f"{p['normal_recordings']} ({p['normal_patients']})")]
    rows += [(f"pooled evidence: {names.get(c, c)}, median (IQR)", lambda p, c=c: iqr(p["evidence"][c]))
             for c in meta["classes"]]
    rows += [("window level, dBFS, median (IQR)", lambda p: iqr(p["level_dbfs"])),
             ("noise floor (10th percentile window level), dBFS", lambda p: iqr(p["floor_dbfs"])),
             ("share of recordings 15 s or longer", lambda p: f"{p['share_15s_or_longer']:.2f}"),
             ("age, years, median (IQR)", lambda p: iqr(p["age_years"])),
             ("abnormal recordings: annotated events per recording",
              lambda p: f"{p['events_per_abnormal_recording']}"),
             ("abnormal recordings: annotated share of the recording, median",
              lambda p: f"{p['annotated_share_median']}")]
    return [{"quantity": q, **{period: f(v) for period, v in per.items()}} for q, f in rows]


def period_length_records(metrics: dict) -> list[dict]:
    """The adventitious screen by recording length and period (scripts/period_length.py): where the later period's
    false alarms come from, and how far the audio alone tells the periods apart."""
    pl = metrics.get("period_length")
    if not pl:
        return []
    sep = {s["length"]: s for s in pl["separability"]}
    out = []
    for r in pl["by_length"]:
        s = sep.get(r["length"], {})
        out.append({"length": r["length"], "period": r["period"], "scored by": r["source"],
                    "Normal recordings (patients)": f"{r['normal_recordings']} ({r['normal_patients']})",
                    "false alarms": "–" if r["false_alarm_rate"] is None else f"{r['false_alarm_rate']:.3f}",
                    "mean window probability": "–" if r["mean_window_probability"] is None
                    else f"{r['mean_window_probability']:.3f}",
                    "abnormal recordings: sensitivity": "–" if r["sensitivity"] is None
                    else f"{r['sensitivity']:.3f} ({r['abnormal_recordings']})",
                    "audio tells the periods apart (AUC, Normal)": f"{s['period_auc']:.2f}" if s else "–"})
    return out


def pooling_shift_records(metrics: dict) -> list[dict]:
    """Poolings that weigh a recording's typical windows more than the mean (scripts/period_length.py): the
    adventitious screen promised on the earlier period and scored on the later, decisions refitted for each."""
    pl = metrics.get("period_length") or {}
    return [{"pooling of the window probabilities": r["pooling"],
             "promised sens / spec (AUC)": f"{r['promised'][0]:.3f} / {r['promised'][1]:.3f} ({r['promised'][2]:.3f})",
             "scored on the later period": f"{r['scored'][0]:.3f} / {r['scored'][1]:.3f} ({r['scored'][2]:.3f})",
             "drift sens / spec": f"{r['drift'][0]:+.3f} / {r['drift'][1]:+.3f}"} for r in pl.get("poolings", [])]


def operating_point_records(metrics: dict) -> list[dict]:
    """One threshold on the adventitious probability swept along the ranking (scripts/period_length.py): what each
    promises on the earlier period and gives on the later one."""
    op = (metrics.get("period_length") or {}).get("operating_points") or {}
    tol = op.get("tolerance", 0.05)
    return [{"threshold": f"{r['threshold']:.3f}" + (" (shipped)" if r["shipped"] else ""),
             "promised sens / spec": f"{r['promised'][0]:.3f} / {r['promised'][1]:.3f}",
             "scored on the later period": f"{r['scored'][0]:.3f} / {r['scored'][1]:.3f}",
             "drift sens / spec": f"{r['drift'][0]:+.3f} / {r['drift'][1]:+.3f}",
             f"within {tol:.2f}": "yes" if r["within"] else "no"} for r in op.get("sweep", [])]


def operating_point_words(metrics: dict) -> str:
    """The oracle bound under the sweep: the closest the later period's own labels could bring one threshold."""
    op = (metrics.get("period_length") or {}).get("operating_points") or {}
    o = op.get("oracle")
    if not o:
        return ""
    return (f"Even a threshold chosen with the later period's own labels (threshold {o['threshold']:.3f}) gives "
            f"{o['scored'][0]:.3f} / {o['scored'][1]:.3f} against the shipped promise {o['promise'][0]:.3f} / "
            f"{o['promise'][1]:.3f}: {o['worst_drift']:.3f} off at worst (the target allows "
            f"{op.get('tolerance', 0.05):.2f}). A recalibration, a label-free shift of the scores or any other single "
            "threshold fitted without the later labels is one point on this same ranking, so none can come closer; "
            "only a ranking that holds on the later period can.")


def period_band_words(metrics: dict, at_hz: tuple[int, ...] = (300, 460, 640, 830, 1000, 1500, 3000)) -> str:
    """The long-term spectrum of Normal recordings, later minus earlier, per length, at a few frequencies."""
    pl = metrics.get("period_length")
    if not pl:
        return ""
    c = np.asarray(pl["band_centres_hz"], float)
    parts = []
    for s in pl["separability"]:
        d = s["band_difference_db"]
        parts.append(f"{s['length']}: " + ", ".join(f"{f} Hz {d[int(np.argmin(np.abs(c - f)))]:+.1f} dB"
                                                   for f in at_hz))
    return "Long-term spectrum of Normal recordings, later minus earlier period: " + "; ".join(parts) + "."


#: the decision ablation's rows, named short enough for a table cell on the Metrics page
SHORT_DECISIONS = {"shipped": "shipped: equal-error point", "balanced": "balanced point (earlier release)"}


def decision_ablation_records(meta: dict, metrics: dict, short: bool = False) -> list[dict]:
    out = []
    for r in metrics.get("decision_ablation") or []:
        row = {"decisions": SHORT_DECISIONS.get(r["key"], r["variant"]) if short else r["variant"]}
        for key in meta["answers"]:
            sens, spec = r["cv"][key]
            row[f"{key}: CV sens / spec"] = f"{sens:.3f} / {spec:.3f}"
            d = (r.get("shift") or {}).get(key)
            row[f"{key}: earlier → later drift"] = (f"{d['drift_sensitivity']:+.3f} / {d['drift_specificity']:+.3f}"
                                                     if d else "–")
        row["CV 2-2 Score"] = f"{r['cv_2_2']:.3f}"
        out.append(row)
    return out


def recording_evaluations(metrics: dict) -> list[tuple[str, dict]]:
    """Every evaluate()-shaped block of a recording model's metrics.json, titled (the metrics page's table and
    confusion matrices): the screening answers and the record label (rule and plain argmax), per split."""
    out = []
    for name, ev in recording_splits(metrics):
        for key, a in ev["answers"].items():
            out.append((f"{name} · {key}: {a['per_class'] and list(a['per_class'])[1]}", a))
        out.append((f"{name} · record label (shipped rule)", ev["record"]["rule"]))
        out.append((f"{name} · record label (plain argmax, for comparison)", ev["record"]["argmax"]))
    return out


def validation_roc(metrics: dict, output: str, positive: str) -> dict | None:
    """The ROC curve an output's threshold slider reads: the recording model's nested CV for its answers, a head's
    held-out people otherwise."""
    if metrics.get("kind") == "recording_model":
        ev = metrics.get("cv", {}).get("answers", {}).get(output)
    else:
        ev = metrics.get("heldout")
    return (ev or {}).get("curves", {}).get(positive, {}).get("roc")


def fmt_ci(v, ci) -> str:
    return "n/a" if v is None or v != v else f"{v:.3f}" + (f" ({ci[0]:.2f}–{ci[1]:.2f})" if ci else "")


#: the respiratory recording model's ablation columns (its ablation.json predates the "columns" field)
RECORDING_ABLATION_COLUMNS = {"variant": "variant", "cv_screen": "CV screen sens / spec (AUC)",
                              "cv_scores": "CV 2-1 / 2-2 Score", "intra_screen": "intra screen sens / spec (AUC)",
                              "intra_scores": "intra 2-1 / 2-2 Score", "asthma_cv": "continuous-sound AUC, CV",
                              "asthma_intra": "continuous-sound AUC, intra", "cv_window_auc": "CV window AUC",
                              "seconds": "time (s)"}


def ablation_columns(abl: dict) -> dict[str, str]:
    """Key -> header of an ablation.json's table (scripts/*_ablation.py)."""
    return abl.get("columns") or RECORDING_ABLATION_COLUMNS


def ablation_rows(abl: dict) -> list[str]:
    """An ablation.json as a Markdown table, for the model card and the README."""
    cols = ablation_columns(abl)
    return (["| " + " | ".join(cols.values()) + " |", "|" + "---|" * len(cols)]
            + ["| " + " | ".join(str(r.get(k, "–")) for k in cols) + " |" for r in abl["rows"]])


def _point_words(meta: dict) -> str:
    from core.decisions.operating_points import RULE_TEXT

    return RULE_TEXT.get(meta.get("operating_point_rule", "balanced"), "balanced operating points")


def recording_model_card(meta: dict, metrics: dict) -> str:
    data = metrics["data"]
    names = meta.get("class_names", {})
    th, wth = meta["thresholds"], meta["window_thresholds"]
    lines = [
        f"# Model card: {meta['task']} / {meta['head']} ({meta['encoder']['name']})", "",
        f"**{meta['title']}**", "", "Screening aid for research; not a diagnosis.", "",
        "## What it is",
        f"- Encoder: {meta['encoder']['label']} (`{meta['encoder']['name']}:{meta['encoder']['version']}`, "
        f"{meta['encoder']['dim']}-d per 2-s window, hop {meta['window']['hop_s']} s), the app's own windows, decoder "
        f"and quality gate.",
        f"- Window detector: one {meta['detector_model']} classifier per class ({', '.join(names.get(c, c) for c in meta['classes'])}), "
        f"trained on every usable sliding window of every training recording. A window is positive for a class when "
        f"it holds at least min({meta['window_labels']['min_event_fraction']:.0%} of an annotated event, "
        f"{meta['window_labels']['min_overlap_s']:g} s) of it, negative when it touches none, and left out when it "
        f"holds only a sliver.",
        f"- Recording evidence: the {meta['pooling']} of the window probabilities over the usable windows, mapped to a "
        f"calibrated probability that the class is present (logistic map fitted on patient-grouped out-of-fold "
        f"recordings).",
        "- Decisions: " + "; ".join(f"{a['title']}: {a['rule']}" for a in meta["answers"].values())
        + f" (thresholds at {_point_words(meta)}). Record label: Normal when the screen is negative, otherwise CAS "
          f"when continuous sounds were found (CAS & DAS when the crackle probability also reaches "
          f"{meta.get('das_type_threshold', 1.0):.3f}, chosen for the task 2-2 Score on out-of-fold recordings), "
          "DAS when they were not; the label and both answers are one decision.",
        f"- Poor Quality: a quality model (pooled embedding + the gate's level and usable-window statistics, probabilities "
        f"corrected to equal class priors) above {meta['quality_threshold']:.3f}, the level that calls at most "
        f"{meta['max_good_called_poor']:.0%} of good training recordings poor.",
        "- Timeline: hop-long frames whose mean window probability reaches the class's window threshold ("
        + ", ".join(f"{names.get(c, c)} {wth[c]:.3f}" for c in meta["timeline_types"])
        + "; best window F1 on out-of-fold windows), merged into segments.",
        "", "## Data",
        f"- `{data['root']}` ({data['layout']}): {data['training_units']} training recordings of "
        f"{data['training_groups']} patients"
        + (" (" + ", ".join(f"{k} period: {v}" for k, v in data["training_periods"].items()) + ")"
           if data.get("training_periods") else "")
        + f", {data['training_samples']} windows; {data['skipped_total']} item(s) "
        f"skipped ({', '.join(f'{k}: {v}' for k, v in data['skipped_reasons'].items()) or 'none'}).",
        f"- Record labels (all splits): {', '.join(f'{k} {v}' for k, v in data['labels'].items())}.", "",
        "## Recording-level answers (what the app leads with)",
        "Sensitivity and specificity of the decided answer, AUC of the calibrated probability; 95 % intervals are "
        "cluster-bootstrap intervals over patients. Poor Quality recordings are left out of the screens (they are "
        "answered by the quality rule).", "",
        "| answer | split | recordings (patients) | sensitivity | specificity | AUC |", "|---|---|---|---|---|---|",
    ]
    lines += answer_rows(meta, metrics)
    rules = (meta.get("examination") or {}).get("rules") or {}
    sections = [
        ("## Does a decision hold on another period? (leave one period out)",
         "The whole procedure fitted on one recording period; its own nested patient-grouped CV is what it promises; "
         "then it answers the other period once. Stability target: sensitivity and specificity each within 0.05 of "
         "the promise.", md_table(shift_records(meta, metrics))),
        ("## What differs between the periods",
         "Normal recordings unless said otherwise; the pooled evidence comes from the nested predictions (no "
         "recording scored by a model that saw its patient).", md_table(period_evidence_records(meta, metrics))),
        ("## Where the later period's false alarms come from (recording length)",
         "The adventitious screen of the leave-one-period-out check broken down by SPRSound's two recording lengths "
         "(`python scripts/period_length.py`). " + period_band_words(metrics),
         md_table(period_length_records(metrics))),
        ("## Does any operating point hold? (one threshold swept along the ranking)",
         "The adventitious screen's threshold swept from specificity 0.5 to 0.99, promised by the nested CV on the "
         "earlier period (one threshold on the out-of-fold probabilities), scored with the model fitted on the earlier "
         "period on the later one (`python scripts/period_length.py`). " + operating_point_words(metrics),
         md_table(operating_point_records(metrics))),
        ("## Poolings that weigh the typical windows more (measured, not shipped)",
         "Each pooling with its calibration and thresholds refitted on every fit's own out-of-fold evidence; "
         "promised: nested CV on the earlier period; scored: the later period (`python scripts/period_length.py`).",
         md_table(pooling_shift_records(metrics))),
        ("## Examination of one child (child-level answers)",
         "One examination per patient and recording period (SPRSound marks no visits). The shipped answer pools the "
         "answering sites' probabilities and thresholds the result; pooling and threshold are chosen on out-of-fold "
         "examinations of other children inside each fit (nested: the scored children never chose them). Shipped: "
         + "; ".join(f"{meta['answers'][k]['title'].split(' (')[0]}: {r['text']}" for k, r in rules.items())
         + ". A child is positive when any of its chosen recordings is annotated with those sounds, negative when "
           "all are Normal. Intervals: bootstrap over children.", examination_rows(meta, metrics)),
        ("## Decision ablation (same evidence, decisions refitted)",
         "Each row refits only the decision layer of every fold's model on that model's own out-of-fold evidence; "
         "CV: nested patient-grouped CV over both periods; drift: fitted on the earlier period, scored on the later "
         "(scored minus promised sensitivity / specificity).", md_table(decision_ablation_records(meta, metrics))),
    ]
    for title, intro, body in sections:
        if body:
            lines += ["", title, intro, "", *body]
    lines += ["", "## SPRSound record tasks (2-2: five labels; 2-1: Normal / Adventitious / Poor Quality)", "",
              "| split | rule | 2-2 Score | 2-1 Score | 2-1 SE | 2-1 SP |", "|---|---|---|---|---|---|"]
    for name, ev in recording_splits(metrics):
        for rule in ("rule", "argmax"):
            r = ev["record"][rule]
            t = r["task_2_1"]
            lines.append(f"| {name} | {'shipped rule' if rule == 'rule' else 'plain argmax'} | "
                         f"{fmt_ci(r['metrics']['Score'], r['ci95']['Score'])} | "
                         f"{fmt_ci(t['metrics']['Score'], t['ci95']['Score'])} | {t['metrics']['SE']:.3f} | "
                         f"{t['metrics']['SP']:.3f} |")
    refs = metrics.get("published_references") or []
    if refs:
        lines += ["", "Published, on the official BioCAS 2022 test set (not our splits: read beside, not against): "
                  + "; ".join(f"task {r['task']} {r['score']:.4g} ({r['source']}, {r['system']})" for r in refs) + "."]
    lines += ["", "## Window detection (the track under the spectrogram)",
              "Every usable window of recordings with an event annotation; windows holding a sliver of an event "
              "left out.", "", "| class | split | windows (positive) | patients | ROC-AUC | PR-AUC (prevalence) |",
              "|---|---|---|---|---|---|"]
    for c in meta["classes"]:
        for name, ev in recording_splits(metrics):
            dsc = ev["detection"][c]
            lines.append(f"| {names.get(c, c)} | {name} | {dsc['n']} ({dsc['n_positive']}) | {dsc['n_groups']} | "
                         f"{fmt_ci(dsc['roc_auc'], dsc['ci95']['roc_auc'])} | "
                         f"{fmt_ci(dsc['average_precision'], dsc['ci95']['average_precision'])} "
                         f"({dsc['prevalence']:.3f}) |")
    lines += ["", "## Event timeline against the annotations (event-based, one-to-one matching)",
              "overlap: a segment matches an annotated event of its class when they overlap; onset: when its onset "
              "is within 1 s of the event's.", "",
              "| class | split | criterion | precision | recall | F1 |", "|---|---|---|---|---|---|"]
    for c in meta["timeline_types"]:
        for name, ev in recording_splits(metrics):
            for crit, tl in ev["timeline"].items():
                x = tl["classes"][c]
                lines.append(f"| {names.get(c, c)} | {name} | {crit} | {fmt_ci(x['precision'], x['ci95']['precision'])} "
                             f"| {fmt_ci(x['recall'], x['ci95']['recall'])} | {fmt_ci(x['f1'], x['ci95']['f1'])} |")
    abl = metrics.get("ablation")
    if abl:
        lines += ["", "## Ablation: what each design choice bought", abl.get("note", ""), "", *ablation_rows(abl)]
    lines += ["", "## Limitations", _limits(data["layout"]),
              "The detector's resolution is one hop (1 s): a 0.4-s wheeze is marked as a 1-2 s segment.", ""]
    return "\n".join(lines)


#: files measured beside a head's metrics.json by separate commands (not covered by the artefact's hashes)
SIDE_FILES = {"ablation": "ablation.json",  # scripts/*_ablation.py
              "references": "references.json",  # python -m core train-references
              "period_length": "period_length.json"}  # scripts/period_length.py


def load_metrics(folder) -> dict:
    """A head's metrics.json with the side files found beside it merged in under their keys."""
    import json
    from pathlib import Path

    folder = Path(folder)
    m = json.loads((folder / "metrics.json").read_text())
    for key, name in SIDE_FILES.items():
        if (folder / name).is_file():
            m[key] = json.loads((folder / name).read_text())
    return m
