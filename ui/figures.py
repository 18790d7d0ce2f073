"""Plotly figures the pages share; they read typed results from core and never compute model outputs."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.answers.analyzer import AnalysisResult, HeadOutput, Placement
from core.evaluation.reference import ReferenceAnnotation
from core.heads.artifacts import Projection
from core.windows.spectrogram import Spectrogram


#: distinct label colours (Streamlit's own plotly theme would draw every class in a shade of blue)
LABEL_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def mel_heatmap(spec: Spectrogram, offset_s: float = 0.0, colorbar: dict | None = None) -> go.Heatmap:
    """A display spectrogram as a heatmap whose rows are mel bands, drawn evenly spaced (a log axis would stretch
    the top band); hover gives each band's frequency in Hz. `offset_s`: the time of its first frame (live stream)."""
    hz = np.repeat(spec.freqs_hz[:, None], spec.db.shape[1], axis=1)
    return go.Heatmap(x=spec.times_s + offset_s, y=np.arange(len(spec.freqs_hz)), z=spec.db, customdata=hz,
                      colorscale="Viridis", zmin=-80, zmax=0, colorbar=colorbar or dict(title="dB"),
                      name="spectrogram", hovertemplate="%{x:.2f} s · %{customdata:.0f} Hz · %{z:.0f} dB<extra></extra>")


def hz_axis(spec: Spectrogram) -> dict:
    """The y axis of `mel_heatmap`: six of its bands labelled with their centre frequency in Hz."""
    n = len(spec.freqs_hz)
    ticks = np.unique(np.linspace(0, n - 1, 6).round().astype(int)) if n else np.zeros(0, int)
    return dict(title_text="Hz (mel scale)", tickvals=ticks.tolist(),
                ticktext=[f"{spec.freqs_hz[t]:.0f}" for t in ticks])


def spectrogram_with_track(result: AnalysisResult, head: HeadOutput,
                           reference: ReferenceAnnotation | None = None) -> go.Figure:
    """The clip's spectrogram, and under it on the same time axis one column per window: the head's class
    probabilities, with windows that failed the quality gate greyed out. With a `reference` annotation, a thin
    row between the two draws the annotator's events (top lane) above the detected timeline segments (one lane per
    timeline type), so that what was annotated and what was found can be compared by eye."""
    spec = result.spectrogram
    centres = np.array([w.start_s + min(w.end_s - w.start_s, max(w.content_s, 0.0)) / 2 for w in result.windows])
    usable = np.array([q.usable for q in result.quality])
    probs = np.asarray(head.window_probs, float)
    shown = np.where(usable[:, None], probs, np.nan).T  # [k, n]
    k = len(head.labels)
    if reference is None:
        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.62, 0.38])
        track_row = 2
    else:
        fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.05, row_heights=[0.52, 0.16, 0.32])
        track_row = 3
    fig.add_trace(mel_heatmap(spec, colorbar=dict(title="dB", **_beside(fig, 1))), row=1, col=1)
    text = np.where(np.isnan(shown), "", np.vectorize(lambda v: f"{v:.2f}")(np.nan_to_num(shown)))
    fig.add_trace(go.Heatmap(x=centres, y=list(head.labels), z=shown, zmin=0, zmax=1, colorscale="Blues",
                             colorbar=dict(title="p", **_beside(fig, track_row)), text=text,
                             texttemplate="%{text}" if len(centres) <= 30 and k <= 8 else None,
                             hovertemplate="window at %{x:.1f} s · %{y}: %{z:.2f}<extra></extra>",
                             name=head.name), row=track_row, col=1)
    # one clickable marker per window along the top of the spectrogram: selecting it plays that 2-s segment
    fig.add_trace(go.Scatter(x=centres, y=[len(spec.freqs_hz) - 3] * len(centres), mode="markers", name="windows",
                             marker=dict(symbol="triangle-down", size=11, color="white",
                                         line=dict(width=1, color="black")),
                             customdata=np.arange(len(centres)),
                             hovertext=[f"window {i}: {w.start_s:.1f}-{w.end_s:.1f} s (click to play)"
                                        for i, w in enumerate(result.windows)], hoverinfo="text"), row=1, col=1)
    bad = centres[~usable]
    if len(bad):
        fig.add_trace(go.Scatter(x=bad, y=[head.labels[k // 2]] * len(bad), mode="markers",
                                 marker=dict(symbol="x", size=10, color="grey"), name="failed quality gate",
                                 hovertext=[result.quality[i].reason() for i in np.flatnonzero(~usable)],
                                 hoverinfo="text"), row=track_row, col=1)
    x_max = max(result.duration_s, 2.0)
    if reference is not None:
        _event_lanes(fig, reference, result, x_max, row=2)
    fig.update_yaxes(**hz_axis(spec), row=1, col=1)
    fig.update_yaxes(autorange="reversed", row=track_row, col=1)
    fig.update_xaxes(title_text="time (s)", range=[0, x_max], row=track_row, col=1)
    fig.update_layout(height=460 if reference is None else 560, margin=dict(l=10, r=10, t=10, b=10),
                      showlegend=False)
    return fig


#: reference event types: continuous sounds in warm colours, crackles in cool ones, both in purple; Normal breath
#: cycles in light grey (context, never scored)
REFERENCE_COLOURS = {"Wheeze": "#d62728", "Rhonchi": "#ff7f0e", "Stridor": "#e377c2", "CAS": "#d62728",
                     "Fine Crackle": "#1f77b4", "Coarse Crackle": "#17becf", "DAS": "#1f77b4",
                     "Wheeze+Crackle": "#9467bd", "Normal": "#d9d9d9"}
#: detected timeline types, in the colour of the reference types they cover
DETECTED_COLOURS = {"CAS": "#d62728", "DAS": "#1f77b4", "Adventitious": "#9467bd"}
SHORT_TYPES = {"Wheeze": "W", "Rhonchi": "Rh", "Stridor": "St", "Fine Crackle": "FC", "Coarse Crackle": "CC",
               "Wheeze+Crackle": "W+C"}
REFERENCE_LANE = "reference (annotator)"
_PX_PER_FIGURE = 800  # a guess at the plot's width, to decide whether a bar has room for its words
_PX_PER_CHAR = 6.5


def _beside(fig: go.Figure, row: int) -> dict:
    """A colourbar's y and len spanning a subplot row."""
    lo, hi = fig.get_subplot(row, 1).yaxis.domain
    return dict(y=(lo + hi) / 2, len=hi - lo)


def _bar_text(full: str, span_s: float, x_max: float) -> str:
    room = span_s / x_max * _PX_PER_FIGURE
    for text in (full, SHORT_TYPES.get(full, full)):
        if len(text) * _PX_PER_CHAR <= room:
            return text
    return ""


def _event_lanes(fig: go.Figure, reference: ReferenceAnnotation, result: AnalysisResult, x_max: float,
                 row: int) -> None:
    """Top lane: the reference's events as labelled rectangles; beneath it one lane per timeline type with the
    detected segments. Rectangles are layout shapes (named "reference: <type>" / "detected: <type>"); an invisible
    marker at each one's middle carries its hover text and no customdata, so clicking it never plays a window."""
    timeline = result.timeline
    det_types = list(timeline.types) if timeline is not None else []
    lanes = [REFERENCE_LANE] + ([f"detected: {t}" for t in det_types] if det_types else ["detected"])
    y_of = {lane: len(lanes) - 1 - i for i, lane in enumerate(lanes)}  # the reference on top
    names = result.class_names or {}

    def bar(a: float, b: float, y: float, colour: str, name: str, label: str, normal: bool = False) -> None:
        fig.add_shape(type="rect", x0=a, x1=b, y0=y - 0.38, y1=y + 0.38, fillcolor=colour, opacity=0.9,
                      line=dict(width=0.5, color="#555555" if not normal else "#bbbbbb"), name=name, layer="above",
                      label=dict(text=label, font=dict(size=10, color="white" if not normal else "#555555")),
                      row=row, col=1)

    def hover(xs: list[float], y: float, texts: list[str], name: str) -> None:
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=[y] * len(xs), mode="markers", name=name, hovertext=texts,
                                     hoverinfo="text", marker=dict(size=14, opacity=0, color="black")),
                          row=row, col=1)

    y = y_of[REFERENCE_LANE]
    events = sorted(reference.events, key=lambda e: e.type != "Normal")  # breath cycles underneath
    for e in events:
        normal = e.type == "Normal"
        bar(e.start_s, e.end_s, y, REFERENCE_COLOURS.get(e.type, "#7f7f7f"), f"reference: {e.type}",
            "" if normal else _bar_text(e.type, e.duration_s, x_max), normal)
    hover([(e.start_s + e.end_s) / 2 for e in events], y,
          [f"reference: {e.type}, {e.start_s:.2f}-{e.end_s:.2f} s" + (" (breath cycle, not scored)"
                                                                     if e.type == "Normal" else "") for e in events],
          REFERENCE_LANE)
    key = [f"{short} = {full}" for full, short in SHORT_TYPES.items()
           if any(sh.label.text == short and sh.name == f"reference: {full}" for sh in fig.layout.shapes)]
    if any(e.type == "Normal" for e in events):
        key.append("grey = Normal breath cycle (not scored)")
    if key:  # what the abbreviated bars mean, just above the lanes on the right
        top = fig.get_subplot(row, 1).yaxis.domain[1]
        fig.add_annotation(x=1, xref="paper", y=top, yref="paper", xanchor="right", yanchor="bottom",
                           text=" · ".join(key), showarrow=False, font=dict(size=10, color="#555555"))
    if not reference.events:
        fig.add_annotation(x=x_max / 2, y=y, text="no events annotated", showarrow=False, font=dict(size=10),
                           row=row, col=1)
    if timeline is None:
        fig.add_annotation(x=x_max / 2, y=y_of["detected"], text="no event timeline for this task",
                           showarrow=False, font=dict(size=10), row=row, col=1)
    else:
        for t in det_types:
            y = y_of[f"detected: {t}"]
            segs = timeline.of(t)
            for s in segs:
                bar(s.onset_s, s.offset_s, y, DETECTED_COLOURS.get(t, "#7f7f7f"), f"detected: {t}",
                    _bar_text(t, s.duration_s, x_max))
            hover([(s.onset_s + s.offset_s) / 2 for s in segs], y,
                  [f"detected: {names.get(t, t)}, {s.onset_s:.1f}-{s.offset_s:.1f} s, p {s.probability:.2f}"
                   for s in segs], f"detected: {t}")
            if not segs:
                fig.add_annotation(x=x_max / 2, y=y, text="none detected", showarrow=False,
                                   font=dict(size=10, color="#777777"), row=row, col=1)
    fig.update_yaxes(range=[-0.5, len(lanes) - 0.5], tickvals=[y_of[lane] for lane in lanes], ticktext=lanes,
                     showgrid=False, zeroline=False, fixedrange=True, row=row, col=1)


def pca_placement(placement: Placement, projection: Projection, unit: str, people: str = "person") -> go.Figure:
    """The head's training units in their first two principal components, coloured by label (hover: id and
    person), with this clip's windows and its overall position on top."""
    fig = go.Figure()
    coords = projection.coords
    for j, lab in enumerate(sorted(set(projection.labels.tolist()))):
        m = projection.labels == lab
        fig.add_trace(go.Scattergl(
            x=coords[m, 0], y=coords[m, 1], mode="markers", name=f"training: {lab}",
            marker=dict(size=5, opacity=0.5, color=LABEL_COLOURS[j % len(LABEL_COLOURS)]),
            customdata=np.stack([projection.groups[m], projection.uids[m], projection.splits[m]], axis=1),
            hovertemplate=f"{lab}<br>{people} %{{customdata[0]}}<br>%{{customdata[1]}} (%{{customdata[2]}})"
                          "<extra></extra>"))
    if len(placement.window_coords):
        fig.add_trace(go.Scatter(x=placement.window_coords[:, 0], y=placement.window_coords[:, 1], mode="markers",
                                 name="this clip: windows", marker=dict(size=8, symbol="circle-open", color="black"),
                                 text=[f"window {i}" for i in placement.window_index],
                                 hovertemplate="%{text}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[placement.clip_coords[0]], y=[placement.clip_coords[1]], mode="markers",
                             name="this clip", marker=dict(size=16, symbol="star", color="crimson",
                                                           line=dict(width=1, color="black")),
                             hovertemplate="this clip<extra></extra>"))
    ev = projection.explained
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=10, b=10),
                      xaxis_title=f"PC1 ({ev[0]:.0%} of variance)", yaxis_title=f"PC2 ({ev[1]:.0%} of variance)",
                      legend=dict(orientation="h", y=-0.2))
    return fig
