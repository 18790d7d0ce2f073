"""Model metrics: every evaluation of the loaded heads, with its split named, beside the published references."""
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.evaluation.metrics import format_with_ci
from core.evaluation.model_card import evaluations
from core.evaluation.references import OUR_SPLITS, comparison
from ui.state import head_metrics, sidebar

KEYS = ("balanced_accuracy", "roc_auc", "macro_f1", "SE", "SP", "AS", "HS", "Score")

task, analyzer = sidebar()
st.title("Model metrics")
if analyzer is None:
    st.stop()

names = list(analyzer.heads)
head_name = st.selectbox("Head", names, format_func=lambda n: analyzer.heads[n].meta["title"], key="metrics_head")
art = analyzer.heads[head_name]
meta, m = art.meta, head_metrics(str(art.path))
st.caption(f"{m['encoder_label']} · {m['shipped_model']} · {meta['aggregation']} · trained {meta['created'][:10]} in "
           f"{m['training_seconds']:.0f} s" + (" · EXPERIMENTAL" if meta.get("experimental") else ""))
st.write("Every split is by person (patient / infant / family): nobody is in both training and evaluation. "
         "Intervals are 95 % cluster-bootstrap intervals over people.")


def cell(ev: dict, key: str) -> str:
    v = ev["metrics"].get(key)
    if v is None:
        return ""
    return format_with_ci(v, ev["ci95"].get(key))


blocks = evaluations(m)
rows = []
for title, ev in blocks:
    for t, e in [(title, ev)] + ([(f"{title} · task 2-1", ev["task_2_1"])] if "task_2_1" in ev else []):
        rows.append({"evaluation": t, "n": e["n"], "people": e["n_groups"],
                     **{k: cell(e, k) for k in KEYS if k in e["metrics"]}, "ECE": round(e.get("ece", 0.0), 3),
                     "split": e["split"]})
st.dataframe(pd.DataFrame(rows), hide_index=True)

rows = comparison(m)
if rows:
    st.subheader("SPRSound Score beside the published references")
    st.caption("Not measured on the same data: the published figures are on the official BioCAS 2022 test set as "
               "their sources report it; ours are patient-grouped CV, held-out patients and the intra-patient test "
               "(same patients as training). Read them side by side, not as a ranking.")
    table = []
    for r in rows:
        ours = {t: format_with_ci(*r[t]) if r[t][0] is not None else "" for _, t in OUR_SPLITS}
        pub = "; ".join(f"{p['score']:.4g} — {p['source']} ({p['system']}; {p['test_split']})" for p in r["published"])
        table.append({"task": r["task"], **ours, "published": pub})
    st.dataframe(pd.DataFrame(table), hide_index=True)

ops = {k: v for k, v in (meta.get("operating_points") or {}).items() if isinstance(v, dict) and "threshold" in v}
if ops:
    st.subheader("Operating points (chosen on grouped out-of-fold predictions)")
    in_use = meta.get("operating_point") or "balanced"
    st.dataframe(pd.DataFrame([{"operating point": k + (" (in use)" if k == in_use else ""),
                                "threshold": round(v["threshold"], 3), "sensitivity": round(v["sensitivity"], 3),
                                "specificity": round(v["specificity"], 3)} for k, v in ops.items()]), hide_index=True)

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
    st.plotly_chart(fig, use_container_width=True)
with c2:
    st.dataframe(pd.DataFrame([{"class": lab, "recall": round(pc["recall"], 3),
                                "95 % CI": (f"{pc['recall_ci'][0]:.2f}–{pc['recall_ci'][1]:.2f}"
                                            if pc.get("recall_ci") else ""),
                                "precision": round(pc["precision"], 3), "F1": round(pc["f1"], 3),
                                "support": pc["support"]}
                               for lab, pc in ev["per_class"].items()]), hide_index=True)
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
    roc_tab.plotly_chart(roc_fig, use_container_width=True)
    pr_tab.plotly_chart(pr_fig, use_container_width=True)
    st.caption("One-vs-rest curves per class, on the evaluation selected above.")
if ev.get("reliability"):
    rel = ev["reliability"]
    fig = go.Figure([
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color="grey"), name="perfect calibration"),
        go.Scatter(x=[b["confidence"] for b in rel], y=[b["accuracy"] for b in rel], mode="lines+markers",
                   name="this head", text=[f"{b['count']} units" for b in rel],
                   hovertemplate="confidence %{x:.2f} · accuracy %{y:.2f} · %{text}<extra></extra>"),
    ])
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="top-label confidence",
                      yaxis_title="accuracy", title=f"Reliability (ECE {ev['ece']:.3f})", xaxis_range=[0, 1],
                      yaxis_range=[0, 1])
    st.plotly_chart(fig, use_container_width=True)
pg = ev.get("per_group")
if pg:
    st.markdown(f"**Per person:** the majority of their units is classified right for **{pg['majority_correct']} of "
                f"{pg['n_groups']}** people.")
    st.dataframe(pd.DataFrame([
        {"person": r["group"], "units": r["n"], "correct": r["correct"], "majority right": r["majority_correct"],
         **{f"{lab}: right / n": f"{r[lab]['correct']} / {r[lab]['n']}" for lab in labels if lab in r},
         **{f"{lab}: mean p({lab})": round(r[lab]["mean_probability"], 3) for lab in labels if lab in r}}
        for r in pg["groups"]]), hide_index=True)

with st.expander("Model card"):
    st.markdown((art.path / "MODEL_CARD.md").read_text())
