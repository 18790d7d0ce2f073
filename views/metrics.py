"""Model metrics: every evaluation of the task's models, at the unit each answer is about, with its split named.
Tables keep to the page's width: short column labels, the row's name pinned, long split descriptions listed under
the table rather than squeezed into a column."""
import re

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.decisions.operating_points import non_dominated
from core.evaluation.metrics import format_with_ci
from core.evaluation.model_card import (ablation_columns, decision_ablation_records, evaluations, fmt_ci,
                                        operating_point_records, operating_point_words,
                                        period_band_words, period_evidence_records, period_length_records,
                                        recording_evaluations, recording_splits, shift_records)
from core.evaluation.references import OUR_SPLITS, comparison, cv_is_nested
from core.tasks import TASKS
from ui.state import current, head_metrics

KEYS = ("balanced_accuracy", "roc_auc", "macro_f1", "SE", "SP", "AS", "HS", "Score")
CLASSIFICATION = ("balanced_accuracy", "roc_auc", "macro_f1")
Text, Num = st.column_config.TextColumn, st.column_config.NumberColumn
CI = 128  # px: a figure with its interval, "0.902 (0.83–0.93)"
#: the recording model's split names, shortened for a table cell (the full name and description listed below)
SHORT_SPLITS = {"Official intra-patient test (same patients, recorded later)": "Intra-patient test (same patients)",
                "Shift check: fitted on the earlier period, scored on the later": "Shift check: earlier → later"}


def short_title(title: str) -> str:
    """An evaluation's title short enough for a pinned table column; the full title and split go in the legend."""
    t = re.sub(r"^Nested leave-one-person-out \(headline[^)]*\)", "Nested leave-one-out (headline)", title)
    t = re.sub(r"Held-out people \((\d+); too few for a headline\)", r"Held-out people (only \1)", t)
    t = t.replace("Official intra-patient test (same patients as training)", "Intra-patient test (same patients)")
    t = t.replace(" (threshold chosen without the scored people)", "")
    t = t.replace(" (threshold chosen on these predictions)", ", threshold fitted here")
    t = t.replace("cross-validation over all people", "CV, all people")
    return t.replace("cross-validation", "CV").replace("development people", "development")


def legend(items) -> None:
    """What each short row name stands for: the full title and the split, in words."""
    st.caption("\n".join(f"- **{short}**: {split}" for short, split in items))

st.title("Model metrics")  # painted before waiting for the models
task, analyzer = current()
if analyzer is None:
    st.stop()

paths = {n: art.path for n, art in analyzer.heads.items()} | dict(analyzer.research)
head_name = st.selectbox("Model", list(paths), key="metrics_head",
                         format_func=lambda n: head_metrics(str(paths[n]))["title"])
m = head_metrics(str(paths[head_name]))
recording_model = m.get("kind") == "recording_model"
st.caption(f"{m['encoder_label']} · {m['shipped_model']} · trained in {m['training_seconds']:.0f} s"
           + (" · EXPERIMENTAL" if m.get("experimental") else "")
           + (" · research: scores isolated annotated events, never run on a recording" if m.get("research") else ""))
blocks = recording_evaluations(m) if recording_model else evaluations(m)
same_patients = [t for t, ev in blocks if "same patients as training" in ev.get("split", "")]
st.write("Each table names its split, and figures are given at the unit the answer is about. Intervals are 95 % "
         "cluster-bootstrap intervals over people (none where a split holds too few people). "
         + ("Every split is by person (patient / infant / family), so nobody is in both training and evaluation, "
            "**except the official intra-patient test**: other recordings of the same patients the model was trained "
            "on. It shows how the model does on new recordings of known patients, not on new patients."
            if same_patients else
            "Every split is by person (patient / infant / family): nobody is in both training and evaluation, "
            "**except the shift check**: fitted on one recording period and scored on the other, so the same patients "
            "recorded at another time (it shows whether a decision holds when the recording period changes)."
            if recording_model and m.get("shift") else
            "Every split is by person (patient / infant / family): nobody is in both training and evaluation."))


def cell(ev: dict, key: str) -> str:
    v = ev["metrics"].get(key)
    if v is None:
        return ""
    return format_with_ci(v, ev["ci95"].get(key))


if recording_model:
    st.subheader("Recording-level answers (what the Analyze page leads with)")
    rows = []
    meta = analyzer.heads[head_name].meta
    for key in meta["answers"]:
        for name, ev in recording_splits(m):
            e = ev["answers"][key]
            rows.append({"answer": list(e["per_class"])[1].replace(" present", "").replace(" adventitious", ""),
                         "split": SHORT_SPLITS.get(name, name),
                         "recordings": e["n"], "patients": e["n_groups"], "negatives": " + ".join(e["negatives"]),
                         "sensitivity": fmt_ci(e["sensitivity"], e["sensitivity_ci"]),
                         "specificity": fmt_ci(e["specificity"], e["specificity_ci"]),
                         "AUC": fmt_ci(e["metrics"]["roc_auc"], e["ci95"]["roc_auc"])})
    answers = pd.DataFrame(rows)
    negatives = answers["negatives"].unique().tolist()
    st.dataframe(answers, hide_index=True, width="stretch",
                 column_order=[c for c in answers.columns if c != "negatives" or len(negatives) > 1],
                 column_config={"answer": Text(pinned=True, width=160), "split": Text(width=270),
                                "recordings": Num("rec.", format="%d", width=55, help="recordings"),
                                "patients": Num(format="%d", width=65), "negatives": Text("vs", width=70),
                                "sensitivity": Text(width=CI), "specificity": Text(width=CI),
                                "AUC": Text(width=CI)})
    if len(negatives) == 1:
        st.caption(f"Specificity is measured on {negatives[0]} recordings; AUC separates them from the positives.")
    shift = shift_records(meta, m)
    if shift:
        st.subheader("Does a decision hold on another recording period?")
        st.dataframe(pd.DataFrame(shift), hide_index=True, width="stretch",
                     column_config={"answer (per recording)": Text(pinned=True, width=215),
                                    "fitted on → scored on": Text("fitted → scored", width=110),
                                    "promised sens / spec (nested CV)": Text("promised sens / spec", width=150),
                                    "scored sens / spec": Text(width=240), "drift sens / spec": Text(width=110),
                                    "within 0.05": Text("≤ 0.05", width=60)})
        st.caption("Leave one period out: the whole procedure fitted on one period (its own nested patient-grouped "
                   "CV is what it promises), then scored once on the other. Target: sensitivity and specificity each "
                   "within 0.05 of the promise.")
        st.dataframe(pd.DataFrame(period_evidence_records(meta, m)), hide_index=True, width="stretch",
                     column_config={"quantity": Text(pinned=True, width=490)})
        st.caption("What differs between the periods (Normal recordings unless said otherwise; evidence from the "
                   "nested predictions).")
        by_length = period_length_records(m)
        if by_length:
            short = {"earlier": "promise: nested CV", "later": "earlier-period model"}
            st.dataframe(pd.DataFrame([{**r, "scored by": short.get(r["period"], r["scored by"])} for r in by_length]),
                         hide_index=True, width="stretch",
                         column_config={"length": Text(pinned=True, width=55), "period": Text(width=60),
                                        "scored by": Text(width=150),
                                        "Normal recordings (patients)": Text("Normal (patients)", width=115),
                                        "false alarms": Text(width=85),
                                        "mean window probability": Text("mean window P", width=105),
                                        "abnormal recordings: sensitivity": Text("abnormal: sens.", width=110),
                                        "audio tells the periods apart (AUC, Normal)": Text(
                                            "periods apart (AUC)", width=130,
                                            help="how well the audio alone tells the periods apart among Normal "
                                                 "recordings of this length")})
            st.caption("Where the later period's false alarms come from: the adventitious screen of the check above "
                       "by SPRSound's two recording lengths, and how far the audio alone tells the periods apart "
                       "(patient-grouped CV AUC on Normal recordings; 0.5: not at all). " + period_band_words(m))
        sweep = operating_point_records(m)
        if sweep:
            st.dataframe(pd.DataFrame(sweep), hide_index=True, width="stretch",
                         column_config={"threshold": Text(pinned=True, width=130)})
            st.caption("Does any operating point hold? The adventitious screen's threshold swept from specificity 0.5 "
                       "to 0.99: promised by the nested CV on the earlier period, scored by the earlier-period model "
                       "on the later one. " + operating_point_words(m))
        st.dataframe(pd.DataFrame(decision_ablation_records(meta, m, short=True)), hide_index=True, width="stretch",
                     column_config={"decisions": Text(pinned=True, width=210),
                                    **{f"{k}: CV sens / spec": Text(f"{k}: CV", width=110) for k in meta["answers"]},
                                    **{f"{k}: earlier → later drift": Text(f"{k}: drift", width=120)
                                       for k in meta["answers"]},
                                    "CV 2-2 Score": Text("2-2 Score", width=80)})
        st.caption("Decision ablation: only the decisions refitted on the same out-of-fold evidence.")
    if m.get("examination"):
        st.subheader("Examination of one child (per child: what the Examination page leads with)")
        from core.decisions.child import SHIPPED_RULE
        from core.evaluation.examination import EXAM_SPLITS, child_level_figures

        sites = {"examination": "≤ 4 per visit", "all": "all"}
        rules = {"fitted": "fitted", "any_site": "any site", "two_sites": "≥ 2 sites"}
        splits = {"cv": "CV, both periods", "cv_earlier": "CV, earlier period", "cv_later": "CV, later period",
                  "shift_earlier_to_later_promised": "earlier only: promise",
                  "shift_earlier_to_later": "earlier → later", "test_inter": "inter-patient test"}
        rows = [{"answer": key, "sites": sites[sel],
                 "rule": ("shipped: " if rule == SHIPPED_RULE else "") + rules[rule],
                 "split": splits.get(split, name), "exams": e.get("n_examinations", e["n_children"]),
                 "positive": e["n_positive"], "sensitivity": fmt_ci(e["sensitivity"], e["sensitivity_ci"]),
                 "specificity": fmt_ci(e["specificity"], e["specificity_ci"])}
                for key, sel, rule, split, name, e in child_level_figures(m, tuple(meta["answers"]))]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                     column_config={"answer": Text(pinned=True, width=85), "sites": Text(width=95),
                                    "rule": Text(width=110), "split": Text(width=150),
                                    "exams": Num(format="%d", width=55), "positive": Num(format="%d", width=60),
                                    "sensitivity": Text(width=CI), "specificity": Text(width=CI)})
        legend([(v, dict(EXAM_SPLITS).get(k, k)) for k, v in splits.items() if k in (m.get("examination") or {})])
        fitted = (meta.get("examination") or {}).get("rules") or {}
        st.caption("Shipped child-level answers: " + "; ".join(f"{k}: {r['text']}" for k, r in fitted.items())
                   + ". Pooling and threshold are chosen inside each fit on other children's out-of-fold "
                   "examinations (one per patient and recording period), so every figure here was scored on "
                   "children that never chose them; the fixed rules are shown beside it. Intervals: bootstrap over "
                   "children.")
    st.subheader("Window detection (the track under the spectrogram)")
    rows = []
    for c, dsc in m["cv"]["detection"].items():
        for name, ev in recording_splits(m):
            d = ev["detection"][c]
            rows.append({"class": c, "split": SHORT_SPLITS.get(name, name), "windows": d["n"],
                         "positive": d["n_positive"], "patients": d["n_groups"],
                         "ROC-AUC": fmt_ci(d["roc_auc"], d["ci95"]["roc_auc"]),
                         "PR-AUC": fmt_ci(d["average_precision"], d["ci95"]["average_precision"])})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={"class": Text(pinned=True, width=110), "split": Text(width=225),
                                "windows": Num(format="%d", width=70), "positive": Num(format="%d", width=70),
                                "patients": Num(format="%d", width=70), "ROC-AUC": Text(width=CI),
                                "PR-AUC": Text(width=CI)})
    st.subheader("Event timeline against the annotated events")
    rows = []
    for name, ev in recording_splits(m):
        for crit, tl in ev["timeline"].items():
            for c, x in tl["classes"].items():
                rows.append({"class": c, "split": SHORT_SPLITS.get(name, name), "criterion": crit,
                             "precision": fmt_ci(x["precision"], x["ci95"]["precision"]),
                             "recall": fmt_ci(x["recall"], x["ci95"]["recall"]), "F1": fmt_ci(x["f1"], x["ci95"]["f1"])})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={"class": Text(pinned=True, width=110), "split": Text(width=225),
                                "criterion": Text(width=80), "precision": Text(width=CI), "recall": Text(width=CI),
                                "F1": Text(width=CI)})
    st.caption("Event-based, one-to-one: overlap = a segment matches an annotated event of its class it overlaps; "
               "onset = its onset lies within 1 s of the event's.")
    legend([(SHORT_SPLITS.get(n, n), ev["split"]) for n, ev in recording_splits(m)])
else:
    rows = []
    for title, ev in blocks:
        for t, e in [(title, ev)] + ([(f"{title} · task 2-1", ev["task_2_1"])] if "task_2_1" in ev else []):
            rows.append({"evaluation": short_title(t), "n": e["n"], "people": e["n_groups"],
                         **{k: cell(e, k) for k in KEYS if k in e["metrics"] and k not in ("AS", "HS")},
                         **{k: e["metrics"][k] for k in ("AS", "HS") if k in e["metrics"]}, "ECE": e.get("ece"),
                         "split": e["split"], "title": t})
    table = pd.DataFrame(rows)
    first = {"evaluation": Text(pinned=True, width=320), "n": Num(format="%d", width=60),
             "people": Num(format="%d", width=65)}
    st.dataframe(table, hide_index=True, width="stretch",
                 column_order=["evaluation", "n", "people", *[k for k in CLASSIFICATION if k in table], "ECE"],
                 column_config={**first, "balanced_accuracy": Text("balanced acc.", width=CI),
                                "roc_auc": Text("AUC", width=CI, help="ROC-AUC (macro over classes)"),
                                "macro_f1": Text("macro F1", width=CI),
                                "ECE": Num(format="%.3f", width=60, help="expected calibration error (top label)")})
    if "SE" in table:
        st.markdown("**SPRSound official scores** (the challenge's sensitivity over adventitious classes, "
                    "specificity on normal, and Score = mean of their arithmetic and harmonic means)")
        st.dataframe(table, hide_index=True, width="stretch",
                     column_order=[c for c in ("evaluation", "SE", "SP", "AS", "HS", "Score") if c in table],
                     column_config={"evaluation": first["evaluation"], "SE": Text(width=CI), "SP": Text(width=CI),
                                    "AS": Num(format="%.3f", width=65), "HS": Num(format="%.3f", width=65),
                                    "Score": Text(width=CI)})
    legend([(r["evaluation"], f"{r['title']} — {r['split']}" if r["evaluation"] != r["title"] else r["split"])
            for r in rows])

rows = comparison(m)
if rows:
    st.subheader("SPRSound Score beside the published references")
    st.caption("Not measured on the same data: the published figures are on the official BioCAS 2022 test set as "
               "their sources report it; ours are patient-grouped CV, held-out patients and the intra-patient test "
               "(same patients as training). Read them side by side, not as a ranking. "
               + ("The CV figure is nested: the decision rule was chosen without the scored patients." if
                  cv_is_nested(m) else "This head's CV figure is optimistic: its decision rule was chosen on the "
                  "same out-of-fold predictions it is scored on (not nested)."))
    table = []
    for r in rows:
        ours = {t: format_with_ci(*r[t]) if r[t][0] is not None else "" for _, t in OUR_SPLITS}
        pub = "; ".join(f"{p['score']:.4g} — {p['source']} ({p['system']}; {p['test_split']})" for p in r["published"])
        table.append({"task": r["task"], **ours, "published": pub,
                      "published Scores": " · ".join(f"{p['score']:.4g}" for p in r["published"])})
    short = {"ours: patient-grouped CV, all training patients": "ours: CV",
             "ours: held-out patients": "ours: held-out",
             "ours: official intra-patient test (same patients as training)": "ours: intra (same patients)"}
    # the full attribution of each published figure is listed under the table, not squeezed into a cell
    st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch",
                 column_order=["task", *(t for _, t in OUR_SPLITS), "published Scores"],
                 column_config={"task": Text(pinned=True, width=50),
                                **{t: Text(short.get(t, t), width=CI + 25, help=t) for _, t in OUR_SPLITS},
                                "published Scores": Text(width=200, help="official BioCAS 2022 test set, as "
                                                                        "reported by each source (listed below)")})
    st.caption("\n".join(f"- task {r['task']}: " + "; ".join(
        f"{p['score']:.4g}, {p['source']} ({p['system']})" for p in r["published"]) for r in rows)
        + "\n\nAll published figures: official BioCAS 2022 test set, as reported by their sources.")

meta_ops = {} if recording_model else (head_metrics(str(paths[head_name])).get("operating_points") or {})
ops, dominated = non_dominated({k: v for k, v in meta_ops.items() if isinstance(v, dict) and "threshold" in v})
in_use = (analyzer.heads[head_name].meta.get("operating_point") or "balanced") if head_name in analyzer.heads else ""
if ops:
    st.subheader("Operating points")
    st.caption("Thresholds chosen on person-grouped out-of-fold predictions; sensitivity and specificity measured "
               "on people the threshold was not chosen on (nested CV) where the model card says so.")
    table = pd.DataFrame([{"operating point": k.replace("_", " ") + (" (in use)" if k == in_use else ""),
                           "threshold": v["threshold"],
                           "sensitivity": fmt_ci(v["sensitivity"], v.get("sensitivity_ci")),
                           "specificity": fmt_ci(v["specificity"], v.get("specificity_ci")),
                           "validated on": v.get("validated_on", "the predictions it was chosen on")}
                          for k, v in ops.items()])
    where = table["validated on"].unique().tolist()
    st.dataframe(table, hide_index=True, width="stretch",
                 column_order=[c for c in table.columns if c != "validated on" or len(where) > 1],
                 column_config={"operating point": Text(pinned=True, width=190),
                                "threshold": Num(format="%.3f", width=80), "sensitivity": Text(width=CI),
                                "specificity": Text(width=CI), "validated on": Text(width="large")})
    if len(where) == 1:
        st.caption(f"Sensitivity and specificity validated on: {where[0]}.")
    for name, by in dominated.items():
        st.caption(f"Not offered: the {name.replace('_', ' ')} point, which is no better than the "
                   f"{by.replace('_', ' ')} point on sensitivity or specificity and worse on one of them.")

choices = [t for t, _ in blocks] + [f"{t} · task 2-1" for t, ev in blocks if "task_2_1" in ev]
pick = st.selectbox("Confusion matrix and per-class recall for", choices, key="metrics_split")
ev = dict(blocks).get(pick) or dict(blocks)[pick.removesuffix(" · task 2-1")]["task_2_1"]
labels, cm = ev["labels"], ev["confusion_matrix"]
st.caption("Counts per class: " + " · ".join(f"{lab} {n}" for lab, n in ev["counts"].items()))
normalise = st.toggle("Normalise each row (recall per true class)", key="metrics_norm")
c1, c2 = st.columns([1, 1])
with c1:
    z = [[v / max(1, sum(row)) for v in row] for row in cm] if normalise else cm
    text = [[f"{v:.2f}" for v in row] for row in z] if normalise else cm
    fig = go.Figure(go.Heatmap(z=z, x=labels, y=labels, colorscale="Blues", text=text, texttemplate="%{text}",
                               hovertemplate="true %{y} · predicted %{x}: %{z}<extra></extra>"))
    fig.update_traces(textfont=dict(size=16), colorbar=dict(thickness=12, len=0.8))
    fig.update_layout(height=220 + 55 * len(labels), margin=dict(l=10, r=10, t=10, b=10), font=dict(size=14),
                      xaxis=dict(title="predicted", side="bottom", tickangle=0, automargin=True,
                                 tickfont=dict(size=14)),
                      yaxis=dict(title="true", autorange="reversed", automargin=True, tickfont=dict(size=14)))
    st.plotly_chart(fig, width="stretch")
with c2:
    st.dataframe(pd.DataFrame([{"class": lab, "recall": round(pc["recall"], 3),
                                "95 % CI": (f"{pc['recall_ci'][0]:.2f}–{pc['recall_ci'][1]:.2f}"
                                            if pc.get("recall_ci") else ""),
                                "precision": round(pc["precision"], 3), "F1": round(pc["f1"], 3),
                                "support": pc["support"]}
                               for lab, pc in ev["per_class"].items()]), hide_index=True, width="stretch",
                 column_config={"class": Text(pinned=True, width=120), "recall": Num(format="%.3f", width=60),
                                "95 % CI": Text(width=85, help="of the recall"),
                                "precision": Num(format="%.3f", width=70), "F1": Num(format="%.3f", width=55),
                                "support": Num("n", format="%d", width=55, help="units of this class")})
st.caption(f"Split: {ev['split']}")
if ev.get("curves"):
    roc_tab, pr_tab = st.tabs(["ROC curves", "Precision-recall curves"])
    roc_fig, pr_fig = go.Figure(), go.Figure()
    roc_fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color="grey"),
                                 name="chance"))
    curves = ev["curves"]
    if len(curves) == 2:  # two classes: one curve (the other is its mirror image, with the same AUC)
        positive = analyzer.heads[head_name].decision.positive if head_name in analyzer.heads and hasattr(
            analyzer.heads[head_name], "decision") else None
        keep = positive if positive in curves else list(curves)[-1]
        curves = {keep: curves[keep]}
    for lab, c in curves.items():
        roc_fig.add_trace(go.Scatter(x=c["roc"]["x"], y=c["roc"]["y"], mode="lines",
                                     name=f"{lab} (AUC {c['auc']:.3f})", customdata=c["roc"].get("threshold"),
                                     hovertemplate="FPR %{x:.2f} · TPR %{y:.2f} · threshold %{customdata:.2f}"
                                                   "<extra></extra>"))
        pr_fig.add_trace(go.Scatter(x=c["pr"]["x"], y=c["pr"]["y"], mode="lines",
                                    name=f"{lab} (AP {c['average_precision']:.3f})"))
    roc_fig.update_layout(height=360, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="false positive rate",
                          yaxis_title="true positive rate (sensitivity)")
    pr_fig.update_layout(height=360, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="recall",
                         yaxis_title="precision")
    roc_tab.plotly_chart(roc_fig, width="stretch")
    pr_tab.plotly_chart(pr_fig, width="stretch")
    st.caption("One-vs-rest curves per class, on the evaluation selected above." if len(curves) > 1 else
               f"The curve of '{next(iter(curves))}' against the other class, on the evaluation selected above.")
if ev.get("reliability"):
    rel = ev["reliability"]
    fig = go.Figure([
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color="grey"), name="perfect calibration"),
        go.Scatter(x=[b["confidence"] for b in rel], y=[b["accuracy"] for b in rel], mode="lines+markers",
                   name="this model", text=[f"{b['count']} units" for b in rel],
                   hovertemplate="confidence %{x:.2f} · accuracy %{y:.2f} · %{text}<extra></extra>"),
    ])
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="top-label confidence",
                      yaxis_title="accuracy", title=f"Reliability (ECE {ev['ece']:.3f})", xaxis_range=[0, 1],
                      yaxis_range=[0, 1])
    st.plotly_chart(fig, width="stretch")
pg = ev.get("per_group")
if pg:
    st.markdown(f"**Per person** ({ev['split']}): the majority of their units is classified right for "
                f"**{pg['majority_correct']} of {pg['n_groups']}** people.")
    rows = [{"person": r["group"], "units": r["n"], "correct": r["correct"], "majority right": r["majority_correct"],
             **{k: (round(r[k], 3) if r.get(k) is not None else None) for k in ("sensitivity", "specificity", "auc")
                if k in r},
             **{f"{lab}: right / n": f"{r[lab]['correct']} / {r[lab]['n']}" for lab in labels if lab in r},
             **{f"{lab}: mean p({lab})": round(r[lab]["mean_probability"], 3) for lab in labels if lab in r}}
            for r in pg["groups"]]
    spread = go.Figure([go.Scatter(x=[r["group"] for r in pg["groups"] if lab in r],
                                   y=[r[lab]["mean_probability"] for r in pg["groups"] if lab in r],
                                   mode="markers", name=f"{lab} units: mean p({lab})")
                        for lab in labels])
    spread.update_layout(height=280, margin=dict(l=10, r=10, t=30, b=10), yaxis_range=[0, 1],
                         title="Spread of scores across people (each person's mean probability of the true class)",
                         xaxis_title=TASKS[m["task"]].people if m["task"] in TASKS else "person")
    st.plotly_chart(spread, width="stretch")
    people = pd.DataFrame(rows).rename(columns={"auc": "within-person AUC"})
    st.dataframe(people, hide_index=True, width="stretch",
                 column_config={"person": Text(pinned=True), "units": Num(format="%d"),
                                "correct": Num("right", format="%d"), "majority right": st.column_config.CheckboxColumn("majority"),
                                "sensitivity": Num("sens.", format="%.2f"), "specificity": Num("spec.", format="%.2f"),
                                "within-person AUC": Num("AUC within", format="%.2f"),
                                **{f"{lab}: right / n": Text(f"{lab} right/n") for lab in labels},
                                **{f"{lab}: mean p({lab})": Num(f"mean p({lab})", format="%.2f") for lab in labels}})

abl = m.get("ablation")
if abl:
    st.subheader("Ablation: what each design choice bought")
    st.caption(abl.get("note", ""))
    # a static table wraps its text: the variants and their paired figures stay readable at any width
    cols = ablation_columns(abl)
    st.table(pd.DataFrame(abl["rows"]).reindex(columns=list(cols)).fillna("–").rename(columns=cols), hide_index=True)

refs = m.get("references")
if refs:
    from core.references.train import reference_table

    st.subheader("With the infant's reference cries (no pain)")
    st.caption("The Analyze and Batch pages take cries of the same infant recorded without pain; the pain answer is "
               "then judged against them. Without references the answer and its figures are the ones above.")
    st.markdown(reference_table(refs))

with st.expander("Model card"):
    st.markdown((paths[head_name] / "MODEL_CARD.md").read_text())
