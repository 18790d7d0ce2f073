"""A simple chest diagram (seen from behind) with each site's answer, for the Examination page."""
from __future__ import annotations

import plotly.graph_objects as go

from core.answers.examination import SITE_NAMES, SITES, SiteAnswer

#: where SPRSound's sites sit on a back view (x: -1 left edge .. 1 right edge of the drawing; the patient's left is
#: on the viewer's left when seen from behind); y: 0 waist .. 1 shoulders
_POS = {"p1": (-0.38, 0.62), "p2": (-0.78, 0.40), "p3": (0.38, 0.62), "p4": (0.78, 0.40)}
COLOURS = {True: "#d62728", False: "#2ca02c", None: "#9e9e9e"}


def chest_diagram(sites: list[SiteAnswer], key: str, words: tuple[str, str], title: str = "") -> go.Figure:
    """One marker per site: red = positive, green = negative, grey = no answer, open = not recorded. `words` are
    the answer's (negative, positive) texts for the hover."""
    fig = go.Figure()
    torso = dict(type="path", path="M -0.55 1.0 Q -0.95 0.95 -0.95 0.7 L -0.88 0.05 L 0.88 0.05 L 0.95 0.7 "
                                    "Q 0.95 0.95 0.55 1.0 Z", line=dict(color="#555", width=2), fillcolor="#f7f2ec", layer="below")
    spine = dict(type="line", x0=0, x1=0, y0=0.08, y1=0.97, line=dict(color="#bbb", width=2, dash="dot"), layer="below")
    fig.update_layout(shapes=[torso, spine])
    by_site: dict[str, list[SiteAnswer]] = {}
    for s in sites:
        by_site.setdefault(s.site, []).append(s)
    for site in SITES:
        x, y = _POS[site]
        recs = by_site.get(site, [])
        if not recs:
            fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers+text", text=[site], textposition="bottom center",
                                     marker=dict(size=26, color="white", line=dict(width=2, color="#9e9e9e")),
                                     hovertext=f"{site} ({SITE_NAMES[site]}): not recorded", hoverinfo="text",
                                     showlegend=False))
            continue
        answers = [r.answers.get(key) for r in recs]
        value = True if any(a is True for a in answers) else False if any(a is False for a in answers) else None
        hover = "<br>".join(
            f"{r.name}: " + (words[int(r.answers[key])] + f" (p {r.probabilities[key]:.2f})"
                             if r.answers.get(key) is not None else f"no answer ({r.reason})") for r in recs)
        fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers+text", text=[site], textposition="bottom center",
                                 marker=dict(size=30, color=COLOURS[value], line=dict(width=1, color="black")),
                                 hovertext=f"{site} ({SITE_NAMES[site]})<br>{hover}", hoverinfo="text",
                                 showlegend=False))
    fig.add_annotation(x=-0.62, y=1.07, text="left", showarrow=False)
    fig.add_annotation(x=0.62, y=1.07, text="right", showarrow=False)
    fig.update_xaxes(visible=False, range=[-1.1, 1.1])
    fig.update_yaxes(visible=False, range=[0.0, 1.15], scaleanchor="x", scaleratio=1)
    fig.update_layout(height=300, margin=dict(l=5, r=5, t=30 if title else 5, b=5), title=title or None,
                      plot_bgcolor="white")
    return fig
