"""The Embeddings, Model metrics and Live monitor pages as a clinician uses them (Streamlit AppTest): colours that
can be told apart, clips from the wrong domain flagged, training points played, tables that name their split
truthfully, the live spectrogram's frequency axis and the audio-received counter."""
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import streamlit
from streamlit.testing.v1 import AppTest

from tests.helpers import cry_like, encode
from tests.helpers import ready_app, settle  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _app(task: str | None = None, page: str = "views/embeddings.py") -> AppTest:
    at = ready_app(180)
    if task:
        settle(at.sidebar.radio(key="task").set_value(task).run())
    at.switch_page(page).run()
    assert not at.exception
    return at


def _figures(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _select(monkeypatch, rows: list[int]) -> None:
    """Stand in for a click on the 2-D plot: AppTest cannot click a chart, so the chart call returns a selection."""
    real = streamlit.plotly_chart

    def chart(fig, *args, **kwargs):
        out = real(fig, *args, **kwargs)
        if kwargs.get("key") == "emb_plot":
            return SimpleNamespace(selection=SimpleNamespace(points=[{"customdata": [r, "x"]} for r in rows]))
        return out

    monkeypatch.setattr(streamlit, "plotly_chart", chart)


# -- Embeddings ---------------------------------------------------------------------------------------------------

def test_colour_fields_with_one_value_are_not_offered_and_many_groups_are_highlighted_one_at_a_time():
    at = _app("cry")
    at.selectbox(key="emb_head").set_value("pain").run()
    options = at.selectbox(key="emb_colour").options
    assert "split" not in options and {"label", "infant"} <= set(options)  # a group is an infant here
    assert any("every point has split 'train'" in c.value for c in at.caption)
    at.selectbox(key="emb_colour").set_value("group").run()  # 18 infants: more than distinct colours
    assert not at.exception
    pick = at.selectbox(key="emb_highlight_group")
    assert len(pick.options) == 18
    fig = _figures(at)[0]
    grey = [t for t in fig["data"] if t["name"] == "others"]
    assert len(grey) == 1 and grey[0]["marker"]["color"] == "#c8c8c8"
    coloured = [t for t in fig["data"] if t["name"] != "others"]
    chosen = pick.value
    assert coloured and all(chosen in t["name"] for t in coloured)  # only the chosen infant is in colour
    assert all("customdata" in t for t in fig["data"])  # every point can be selected and says its infant on hover
    at.selectbox(key="emb_highlight_group").select_index(len(pick.options) - 1).run()
    at.selectbox(key="emb_head").set_value("reason").run()  # other groups (families): the choice follows
    assert not at.exception and len(at.selectbox(key="emb_highlight_group").options) == 221
    settle(at.sidebar.radio(key="task").set_value("respiratory").run())
    assert not at.exception


def test_few_valued_fields_get_distinct_colours_and_numbers_a_scale():
    from core.heads.artifacts import Projection
    from ui.embedding_figures import PALETTE, colour_choices, embedding_figure, prepare

    at = _app()
    at.selectbox(key="emb_head").set_value("recording").run()
    at.selectbox(key="emb_colour").set_value("location").run()
    assert not at.exception
    traces = _figures(at)[0]["data"]
    colours = [t["marker"]["color"] for t in traces]
    assert len(traces) == 4 and len(set(colours)) == 4  # four auscultation sites, four colours, none recycled
    at.selectbox(key="emb_colour").set_value("age").run()
    traces = _figures(at)[0]["data"]
    assert any(t["marker"].get("colorscale") for t in traces)  # years: a colour scale

    proj = Projection.load(ROOT / "trained" / "cry" / "acoustic" / "reason" / "projection.npz")
    table = prepare(proj.table())
    choices, hidden = colour_choices(table)
    assert choices["age"].kind == "categorical" and choices["age"].values[0] == "0-4 weeks"  # codes as age bands
    assert choices["group"].kind == "many" and "split" in hidden
    table["row"] = table.index
    fig = embedding_figure(table, choices["label"], proj.explained)
    assert len({t.marker.color for t in fig.data}) == len(fig.data) <= len(PALETTE)


def test_a_lung_recording_in_the_cry_space_and_a_cry_in_the_lung_space_are_flagged():
    from tests.conftest import data_path

    lung = sorted(data_path("sprsound", "BioCAS2022", "train2022_flac").glob("*.flac"))[0]
    at = _app("cry")
    at.file_uploader(key="emb_clips").set_value([(lung.name, lung.read_bytes(), "audio/flac")]).run()
    assert not at.exception
    warned = " ".join(w.value for w in at.warning)
    assert f"{lung.name}: not placed. Input check: refused, this does not sound like an infant cry" in warned

    at = _app()
    at.selectbox(key="emb_head").set_value("recording").run()
    cry = encode(cry_like(6.0, f0=520), 16000, "WAV", "PCM_16")
    at.file_uploader(key="emb_clips").set_value([("cry.wav", cry, "audio/wav")]).run()
    assert not at.exception
    assert any("cry.wav: Input check: refused, this does not sound like chest auscultation" in w.value
               for w in at.warning)
    star = [t for t in _figures(at)[0]["data"] if t["name"].startswith("cry.wav")]
    assert star and "unlike the training data" in star[0]["name"] and star[0]["marker"]["symbol"] == "star-open"


def test_the_experimental_head_places_a_clip_without_failing(app_heads_only):
    at = _app("cry")
    app_heads_only("cry")  # placing a generated cry (the input check would rightly refuse it)
    at.selectbox(key="emb_head").set_value("reason").run()
    at.file_uploader(key="emb_clips").set_value([("cry.wav", encode(cry_like(5.0, f0=480), 16000, "WAV", "PCM_16"),
                                                   "audio/wav")]).run()
    assert not at.exception
    assert any(t["name"].startswith("cry.wav") for t in _figures(at)[0]["data"])


def test_a_selected_training_point_is_listed_and_played(monkeypatch):
    from tests.conftest import data_path

    data_path("cry_pain")
    _select(monkeypatch, [3])
    at = _app("cry")
    at.selectbox(key="emb_head").set_value("pain").run()
    assert not at.exception
    sel = at.dataframe[-1].value
    assert len(sel) == 1 and "uid" in sel
    assert len(at.get("audio")) == 1  # the training recording, from the dataset on this machine
    assert any(sel["uid"].iloc[0] in c.value for c in at.caption)


def test_several_selected_points_offer_a_choice_and_missing_audio_is_said(monkeypatch, tmp_path):
    _select(monkeypatch, [0, 5, 9])
    monkeypatch.setenv("HEAR_SCREENING_DATA_DIR", str(tmp_path))  # the dataset is not on this machine
    at = _app("cry")
    at.selectbox(key="emb_head").set_value("pain").run()
    assert not at.exception
    assert len(at.dataframe[-1].value) == 3
    assert any("training audio is not on this machine" in c.value for c in at.caption)
    assert not at.get("audio")


# -- Model metrics ------------------------------------------------------------------------------------------------

def test_metrics_says_nobody_is_on_both_sides_only_where_it_is_true():
    at = _app(page="views/metrics.py")
    # the event heads are scored on the intra-patient release (same patients); the recording model trains on it and
    # has the same patients on both sides only in its shift check (fitted on one period, scored on the other)
    for head, exception in (("recording", "except the shift check"),
                            ("event_screen", "except the official intra-patient test")):
        at.selectbox(key="metrics_head").set_value(head).run()
        assert not at.exception
        intro = at.markdown[0].value
        assert exception in intro and "same patients" in intro
    at = _app("cry", page="views/metrics.py")
    intro = at.markdown[0].value
    assert "nobody is in both training and evaluation" in intro and "intra-patient" not in intro
    assert "nobody is on both sides." in at.expander[0].markdown[0].value  # the card: no intra test here


def test_metrics_tables_keep_to_the_page_and_name_each_split():
    at = _app(page="views/metrics.py")
    at.selectbox(key="metrics_head").set_value("event_screen").run()
    main, sprsound = at.dataframe[0], at.dataframe[1]
    assert "split" in main.value and "title" in main.value  # kept for the legend, not squeezed into a column
    shown = list(main.proto.column_order)
    assert shown[0] == "evaluation" and "split" not in shown and len(shown) <= 7
    assert list(sprsound.proto.column_order) == ["evaluation", "SE", "SP", "AS", "HS", "Score"]
    legend = " ".join(c.value for c in at.caption)
    assert "Intra-patient test (same patients)**: Official intra-patient test (same patients as training)" in legend
    assert "156 of 160 patients also in training" in legend
    card = at.expander[0].markdown[0].value
    assert "except the official intra-patient test" in card and "nobody is on both sides." not in card


# -- Live monitor -------------------------------------------------------------------------------------------------

def test_live_page_draws_the_spectrogram_in_hz_and_explains_missing_audio():
    at = _app("cry", page="views/live.py")
    key = next(k for k in at.session_state.keys() if str(k).startswith("live_monitor:"))
    mon = at.session_state[key]
    x = np.tile(cry_like(3.0, f0=520), 4)
    for k, i in enumerate(range(0, len(x), 320)):  # 20-ms frames; every fourth one lost on the way
        if k % 4 != 3:
            mon.push(x[i:i + 320], 16000, pts_s=i / 16000, now=500.0 + (i + 320) / 16000)
    at.run()
    assert not at.exception
    metric = next(m for m in at.metric if m.label == "Listening")
    assert metric.value == "stopped" and "of 12 s elapsed" in metric.proto.delta
    warned = " ".join(w.value for w in at.warning)
    assert "Audio received: 9 s in the 12 s" in warned and "3 s of it never reached this server" in warned
    spec = next(f for f in _figures(at) if f["layout"]["yaxis"].get("title", {}).get("text") == "Hz (mel scale)")
    hz = [float(t) for t in spec["layout"]["yaxis"]["ticktext"]]
    assert hz == sorted(hz) and hz[0] < 100 and 4000 < hz[-1] <= 8000
    assert spec["layout"]["xaxis"]["title"]["text"] == "stream time (s)"


def test_live_spectrogram_labels_mel_rows_with_their_frequency():
    from core.windows.spectrogram import display_spectrogram
    from ui.live_figures import live_spectrogram

    spec = display_spectrogram(cry_like(2.0, f0=520))
    fig = live_spectrogram(spec, offset_s=8.0)
    assert list(fig.layout.yaxis.tickvals)[0] == 0 and list(fig.layout.yaxis.tickvals)[-1] == len(spec.freqs_hz) - 1
    assert fig.layout.yaxis.ticktext[-1] == f"{spec.freqs_hz[-1]:.0f}"
    assert fig.data[0].x[0] >= 8.0  # on the stream's clock, like the window track
    assert pd.Series(fig.data[0].customdata[:, 0]).is_monotonic_increasing  # hover in Hz
