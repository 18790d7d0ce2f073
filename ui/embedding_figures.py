"""The Embeddings page's figure and the choices behind it: which fields are worth colouring by, and how to show a
field with hundreds of values (patients, families) without recycling a handful of colours across them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ui.figures import LABEL_COLOURS

#: distinct colours for a categorical field; a field with more values is highlighted one value at a time instead
PALETTE = (*LABEL_COLOURS, "#bcbd22", "#393b79")
MAX_COLOURS = len(PALETTE)
GREY = "#c8c8c8"
FIELDS = ("label", "group", "split", "age", "gender", "location")
#: donateacry file names code the age in bands (data README); plotted as ordered bands, not as numbers
DAC_AGE = {"04": "0-4 weeks", "48": "4-8 weeks", "26": "2-6 months", "72": "7 months-2 years", "22": "over 2 years"}


@dataclass(frozen=True)
class ColourChoice:
    field: str
    kind: str  # "categorical" (one colour per value), "numeric" (a colour scale) or "many" (highlight one value)
    values: list  # categorical / many: the values in display order (many: most units first)


def prepare(table: pd.DataFrame) -> pd.DataFrame:
    """Ages as numbers where they are numbers (SPRSound, years) and as ordered bands where the file names code
    them (donateacry), so the colour scale means what it shows."""
    table = table.copy()
    if "age" in table.columns:
        raw = table["age"].astype(str)
        if raw.isin(list(DAC_AGE)).all():
            table["age"] = pd.Categorical(raw.map(DAC_AGE), categories=list(DAC_AGE.values()), ordered=True)
        else:
            table["age"] = pd.to_numeric(table["age"], errors="coerce")
    return table


def colour_choices(table: pd.DataFrame) -> tuple[dict[str, ColourChoice], dict[str, str]]:
    """The fields worth colouring by, and for each field left out why (one value for every point says nothing)."""
    offered, hidden = {}, {}
    for f in FIELDS:
        if f not in table.columns:
            continue
        col = table[f]
        n = int(col.nunique(dropna=True))
        if n <= 1:
            only = col.dropna().iloc[0] if col.notna().any() else "unknown"
            hidden[f] = f"every point has {f} '{only}'"
            continue
        if pd.api.types.is_numeric_dtype(col) and not isinstance(col.dtype, pd.CategoricalDtype):
            offered[f] = ColourChoice(f, "numeric", [])
        elif isinstance(col.dtype, pd.CategoricalDtype) and n <= MAX_COLOURS:
            offered[f] = ColourChoice(f, "categorical", [c for c in col.cat.categories if (col == c).any()])
        elif n <= MAX_COLOURS:
            offered[f] = ColourChoice(f, "categorical", sorted(col.dropna().astype(str).unique().tolist()))
        else:
            counts = col.astype(str).value_counts()
            offered[f] = ColourChoice(f, "many", counts.index.tolist())
    return offered, hidden


def _hover(table: pd.DataFrame, people: str, unit: str) -> tuple[np.ndarray, str]:
    """customdata (row first: the page reads it back from a selection) and the hover text over it."""
    cols = ["row", "label", "group", "uid"] + [c for c in ("age", "gender", "location") if c in table.columns]
    data = np.stack([table[c].astype(object).where(table[c].notna(), "").to_numpy() for c in cols], axis=1)
    names = {"group": people, "uid": unit}
    lines = "<br>".join(f"{names.get(c, c)} %{{customdata[{i}]}}" for i, c in enumerate(cols) if i > 1)
    return data, f"<b>%{{customdata[1]}}</b><br>{lines}<extra></extra>"


def _trace(table, mask, dims, name, marker, custom, hover, legend=True):
    sub = table[mask]
    kw = dict(mode="markers", name=name, marker=marker, customdata=custom[np.asarray(mask)], hovertemplate=hover,
              showlegend=legend)
    if dims == 3:
        return go.Scatter3d(x=sub["PC1"], y=sub["PC2"], z=sub["PC3"], **kw)
    cls = go.Scattergl if len(table) > 1000 else go.Scatter  # WebGL keeps thousands of points responsive
    return cls(x=sub["PC1"], y=sub["PC2"], **kw)


def embedding_figure(table: pd.DataFrame, choice: ColourChoice, explained, *, dims: int = 2,
                     highlight: str | None = None, overlay=(), people: str = "person",
                     unit: str = "unit") -> go.Figure:
    """Training units in their first principal components. Categorical fields get one colour per value (labels in
    the Analyze page's order and colours); numeric ones a colour scale; a field with more values than colours shows
    one chosen value (coloured by label) over the others in grey, never recycled colours. `overlay`: (name, coords,
    flagged) for uploaded clips; a flagged clip (unlike the training data) is drawn hollow and says so."""
    custom, hover = _hover(table, people, unit)
    size = 3 if dims == 3 else 6
    fig = go.Figure()
    f = choice.field
    if choice.kind == "numeric":
        known = table[f].notna()
        if (~known).any():
            fig.add_trace(_trace(table, ~known, dims, f"{f} unknown", dict(size=size, color=GREY), custom, hover))
        fig.add_trace(_trace(table, known, dims, f, dict(size=size, color=table.loc[known, f], colorscale="Viridis",
                                                          opacity=0.75, colorbar=dict(title=f, len=0.6)),
                             custom, hover, legend=False))
    elif choice.kind == "categorical":
        # the largest group first, so it is drawn underneath and the minority classes stay visible on top;
        # colours stay with their values (the legend keeps the same colour per class)
        counts = {v: int((table[f].astype(str) == str(v)).sum()) for v in choice.values}
        for j, v in sorted(enumerate(choice.values), key=lambda jv: -counts[jv[1]]):
            mask = table[f].astype(str) == str(v)
            fig.add_trace(_trace(table, mask, dims, f"{f}: {v}" if f != "label" else str(v),
                                 dict(size=size, opacity=0.7, color=PALETTE[j % len(PALETTE)]), custom, hover))
            fig.data[-1].legendrank = 1000 + j  # the legend keeps the values' own order
    else:
        chosen = table[f].astype(str) == str(highlight)
        fig.add_trace(_trace(table, ~chosen, dims, "others", dict(size=size - 1, opacity=0.4, color=GREY), custom,
                             hover))
        for j, lab in enumerate(sorted(set(table["label"].astype(str)))):
            mask = chosen & (table["label"].astype(str) == lab)
            if mask.any():
                fig.add_trace(_trace(table, mask, dims, f"{people if f == 'group' else f} {highlight}: {lab}",
                                     dict(size=size + 4, color=PALETTE[j % len(PALETTE)],
                                          line=dict(width=1, color="black")), custom, hover))
    for name, xyz, flagged in overlay:
        marker = dict(size=16 if dims == 2 else 8, symbol=("star-open" if flagged else "star") if dims == 2 else
                      ("diamond-open" if flagged else "diamond"), color="crimson", line=dict(width=2, color="black"))
        full = f"{name} (unlike the training data)" if flagged else name
        kw = dict(mode="markers+text", text=[name], marker=marker, name=full, hovertemplate=f"{full}<extra></extra>")
        if dims == 3:
            fig.add_trace(go.Scatter3d(x=[xyz[0]], y=[xyz[1]], z=[xyz[2]], **kw))
        else:
            fig.add_trace(go.Scatter(x=[xyz[0]], y=[xyz[1]], textposition="top center", **kw))
    axes = {f"PC{i + 1}": f"PC{i + 1} ({explained[i]:.0%} of variance)" for i in range(min(dims, len(explained)))}
    legend = dict(orientation="h", y=-0.15)
    if dims == 3:
        fig.update_layout(height=620, margin=dict(l=0, r=0, t=10, b=0), legend=legend,
                          scene=dict(xaxis_title=axes.get("PC1"), yaxis_title=axes.get("PC2"),
                                     zaxis_title=axes.get("PC3")))
    else:
        ranges, outside = robust_ranges(table, overlay)
        fig.update_layout(height=560, margin=dict(l=10, r=10, t=30 if outside else 10, b=10), dragmode="lasso",
                          legend=dict(legend, traceorder="normal"), xaxis=dict(title=axes.get("PC1"), range=ranges[0]),
                          yaxis=dict(title=axes.get("PC2"), range=ranges[1]),
                          title=dict(text=f"{outside} outlying {unit}(s) outside this view: zoom out to see them",
                                     font=dict(size=12)) if outside else None)
    return fig


def robust_ranges(table: pd.DataFrame, overlay=(), q: float = 0.5, pad: float = 0.08):
    """Axis ranges that hold the middle 99 % of the points (and every overlaid clip), so a few outliers do not
    squash the rest into a corner; and how many points fall outside."""
    ranges, inside = [], np.ones(len(table), bool)
    for i, col in enumerate(("PC1", "PC2")):
        v = table[col].to_numpy(float)
        lo, hi = np.percentile(v, [q, 100 - q]) if len(v) else (0.0, 1.0)
        for _, xyz, _ in overlay:
            lo, hi = min(lo, float(xyz[i])), max(hi, float(xyz[i]))
        span = max(hi - lo, 1e-9)
        lo, hi = lo - pad * span, hi + pad * span
        ranges.append([lo, hi])
        inside &= (v >= lo) & (v <= hi)
    return ranges, int((~inside).sum())
