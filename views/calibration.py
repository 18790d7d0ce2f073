"""Calibrate to a clinic: make a calibration profile from labelled local recordings, inspect one, choose it for this
session's answers or go back to the shipped calibration. Profiles live in one server folder (derived numbers only)."""
import streamlit as st

from ui.state import PROFILE_KEY, current, profile_choice

st.title("Calibrate to a clinic")
st.markdown(
    "Operating points fitted on one set of recordings move on another: other stethoscopes, rooms and children. A "
    "**calibration profile** keeps the model and refits only its answers' calibration and thresholds (and the "
    "child-level threshold) on a modest labelled sample of your own recordings, checked by person-grouped "
    "cross-validation on them. Every answer, report and table then names the profile and quotes its local figures.")
task, analyzer = current()
if analyzer is None:
    st.stop()

import datetime as dt  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402

from core.answers.calibrate import LABEL_HELP, calibrate_folder  # noqa: E402
from core.calibration.fit import MIN_PEOPLE_PER_CLASS, MIN_PER_CLASS, Target  # noqa: E402
from core.calibration.profile import CalibrationProfile, ProfileError  # noqa: E402
from core.calibration.simulation import simulation_table  # noqa: E402
from core.config import Limits, profiles_dir, trained_dir  # noqa: E402
from core.reports.batch import BatchItemError, unpack_zip  # noqa: E402

base = analyzer.with_calibration(None)
folder = profiles_dir()
WORDS = {"screen": "adventitious sounds", "continuous": "continuous sounds", "pain": "pain"}


def profiles() -> tuple[dict[str, CalibrationProfile], dict[str, str]]:
    """This task's profiles in the folder that fit the installed model, and the others with why not."""
    ok, other = {}, {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            prof = CalibrationProfile.load(path)
            if prof.task != task:
                continue
            base.with_calibration(prof)
            ok[path.name] = prof
        except ProfileError as exc:
            other[path.name] = str(exc)
    return ok, other


SHIPPED = "(shipped)"  # the radio's option for the shipped calibration


def choose(name: str) -> None:
    st.session_state[PROFILE_KEY.format(task=task)] = None if name == SHIPPED else name
    st.session_state.pop("analysis", None)  # answers change: the next analysis is made with the new calibration


usable, unusable = profiles()
made = st.session_state.pop("profile_made", None)
if made is not None:
    st.success(made[0])
    st.session_state["profile_inspect"] = made[1]
st.subheader("Calibration in use")
chosen = profile_choice(task)
names = [SHIPPED, *usable]
current_pick = chosen if chosen in usable else SHIPPED
if st.session_state.get("profile_pick", current_pick) != current_pick:  # chosen elsewhere, or dropped
    st.session_state["profile_pick"] = current_pick
pick = st.radio("Answers of this session use", names, index=names.index(current_pick),
                format_func=lambda n: "the shipped calibration" if n == SHIPPED else usable[n].words(),
                key="profile_pick", on_change=lambda: choose(st.session_state["profile_pick"]))
st.caption(f"Profiles are kept in `{folder}` (HEAR_SCREENING_PROFILES_DIR) on the server, shared by its users; they "
           "hold counts, file hashes, fitted parameters and figures, never audio.")
for name, why in unusable.items():
    st.warning(f"`{name}` cannot be used: {why}.")


def figures_frame(prof: CalibrationProfile) -> pd.DataFrame:
    rows = []
    for key, ac in prof.answers.items():
        units = [("recording", ac.figures)] + ([("child", prof.child[key].figures)] if key in prof.child else [])
        for unit, figs in units:
            for when in ("before", "after"):
                f = (figs or {}).get(when) or {}

                def cell(what):
                    v, ci = f.get(what), f.get(f"{what}_ci")
                    return "n/a" if v is None else f"{v:.2f}" + (f" ({ci[0]:.2f}–{ci[1]:.2f})" if ci else "")

                rows.append({"answer": WORDS.get(key, key), "per": unit,
                             "calibration": "shipped" if when == "before" else "profile (cross-validated)",
                             "sensitivity (95% CI)": cell("sensitivity"), "specificity (95% CI)": cell("specificity"),
                             "positives / negatives": f"{f.get('positives', 0)} / {f.get('negatives', 0)}"})
    return pd.DataFrame(rows)


def curve(prof: CalibrationProfile) -> go.Figure:
    """The recalibration map of each answer (local probability against the shipped one) with its threshold."""
    import numpy as np

    x = np.linspace(0.005, 0.995, 199)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=x, mode="lines", name="shipped (no change)", line=dict(dash="dot", color="grey")))
    for key, ac in prof.answers.items():
        fig.add_trace(go.Scatter(x=x, y=ac.probability(x), mode="lines", name=f"{WORDS.get(key, key)}: profile"))
        fig.add_hline(y=ac.threshold, line=dict(dash="dash", width=1),
                      annotation_text=f"{WORDS.get(key, key)} threshold {ac.threshold:.2f}")
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="shipped probability",
                      yaxis_title="probability under the profile", title="Recalibration of each answer")
    return fig


if usable:
    st.subheader("Inspect a profile")
    insp = st.selectbox("Profile", list(usable), index=list(usable).index(pick) if pick in usable else 0,
                        format_func=lambda n: usable[n].name, key="profile_inspect")
    prof = usable[insp]
    d = prof.data
    st.markdown(f"**{prof.name}** · made {prof.created[:16].replace('T', ' ')} UTC · {d['recordings']} recordings of "
                f"{d['people']} people · {prof.target.get('text', '')} · app {prof.app_version} · "
                f"{len(d.get('files_sha256', []))} file hashes")
    st.table(figures_frame(prof), hide_index=True)
    st.caption("Shipped: the shipped calibration and thresholds on all local recordings. Profile: each person "
               "answered with a calibration and thresholds fitted on the other folds' people (person-grouped "
               "cross-validation); CIs by resampling people.")
    st.plotly_chart(curve(prof), width="stretch")
    for note in prof.notes:
        st.caption(f"Note: {note}.")
    st.download_button("Download this profile (JSON)", json.dumps(prof.to_dict(), indent=1).encode(),
                       file_name=insp, mime="application/json", key="profile_download")

sim = trained_dir() / "calibration_simulation.json"
if sim.is_file():
    st.subheader("Does a profile land where it was asked? (simulated clinic)")
    st.markdown(simulation_table(json.loads(sim.read_text())))

from ui.access import actor, storage_on  # noqa: E402

if storage_on() and not getattr(actor(), "admin", False):  # with storage (and sign-in) on, admins make profiles
    st.info("Making a calibration profile is for administrators on this server: sign in with an administrator "
            "account (sidebar) to make one. Profiles already made can be chosen above.")
    st.stop()
st.subheader("Make a profile from your labelled recordings")
st.markdown(f"Upload one zip of {LABEL_HELP[task]}. Each answer needs at least **{MIN_PER_CLASS} recordings of each "
            f"class from at least {MIN_PEOPLE_PER_CLASS} people**: a threshold for a target moves in steps of one "
            "recording, and the person-grouped check needs each class in several folds. The zip is unpacked into a "
            "private temporary folder, analysed, and deleted; the profile keeps only derived numbers.")
with st.form("make_profile"):
    upload = st.file_uploader("Labelled recordings (zip)", type=["zip"], key="profile_zip")
    pname = st.text_input("Profile name (shown on every answer)", max_chars=80, key="profile_name")
    goal = st.radio("Thresholds", ["the shipped rule", "a target sensitivity", "a target specificity"],
                    horizontal=True, key="profile_goal")
    value = st.number_input("Target (for a sensitivity or specificity)", 0.5, 0.99, 0.85, 0.01, key="profile_value")
    pattern = st.text_input("Folder per class: a pattern naming the person in file names (regex, optional)",
                            key="profile_pattern")
    go_make = st.form_submit_button("Make the profile", type="primary")
if go_make:
    if upload is None:
        st.error("Choose a zip of labelled recordings first.")
        st.stop()
    try:
        target = (Target() if goal == "the shipped rule" else
                  Target("sensitivity" if "sensitivity" in goal else "specificity", float(value)))
        if pattern:
            re.compile(pattern)
        with tempfile.TemporaryDirectory(prefix="calibration-") as tmp:
            root = Path(tmp)
            n = unpack_zip(upload.getvalue(), root, Limits())
            subs = [p for p in root.iterdir() if not p.name.startswith(".")]
            if len(subs) == 1 and subs[0].is_dir() and not any(f.is_file() for f in subs):
                root = subs[0]  # the zip holds one top folder
            bar = st.progress(0.0, text=f"Analysing {n} recordings…")
            prof = calibrate_folder(base, root, target, pname or Path(upload.name).stem, pattern or None,
                                    lambda done, total: bar.progress(done / total, text=f"{done} of {total}"))
            bar.empty()
    except (ProfileError, BatchItemError) as exc:
        st.error(f"No profile was made: {exc}.")
        st.stop()
    except re.error as exc:
        st.error(f"The person pattern is not a valid regular expression: {exc}.")
        st.stop()
    folder.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", prof.name.lower()).strip("-") or "profile"
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = folder / f"{task}-{slug}-{stamp}.json"
    prof.save(path)
    st.session_state["profile_made"] = (
        f"Profile '{prof.name}' made from {prof.data['recordings']} recordings of {prof.data['people']} people and "
        f"saved as `{path.name}`. Choose it under 'Calibration in use' to answer through it; its figures are under "
        "'Inspect a profile'." + "".join(f" Note: {n}." for n in prof.notes), path.name)
    st.rerun()  # the new profile is listed above at once
