"""History: a child's saved visits side by side, the trend of each answer and of the share of time with continuous /
discontinuous sounds per site, each visit's report again (PDF, JSON, FHIR), and deleting a child's records. Only the
signed-in user's clinic's records; every open, export and deletion is in the audit log."""
import json

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ui.access import account_panel, actor, storage_on, store as clinic_store
from ui.save import fhir_download
from ui.state import current_task

st.title("History")
if not storage_on():
    st.info("Storage is off on this server: nothing is saved, so there is no history. An administrator enables it "
            "(README, 'Saved visits').")
    st.stop()
who = actor()
if who is None:
    st.info("Sign in (sidebar) to see your clinic's saved visits.")
    account_panel()
    st.stop()

from core.storage.store import StorageError  # noqa: E402

task = current_task()
try:
    store = clinic_store()
    kids = store.children(who, task)
except StorageError as exc:
    st.error(str(exc))
    st.stop()
if not kids:
    st.info(f"No saved {task} visits for {who.clinic} yet: save one from the Analyze or Examination page.")
    st.stop()
ref = st.selectbox("Child", [k["ref"] for k in kids], key="history_child",
                   format_func=lambda r: next(f"{k['ref']} ({k['visits']} visit(s), last {k['last']})"
                                              for k in kids if k["ref"] == r))
visits = store.history(who, ref, task)


def _answers(v: dict) -> dict:
    """The visit's answers: the child's (examination) or the recording's (single analysis)."""
    if v["kind"] == "examination":
        return {k: a for k, a in (v["summary"].get("child") or {}).items()}
    return (v["recordings"][0]["answers"] if v["recordings"] else {})


rows = []
for v in visits:
    row = {"date": v["visit_date"], "visit": v["label"], "kind": v["kind"], "sites": len(v["recordings"])}
    for k, a in _answers(v).items():
        row[a.get("title") or k] = a.get("label") if a.get("label") is not None else "no answer"
    row["calibration"] = v["calibration"] or "as shipped"
    row["saved by"] = v["saved_by"]
    rows.append(row)
st.subheader(f"Visits of {ref}")
st.table(pd.DataFrame(rows), hide_index=True)  # a static table: few visits, every cell readable and wrapped

# trend: each answer's probability across visits, and the share of time with each kind of sound per site
fig = go.Figure()
for key in dict.fromkeys(k for v in visits for k in _answers(v)):
    xs, ys = [], []
    for v in visits:
        a = _answers(v).get(key) or {}
        p = a.get("probability", a.get("score"))
        if p is not None:
            xs.append(f"{v['visit_date']} {v['label']}")
            ys.append(p)
    if ys:
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=f"{key}: probability"))
shares = {}
for v in visits:
    for r in v["recordings"]:
        for kind, share in (r.get("shares") or {}).items():
            shares.setdefault((r.get("site") or "?", kind), []).append((f"{v['visit_date']} {v['label']}", share))
for (site, kind), pts in sorted(shares.items()):
    fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers",
                             line=dict(dash="dot"), name=f"{site}: share of time with {kind}"))
fig.update_layout(height=380, margin=dict(l=10, r=10, t=30, b=10), yaxis_range=[0, 1], yaxis_title="probability / share",
                  title="Trend across visits (solid: answers' probabilities; dotted: share of time per site)")
st.plotly_chart(fig, width="stretch")
st.caption("Each answer was decided at its own threshold when it was saved (the table); a rising line is a trend to "
           "read with the recordings, not a diagnosis.")

st.subheader("Open a saved visit")
pick = st.selectbox("Visit", [v["id"] for v in visits], key="history_visit",
                    format_func=lambda i: next(f"{v['visit_date']} · {v['label']} ({v['kind']})"
                                               for v in visits if v["id"] == i))
c1, c2, c3 = st.columns(3)
full = store.visit(who, pick)
if full is None:
    st.error("This visit is no longer there.")
else:
    if full.get("pdf"):
        c1.download_button("Report (PDF)", data=full["pdf"], file_name=f"{ref}_{pick}.pdf", mime="application/pdf",
                           key="history_pdf")
    c2.download_button("Saved answers (JSON)", data=json.dumps(full["report"], indent=1, default=str),
                       file_name=f"{ref}_{pick}.json", mime="application/json", key="history_json")

    def _export():
        store.visit(who, pick, action="export")  # audited as an export
        return full

    fhir_download(_export, ref, task, "history_fhir", clinic=who.clinic, where=c3)

with st.expander(f"Delete every record of {ref}"):
    st.warning(f"This deletes all {len(visits)} visit(s) of {ref} with their answers and reports, for every user of "
               f"{who.clinic}. It cannot be undone.")
    if st.checkbox(f"Yes, delete {ref}", key="history_confirm") and st.button("Delete", key="history_delete"):
        try:
            gone = store.delete_child(who, ref, task)
        except StorageError as exc:
            st.error(str(exc))
        else:
            st.success(gone.text())
if who.admin:
    with st.expander("Audit log (administrators)"):
        st.dataframe(pd.DataFrame(store.audit(who)), hide_index=True, width="stretch")
