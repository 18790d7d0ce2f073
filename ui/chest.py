"""The chest diagram (seen from behind) of the Examination page: each site's mark as a symbol and in words, colour
only repeating it (positions, symbols and words from `core.reports.chest_map`, which the PDF draws too)."""
from __future__ import annotations

import plotly.graph_objects as go

from core.answers.examination import SITE_NAMES, SITES, SiteAnswer
from core.reports.chest_map import MARKS, SITE_POSITIONS, by_site, site_state


def chest_diagram(sites: list[SiteAnswer], key: str, words: tuple[str, str], title: str = "") -> go.Figure:
    """One mark per site: + positive, − negative, ? no answer, an empty ring not recorded, each with its word under
    it. `words` are the answer's (negative, positive) texts for the hover."""
    fig = go.Figure()
    torso = dict(type="path", path="M -0.55 1.0 Q -0.95 0.95 -0.95 0.7 L -0.88 0.05 L 0.88 0.05 L 0.95 0.7 "
                                    "Q 0.95 0.95 0.55 1.0 Z", line=dict(color="#555", width=2), fillcolor="#f7f2ec",
                 layer="below")
    spine = dict(type="line", x0=0, x1=0, y0=0.08, y1=0.97, line=dict(color="#bbb", width=2, dash="dot"), layer="below")
    fig.update_layout(shapes=[torso, spine])
    recs = by_site(sites)
    for site in SITES:
        x, y = SITE_POSITIONS[site]
        mine = recs.get(site, [])
        state = site_state(mine, key)
        symbol, word, fill = MARKS[state]
        hover = "<br>".join(
            f"{r.name}: " + (words[int(r.answers[key])] + f" (p {r.probabilities[key]:.2f})"
                             if r.answers.get(key) is not None else f"no answer ({r.reason})") for r in mine) \
            or "not recorded"
        fig.add_trace(go.Scatter(
            x=[x], y=[y], mode="markers+text", text=[symbol], textfont=dict(size=22, color="white" if state is True
                                                                              else "black"),
            marker=dict(size=36, color=fill, line=dict(width=2, color="#9e9e9e" if state == "absent" else "black")),
            hovertext=f"{site} ({SITE_NAMES[site]})<br>{hover}", hoverinfo="text", showlegend=False))
        fig.add_annotation(x=x, y=y - 0.11, text=f"<b>{site}</b>: {word}", showarrow=False, font=dict(size=13))
    fig.add_annotation(x=-0.62, y=1.07, text="left", showarrow=False)
    fig.add_annotation(x=0.62, y=1.07, text="right", showarrow=False)
    fig.update_xaxes(visible=False, range=[-1.25, 1.25])
    fig.update_yaxes(visible=False, range=[0.0, 1.15], scaleanchor="x", scaleratio=1)
    fig.update_layout(height=320, margin=dict(l=5, r=5, t=30 if title else 5, b=5), title=title or None,
                      plot_bgcolor="white")
    return fig
