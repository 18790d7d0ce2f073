"""Cached resources and the sidebar every page shows (task, active encoder and why, head versions).

The encoder and the trained heads load in a background thread, one task at a time, so a page paints its title and
uploader at once: the sidebar says "loading" until they are ready, and only a page that needs a model waits for it
(then reruns once, so the sidebar shows what was loaded). Nothing heavy is imported before a page has painted.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import streamlit as st

from core.config import DISCLAIMER
from core.tasks import TASKS

AUDIO_TYPES = ["wav", "flac", "ogg", "opus", "mp3", "webm", "m4a", "mp4"]
LOADING = "Loading the encoder and trained heads…"
POLL_S = 1.0  # how often a page that painted before the models were ready checks on them
RETRY_S = 30.0  # a failed load is tried again after this long


#: one loader thread per server process: models load one after another, never twice, behind the pages
_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-models")
_LOCK = threading.Lock()
_FUTURES: dict[tuple[str, str], Future] = {}
#: how far each load has got: (share done, what it is doing), for the progress bar of a page that waits for it
_STAGES: dict[tuple[str, str], tuple[float, str]] = {}
LOAD_STAGES = ((0.05, "importing the analysis libraries"), (0.35, "loading the encoder and the trained heads"),
               (0.6, "preparing the figures"), (0.75, "warming up on a synthetic recording"), (0.95, "finishing"))
#: what drawing a result needs, imported by the loader once the models are in, so a first upload does not pay it
RESULT_MODULES = ("pandas", "plotly.graph_objects", "ui.figures", "core.reports.pdf", "core.answers.neighbours",
                  "core.evaluation.reference", "core.evaluation.model_card")


def _stage(key: tuple[str, str], i: int) -> None:
    _STAGES[key] = LOAD_STAGES[i]


def _load(task: str, encoder: str):
    """Load, warm up (the first upload then costs what any upload costs) and freeze what was loaded out of the
    garbage collector: Streamlit runs a full collection after every script run, and scanning the ~300 000 objects
    of the imported libraries and the loaded models took 0.13 s each time, twice per upload (the uploader's
    replace-a-file rerun, then the analysis). Frozen objects are still freed by reference counting; a collection
    right before the freeze keeps garbage out of the frozen set."""
    import gc
    import importlib

    key = (task, encoder)
    _stage(key, 0)
    from core.answers.analyzer import Analyzer

    _stage(key, 1)
    analyzer = Analyzer(task, encoder)
    _stage(key, 2)
    for name in RESULT_MODULES:
        importlib.import_module(name)
    _stage(key, 3)
    analyzer.warm_up()
    _stage(key, 4)
    gc.collect()
    gc.freeze()
    return analyzer


def start_loading(task: str, encoder: str = "auto") -> Future:
    """Start the load if it is not under way (pages call this once they have painted). A load that failed (e.g.
    heads missing) is tried again once it is RETRY_S old, so an operator's fix is picked up without a restart and a
    broken install is not reloaded on every rerun."""
    key = (task, encoder)
    with _LOCK:
        future = _FUTURES.get(key)
        if future is not None and future.done() and future.exception() is not None:
            future.failed_at = getattr(future, "failed_at", None) or time.monotonic()
            if time.monotonic() - future.failed_at > RETRY_S:
                future = None
        if future is None:
            future = _FUTURES[key] = _EXECUTOR.submit(_load, task, encoder)
        return future


def models_ready(task: str, encoder: str = "auto") -> bool:
    """Whether the load has finished (successfully or not); never starts one."""
    future = _FUTURES.get((task, encoder))
    return future is not None and future.done()


def get_analyzer(task: str, encoder: str = "auto"):
    """The loaded Analyzer, waiting for it if needed; raises what the load raised."""
    return start_loading(task, encoder).result()


def reset_loading() -> None:
    """Forget every load (tests: a fresh server process)."""
    with _LOCK:
        _FUTURES.clear()


@st.cache_data(show_spinner=False)
def head_metrics(path: str) -> dict:
    """A head artefact's metrics.json, read once per server process (artefacts do not change while it runs)."""
    from core.evaluation.model_card import load_metrics

    return load_metrics(path)  # with the files measured beside it (ablation, references, period_length)


def current_task() -> str:
    """The task chosen in the sidebar (drawn by the entry point, so it survives page changes)."""
    return st.session_state.get("task") or next(iter(TASKS))


def current():
    """(task, its loaded Analyzer), or (task, None) when it cannot be loaded: the sidebar says why. A page calls this
    once it has painted what needs no model; if the models are still loading it waits here, then reruns so the
    sidebar, drawn before the wait, shows them."""
    from core.encoders import EncoderUnavailable
    from core.heads.artifacts import ArtifactError

    task = current_task()
    if not models_ready(task):
        wait_with_progress(task)
        st.rerun()
    try:
        return task, with_profile(task, get_analyzer(task))
    except (EncoderUnavailable, ArtifactError):
        return task, None


PROFILE_KEY = "profile_{task}"  # session key: the calibration profile chosen for a task (its file name)


def profile_choice(task: str) -> str | None:
    return st.session_state.get(PROFILE_KEY.format(task=task))


@st.cache_resource(show_spinner=False, max_entries=32)
def _load_profile(path: str, mtime: float):
    from core.calibration.profile import CalibrationProfile

    return CalibrationProfile.load(path)


def _profile_name(file: str) -> str:
    """The chosen profile's own name (its file name when it cannot be read: the page then says why)."""
    from core.config import profiles_dir

    path = profiles_dir() / file
    try:
        return _load_profile(str(path), path.stat().st_mtime).name
    except Exception:  # noqa: BLE001 (a sidebar label: with_profile reports the problem on the page)
        return file.removesuffix(".json")


def with_profile(task: str, analyzer):
    """The analyzer answering through the profile chosen for `task` on the Calibration page (as shipped when none);
    a profile that no longer fits (another model version, deleted) is dropped with the reason."""
    from core.calibration.profile import ProfileError
    from core.config import profiles_dir

    name = profile_choice(task)
    if not name:
        return analyzer
    path = profiles_dir() / name
    try:
        return analyzer.with_calibration(_load_profile(str(path), path.stat().st_mtime))
    except (ProfileError, OSError) as exc:
        st.session_state.pop(PROFILE_KEY.format(task=task), None)
        st.error(f"The calibration profile {name} is no longer used: {exc}. Answers are as shipped.")
        return analyzer


def wait_with_progress(task: str, encoder: str = "auto") -> None:
    """Wait for the models with a progress bar saying what the load is doing: a file given meanwhile is kept and
    analysed as soon as they are in (the first load after a server start takes a few seconds)."""
    future = start_loading(task, encoder)
    bar = st.progress(0.0, text=LOADING)
    while not future.done():
        share, what = _STAGES.get((task, encoder), (0.0, "starting"))
        bar.progress(share, text=f"{LOADING} {what}. Your file is kept and analysed as soon as they are ready.")
        time.sleep(0.2)
    bar.empty()


def analyzer_for(given: bool):
    """What a page with an uploader calls once it has painted: with nothing given yet, it lets the models load behind
    the page and stops the run; with input, it returns (task, loaded Analyzer), waiting if needed, or stops when the
    models cannot be loaded (the sidebar says why)."""
    if not given:
        wait_for_models(current_task())
        st.stop()
    task, analyzer = current()
    if analyzer is None:
        st.stop()
    return task, analyzer


def wait_for_models(task: str) -> None:
    """For a page that painted and has nothing to do until the user acts: say the models are loading, and rerun the
    app once they are, so the sidebar shows them."""
    start_loading(task)
    if models_ready(task):
        return
    st.caption(f"{LOADING} (in the background; you can choose a file meanwhile)")

    @st.fragment(run_every=POLL_S)
    def _poll() -> None:
        if models_ready(task):
            st.rerun(scope="app")

    _poll()


def sidebar() -> None:
    """The widgets every page shares (task, experimental heads), drawn by `app.py` on every run; pages read the
    choice with `current()`. Never waits for the models: the page starts loading them once it has painted."""
    with st.sidebar:
        task = st.radio("Task", list(TASKS), format_func=lambda t: TASKS[t].title, key="task")
        if models_ready(task):
            _models_panel(task)
        else:
            st.caption(LOADING)
        from ui.access import account_panel

        account_panel()
        st.info(DISCLAIMER)


def _models_panel(task: str) -> None:
    from core.encoders import EncoderUnavailable
    from core.heads.artifacts import ArtifactError

    try:
        analyzer = get_analyzer(task)
    except (EncoderUnavailable, ArtifactError) as exc:
        st.error(f"The {TASKS[task].title} model cannot be loaded: {exc}")
        return
    info = analyzer.encoder.info
    st.markdown(f"**Encoder:** {info.label}")  # the one status line; the rest on demand
    chosen = profile_choice(task)
    st.markdown(f"**Calibration:** profile '{_profile_name(chosen)}'" if chosen else
                "**Calibration:** as shipped", help="Chosen on the Calibration page: a clinic's profile refits the "
                "answers' calibration and thresholds on its own labelled recordings.")
    with st.expander("Models and setup"):
        for name, art in analyzer.heads.items():
            meta = art.meta
            tag = " · experimental" if meta.get("experimental") else ""
            st.caption(f"Head `{name}` · {meta['chosen']} · trained {meta['created'][:10]}{tag}")
        if analyzer.input_check is not None:
            st.caption(f"Input check · trained {analyzer.input_check.meta.get('created', '?')[:10]}")
        for name, why in analyzer.missing.items():
            st.caption(f"Head `{name}` not available: {why}")
        if info.name != "hear":
            st.caption(f"Why not HeAR: {analyzer.encoder_note}")
    experimental = {n: a for n, a in analyzer.heads.items() if a.meta.get("experimental")}
    if experimental:
        st.toggle("Show experimental heads", key="experimental",
                  help="Off by default: their labels are not reliable enough for any decision.")
        if st.session_state.get("experimental"):
            for name, art in experimental.items():
                st.warning(f"Experimental `{name}`: {held_out_text(head_metrics(str(art.path)))}. "
                           "Shown for research only, never as an answer.")


def keep_files(page: str, given: list[tuple[str, bytes]]) -> tuple[list[tuple[str, bytes]], bool]:
    """A page's files that survive a visit to another page: (files to use, whether they are the kept ones).

    Files the user gives are kept in the session (memory only, this tab only). Back from another page, with the
    uploader emptied by the page change, the kept files come back until the user gives others or clears them;
    removing the files on the page itself (the uploader's x) forgets them."""
    key, restored = f"kept_{page}", f"restored_{page}"
    if given:
        st.session_state[key], st.session_state[restored] = given, False
        return given, False
    kept = st.session_state.get(key)
    came_back = st.session_state.get("_came_from") not in (None, st.session_state.get("_on_page"))
    if kept and (came_back or st.session_state.get(restored)):
        st.session_state[restored] = True
        return kept, True
    st.session_state.pop(key, None)
    st.session_state[restored] = False
    return [], False


def clear_kept(page: str, *also: str) -> None:
    """Forget a page's kept files (and other session keys of its work)."""
    for k in (f"kept_{page}", f"restored_{page}", *also):
        st.session_state.pop(k, None)


def kept_notice(page: str, names: list[str], *also: str, what: str = "") -> None:
    """Say that the page shows kept files, and offer to clear them. `what`: what they are, when they are not the
    page's own last files (e.g. an infant's reference cries, kept across pages)."""
    c1, c2 = st.columns([5, 1])
    one = len(names) == 1
    listed = f"({', '.join(names[:3])}{'…' if len(names) > 3 else ''})"
    c1.info((f"{what} {listed}" if what else
             f"Your last {'file' if one else f'{len(names)} files'} on this page {listed}")
            + f", kept in this browser session's memory until you clear {'it' if one else 'them'} or close the tab; "
              "nothing is stored on the server.")
    c2.button("Clear", key=f"clear_{page}", on_click=clear_kept, args=(page, *also), width="stretch")


def experimental_on() -> bool:
    """Whether the user switched on the experimental heads (sidebar); off unless asked for."""
    return bool(st.session_state.get("experimental", False))


def held_out_text(m: dict) -> str:
    """An experimental head's figures on people it never saw, in words, with the split named."""
    from core.heads.artifacts import validated_evaluation

    ev = validated_evaluation(m)
    met = ev["metrics"]
    return (f"macro AUC {met['roc_auc']:.2f}, balanced accuracy {met['balanced_accuracy']:.2f} "
            f"(chance {1 / len(ev['labels']):.2f}) on {ev['split']}")
