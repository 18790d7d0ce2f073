"""Embeddings: browse a head's training projection, colour it by what is known, select points and listen to them,
overlay clips (and say when a clip does not belong in this space)."""
import hashlib

import streamlit as st

from core.audio.decode import AudioDecodeError
from core.config import SAMPLE_RATE, data_dir
from core.encoders import EncoderUnavailable
from core.answers.analyzer import input_check_words
from core.answers.neighbours import load_clip, locate_audio
from ui.embedding_figures import colour_choices, embedding_figure, prepare
from ui.state import AUDIO_TYPES, current

GROUP_NAMES = {"donateacry": "family (app install)"}  # what a training group is, where it is not the task's
MAX_LISTED = 200  # selected points offered for listening (a lasso can take thousands)


def analysed(name: str, data: bytes, experimental: bool):
    """The clip's analysis, kept in the session per uploaded file so a click on the plot does not analyse it again;
    (result, None) or (None, message)."""
    key = (hashlib.blake2b(data, digest_size=16).hexdigest(), task, analyzer.encoder.info.identity, experimental)
    kept = st.session_state.setdefault("emb_results", {})
    if key not in kept:
        try:
            with st.spinner(f"Analysing {name}…"):
                kept[key] = (analyzer.analyze(data, name=name, experimental=experimental), None)
        except AudioDecodeError as exc:
            kept[key] = (None, f"{name}: cannot analyse ({exc})")
        except EncoderUnavailable as exc:
            return None, f"{name}: the encoder is unavailable right now ({exc})"
        except Exception as exc:  # an unforeseen failure: say so, keep the page usable
            kept[key] = (None, f"{name}: the analysis failed unexpectedly ({type(exc).__name__})")
    current_keys.add(key)
    return kept[key]


def no_crying(result) -> str:
    """The cry gate's reason when it heard no crying in the clip (a lung recording, speech, noise), else ""."""
    for v in [result.verdict, *(h.verdict for h in result.heads.values())]:
        if v.abstained and (v.reason or "").startswith("no crying"):
            return v.reason
    return ""


st.title("Embeddings")  # painted before waiting for the models
task, analyzer = current()
if analyzer is None:
    st.stop()

heads = [n for n, art in analyzer.heads.items() if art.projection is not None]
if not heads:
    st.info("No trained head on this install stores a projection of its training data.")
    st.stop()
name = st.selectbox("Head", heads, format_func=lambda n: analyzer.heads[n].meta["title"], key="emb_head")
art = analyzer.heads[name]
proj = art.projection
data_meta = art.meta.get("data", {})
unit = art.meta.get("unit", "unit")
people = GROUP_NAMES.get(data_meta.get("layout", ""), analyzer.task.people)
table = prepare(proj.table(components=3))
table["row"] = table.index
choices, hidden = colour_choices(table)
c1, c2, c3 = st.columns(3)
dims = c1.radio("View", ["2-D", "3-D"], horizontal=True, key="emb_dims")
colour = c2.selectbox("Colour by", list(choices), key="emb_colour",
                      format_func=lambda f: people if f == "group" else f)
choice = choices[colour]
highlight = None
if choice.kind == "many":
    counts = table[colour].astype(str).value_counts()
    highlight = c3.selectbox(f"Highlight one {people if colour == 'group' else colour}", choice.values,
                             key=f"emb_highlight_{colour}", format_func=lambda v: f"{v} ({counts[v]} {unit}s)",
                             help=f"{len(choice.values)} values are too many to tell apart by colour: the chosen "
                                  "one is drawn coloured by label over the others in grey (hover any point for "
                                  "its value).")
if hidden:
    st.caption("Not offered as a colour: " + "; ".join(hidden.values()) + " (the projection holds only the "
               f"{unit}s the shipped model was fitted on).")

clips = st.file_uploader("Overlay recordings (optional)", type=AUDIO_TYPES, accept_multiple_files=True,
                         key="emb_clips")
current_keys: set = set()
overlay = []
for f in clips or []:
    r, problem = analysed(f.name, f.getvalue(), bool(art.meta.get("experimental")))
    if problem:
        st.warning(problem)
        continue
    placement = r.placements.get(name)
    why_not = no_crying(r)
    if placement is None:
        if r.refused:
            st.warning(f"{f.name}: not placed. {input_check_words(r)}")
        elif why_not:
            st.warning(f"{f.name}: not placed. The cry gate found no crying ({why_not}). Is this an infant cry "
                       "recording? Only clips with crying are placed among the cry training data.")
        else:
            head_out = r.heads.get(name)
            reason = head_out.verdict.reason if head_out is not None else r.verdict.reason
            st.warning(f"{f.name}: no placement ({reason or 'no usable window'})")
        continue
    check = r.input_check  # the analysis's own input check: the same words as on the Analyze page
    far = check is not None and (not check.accepted or bool(check.familiarity and check.familiarity.unusual))
    if far:
        st.warning(f"{f.name}: {input_check_words(r)} Its place here is an extrapolation.")
    if why_not:
        st.warning(f"{f.name}: the cry gate found no crying ({why_not}); this is probably not a cry recording.")
    overlay.append((f.name, placement.clip_coords, far or bool(why_not)))
# results of files no longer uploaded are dropped: the session keeps only what the page shows
st.session_state["emb_results"] = {k: v for k, v in st.session_state.get("emb_results", {}).items()
                                   if k in current_keys}

ev = proj.explained
if dims == "3-D" and "PC3" in table.columns:
    st.plotly_chart(embedding_figure(table, choice, ev, dims=3, highlight=highlight, overlay=overlay, people=people,
                                     unit=unit), width="stretch")
    st.caption("Switch to 2-D to select points and listen to them.")
    st.stop()

fig = embedding_figure(table, choice, ev, dims=2, highlight=highlight, overlay=overlay, people=people, unit=unit)
event = st.plotly_chart(fig, width="stretch", on_select="rerun", selection_mode=("points", "box", "lasso"),
                        key="emb_plot")
st.caption(f"One point per training {unit} ({len(table)}), first principal components of the head's scaled "
           "inputs. Click a point (shift-click for more), or draw a lasso or a box, to list them and listen to them. "
           "Being close to a group is not a diagnosis: these components keep only part of what the head uses.")

rows = []
for p in (event.selection.points if event and event.selection else []):
    cd = p.get("customdata")
    if cd:
        try:
            rows.append(int(cd[0]))
        except (TypeError, ValueError):  # an overlaid clip's star carries no row
            continue
rows = [r for r in dict.fromkeys(rows) if r in table.index]
if rows:
    sel = table.loc[rows].drop(columns=["row"])
    st.write(f"**{len(sel)} selected**: " + ", ".join(f"{k} {v}" for k, v in sel["label"].value_counts().items()))
    shown = [c for c in ("label", "group", "uid", "age", "gender", "location") if c in sel and c not in hidden]
    st.dataframe(sel, hide_index=True, width="stretch", column_order=shown,
                 column_config={"group": st.column_config.TextColumn(people), "uid": st.column_config.TextColumn(unit)})
    root = data_dir() / data_meta.get("root", "")
    if not root.is_dir():
        st.caption("The training audio is not on this machine, so the selected examples cannot be played.")
    else:
        uids = sel["uid"].astype(str).tolist()[:MAX_LISTED]
        labels = dict(zip(sel["uid"].astype(str), sel["label"].astype(str)))
        uid = uids[0] if len(uids) == 1 else st.selectbox(
            f"Listen to a selected {unit}", uids, key="emb_listen", format_func=lambda u: f"{labels[u]} · {u}")
        ref = locate_audio(uid, data_meta.get("layout", ""), root)
        if ref is None:
            st.caption(f"The audio of {uid} is not on this machine.")
        else:
            try:
                clip = load_clip(ref)
            except (AudioDecodeError, OSError) as exc:
                st.warning(f"The audio of {uid} cannot be read ({exc}).")
            else:
                st.caption(f"{labels[uid]} · {uid}" + (f" · {ref.start_s:.1f}–{ref.end_s or ref.start_s:.1f} s of {ref.path.name}"
                                                         if ref.start_s is not None else ""))
                st.audio(clip, sample_rate=SAMPLE_RATE)
