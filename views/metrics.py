"""Model metrics: every evaluation of the task's models, at the unit each answer is about, with its split named."""
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.evaluation.metrics import format_with_ci
from core.evaluation.model_card import evaluations, fmt_ci, recording_evaluations, recording_splits
from core.evaluation.references import OUR_SPLITS, comparison, cv_is_nested
from core.tasks import TASKS
from ui.state import current, head_metrics

KEYS = ("balanced_accuracy", "roc_auc", "macro_f1", "SE", "SP", "AS", "HS", "Score")

task, analyzer = current()
st.title("Model metrics")
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
st.write("Every split is by person (patient / infant / family); each table names its split, and figures are given "
         "at the unit the answer is about. Intervals are 95 % cluster-bootstrap intervals over people. The "
         "official intra-patient test holds the same patients as training, recorded later.")


def cell(ev: dict, key: str) -> str:
    v = ev["metrics"].get(key)
    if v is None:
        return ""
    return format_with_ci(v, ev["ci95"].get(key))


if recording_model:
    st.subheader("Recording-level answers (what the Analyze page leads with)")
    rows = []
    for key in ("screen", "asthma"):
        for name, ev in recording_splits(m):
            e = ev["answers"][key]
            rows.append({"answer": list(e["per_class"])[1], "split": name, "recordings": e["n"],
                         "patients": e["n_groups"], "negatives": " + ".join(e["negatives"]),
                         "sensitivity": fmt_ci(e["sensitivity"], e["sensitivity_ci"]),
                         "specificity": fmt_ci(e["specificity"], e["specificity_ci"]),
                         "AUC": fmt_ci(e["metrics"]["roc_auc"], e["ci95"]["roc_auc"])})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.subheader("Window detection (the track under the spectrogram)")
    rows = []
    for c, dsc in m["cv"]["detection"].items():
        for name, ev in recording_splits(m):
            d = ev["detection"][c]
            rows.append({"class": c, "split": name, "windows": d["n"], "positive": d["n_positive"],
                         "patients": d["n_groups"], "ROC-AUC": fmt_ci(d["roc_auc"], d["ci95"]["roc_auc"]),
                         "PR-AUC": fmt_ci(d["average_precision"], d["ci95"]["average_precision"])})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.subheader("Event timeline against the annotated events")
    rows = []
    for name, ev in recording_splits(m):
        for crit, tl in ev["timeline"].items():
            for c, x in tl["classes"].items():
                rows.append({"class": c, "split": name, "criterion": crit, "precision": fmt_ci(x["precision"], x["ci95"]["precision"]),
                             "recall": fmt_ci(x["recall"], x["ci95"]["recall"]), "F1": fmt_ci(x["f1"], x["ci95"]["f1"])})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption("Event-based, one-to-one: overlap = a segment matches an annotated event of its class it overlaps; "
               "onset = its onset lies within 1 s of the event's.")
    blocks = recording_evaluations(m)
    abl = m.get("ablation")
    if abl:
        st.subheader("Ablation: what each design choice bought")
        st.caption(abl.get("note", ""))
        st.dataframe(pd.DataFrame(abl["rows"]), hide_index=True, width="stretch")
else:
    blocks = evaluations(m)
    rows = []
    for title, ev in blocks:
        for t, e in [(title, ev)] + ([(f"{title} · task 2-1", ev["task_2_1"])] if "task_2_1" in ev else []):
            rows.append({"evaluation": t, "n": e["n"], "people": e["n_groups"],
                         **{k: cell(e, k) for k in KEYS if k in e["metrics"]}, "ECE": round(e.get("ece", 0.0), 3),
                         "split": e["split"]})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

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
        table.append({"task": r["task"], **ours, "published": pub})
    st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")

meta_ops = {} if recording_model else (head_metrics(str(paths[head_name])).get("operating_points") or {})
ops = {k: v for k, v in meta_ops.items() if isinstance(v, dict) and "threshold" in v}
if ops:
    st.subheader("Operating points")
    st.caption("Thresholds chosen on person-grouped out-of-fold predictions; sensitivity and specificity measured "
               "on people the threshold was not chosen on (nested CV) where the model card says so.")
    st.dataframe(pd.DataFrame([{"operating point": k, "threshold": round(v["threshold"], 3),
                                "sensitivity": fmt_ci(v["sensitivity"], v.get("sensitivity_ci")),
                                "specificity": fmt_ci(v["specificity"], v.get("specificity_ci")),
                                "validated on": v.get("validated_on", "the predictions it was chosen on")}
                               for k, v in ops.items()]), hide_index=True, width="stretch")

choices = [t for t, _ in blocks] + [f"{t} · task 2-1" for t, ev in blocks if "task_2_1" in ev]
pick = st.selectbox("Confusion matrix and per-class recall for", choices, key="metrics_split")
ev = dict(blocks).get(pick) or dict(blocks)[pick.removesuffix(" · task 2-1")]["task_2_1"]
labels, cm = ev["labels"], ev["confusion_matrix"]
st.caption("Counts per class: " + " · ".join(f"{lab} {n}" for lab, n in ev["counts"].items()))
normalise = st.toggle("Normalise each row (recall per true class)", key="metrics_norm")
c1, c2 = st.columns([3, 2])
with c1:
    z = [[v / max(1, sum(row)) for v in row] for row in cm] if normalise else cm
    text = [[f"{v:.2f}" for v in row] for row in z] if normalise else cm
    fig = go.Figure(go.Heatmap(z=z, x=labels, y=labels, colorscale="Blues", text=text, texttemplate="%{text}",
                               hovertemplate="true %{y} · predicted %{x}: %{z}<extra></extra>"))
    fig.update_layout(height=120 + 40 * len(labels), margin=dict(l=10, r=10, t=10, b=10),
                      xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed")
    st.plotly_chart(fig, width="stretch")
with c2:
    st.dataframe(pd.DataFrame([{"class": lab, "recall": round(pc["recall"], 3),
                                "95 % CI": (f"{pc['recall_ci'][0]:.2f}–{pc['recall_ci'][1]:.2f}"
                                            if pc.get("recall_ci") else ""),
                                "precision": round(pc["precision"], 3), "F1": round(pc["f1"], 3),
                                "support": pc["support"]}
                               for lab, pc in ev["per_class"].items()]), hide_index=True, width="stretch")
st.caption(f"Split: {ev['split']}")
if ev.get("curves"):
    roc_tab, pr_tab = st.tabs(["ROC curves", "Precision-recall curves"])
    roc_fig, pr_fig = go.Figure(), go.Figure()
    roc_fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color="grey"),
                                 name="chance"))
    for lab, c in ev["curves"].items():
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
    st.caption("One-vs-rest curves per class, on the evaluation selected above.")
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
    st.dataframe(pd.DataFrame(rows).rename(columns={"auc": "within-person AUC"}), hide_index=True,
                 width="stretch")

with st.expander("Model card"):
    st.markdown((paths[head_name] / "MODEL_CARD.md").read_text())
