"""Embeddings: browse a head's training projection, colour it by what is known, select points, overlay clips."""
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core.audio.decode import AudioDecodeError
from ui.figures import LABEL_COLOURS
from ui.state import AUDIO_TYPES, current

task, analyzer = current()
st.title("Embeddings")
if analyzer is None:
    st.stop()

heads = [n for n, art in analyzer.heads.items() if art.projection is not None]
if not heads:
    st.info("No trained head on this install stores a projection of its training data.")
    st.stop()
name = st.selectbox("Head", heads, format_func=lambda n: analyzer.heads[n].meta["title"], key="emb_head")
art = analyzer.heads[name]
proj = art.projection
table = proj.table(components=3)
c1, c2 = st.columns(2)
dims = c1.radio("View", ["2-D", "3-D"], horizontal=True, key="emb_dims")
colour_options = [c for c in ("label", "split", "group", "age", "gender", "location") if c in table.columns]
colour = c2.selectbox("Colour by", colour_options, key="emb_colour")
if colour == "age":
    table["age"] = pd.to_numeric(table["age"], errors="coerce")
table["row"] = table.index

clips = st.file_uploader("Overlay recordings (optional)", type=AUDIO_TYPES, accept_multiple_files=True,
                         key="emb_clips")
overlay = []
for f in clips or []:
    try:
        r = analyzer.analyze(f.getvalue(), name=f.name)
    except AudioDecodeError as exc:
        st.warning(f"{f.name}: cannot analyse ({exc})")
        continue
    placement = r.placements.get(name)
    if placement is None:
        st.warning(f"{f.name}: no placement ({r.heads[name].verdict.reason or 'no usable window'})")
        continue
    overlay.append((f.name, placement.clip_coords))

unit = art.meta.get("unit", "unit")
hover = {c: True for c in ("label", "group", "split", "uid") if c in table.columns}
ev = proj.explained
if dims == "3-D" and "PC3" in table.columns:
    fig = px.scatter_3d(table, x="PC1", y="PC2", z="PC3", color=colour, hover_data=hover, opacity=0.6,
                        color_discrete_sequence=list(LABEL_COLOURS),
                        labels={f"PC{i + 1}": f"PC{i + 1} ({ev[i]:.0%})" for i in range(3)})
    fig.update_traces(marker=dict(size=3))
    for clip_name, xyz in overlay:
        fig.add_trace(go.Scatter3d(x=[xyz[0]], y=[xyz[1]], z=[xyz[2]], mode="markers+text", text=[clip_name],
                                   marker=dict(size=8, symbol="diamond", color="black"), name=clip_name))
    fig.update_layout(height=620, margin=dict(l=0, r=0, t=10, b=0))
    st.plotly_chart(fig, width="stretch")
    st.caption("Switch to 2-D to select points.")
    st.stop()

fig = px.scatter(table, x="PC1", y="PC2", color=colour, hover_data=hover, custom_data=["row"], opacity=0.6,
                 color_discrete_sequence=list(LABEL_COLOURS),
                 labels={"PC1": f"PC1 ({ev[0]:.0%} of variance)", "PC2": f"PC2 ({ev[1]:.0%} of variance)"})
for clip_name, xy in overlay:
    fig.add_trace(go.Scatter(x=[xy[0]], y=[xy[1]], mode="markers+text", text=[clip_name], textposition="top center",
                             marker=dict(size=14, symbol="star", color="crimson", line=dict(width=1, color="black")),
                             name=clip_name))
fig.update_layout(height=560, margin=dict(l=10, r=10, t=10, b=10), dragmode="lasso")
event = st.plotly_chart(fig, width="stretch", on_select="rerun", selection_mode=("lasso", "box", "points"),
                        key="emb_plot")
st.caption(f"One point per training {unit} ({len(table)}), first principal components of the head's scaled inputs. "
           "Draw a lasso or a box to list the points.")

rows = []
for p in (event.selection.points if event and event.selection else []):
    cd = p.get("customdata")
    if cd:
        rows.append(int(cd[0]))
if rows:
    sel = table.loc[sorted(set(rows))].drop(columns=["row"])
    st.write(f"**{len(sel)} selected**: " + ", ".join(f"{k} {v}" for k, v in sel["label"].value_counts().items()))
    st.dataframe(sel, hide_index=True)
