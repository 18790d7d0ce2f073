"""The chest map of an examination (seen from behind): one mark per site, readable without colour.

Each site carries a symbol (+ positive, − negative, ? no answer, empty ring not recorded) and the same in words
under it, so the map reads the same in greyscale print and for colour-blind readers; colour only repeats it. The
page draws it with Plotly (`ui/chest.py`) and the PDF with this module's PNG, from the same positions and words.
"""
from __future__ import annotations

import io
from typing import Sequence

from core.answers.examination import SITE_NAMES, SITES, SiteAnswer

#: where SPRSound's sites sit on a back view (x: -1 left edge .. 1 right edge; the patient's left is on the viewer's
#: left when seen from behind); y: 0 waist .. 1 shoulders
SITE_POSITIONS = {"p1": (-0.38, 0.62), "p2": (-0.78, 0.40), "p3": (0.38, 0.62), "p4": (0.78, 0.40)}
#: site state -> (symbol, word, fill colour)
MARKS = {True: ("+", "positive", "#c62828"), False: ("−", "negative", "#a5d6a7"), None: ("?", "no answer", "#bdbdbd"),
         "absent": ("", "not recorded", "#ffffff")}


def site_state(recs: Sequence[SiteAnswer], key: str) -> bool | None | str:
    """A site's mark: positive if any of its recordings is, negative if one answered, None if none answered,
    "absent" if the site was not recorded."""
    if not recs:
        return "absent"
    answers = [r.answers.get(key) for r in recs]
    return True if any(a is True for a in answers) else False if any(a is False for a in answers) else None


def by_site(sites: Sequence[SiteAnswer]) -> dict[str, list[SiteAnswer]]:
    out: dict[str, list[SiteAnswer]] = {}
    for s in sites:
        out.setdefault(s.site, []).append(s)
    return out


def chest_png(sites: Sequence[SiteAnswer], key: str, title: str, width: int = 900, height: int = 560) -> bytes:
    """The map as a PNG for the PDF report."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=24)
    big = ImageFont.load_default(size=40)
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)

    def xy(x: float, y: float) -> tuple[float, float]:
        return (width / 2 + x * width * 0.42, height - 40 - y * (height - 140))

    d.text((width / 2, 8), title, fill="black", font=font, anchor="mt")
    d.rounded_rectangle([*xy(-0.95, 1.0), *xy(0.95, 0.05)], radius=60, outline="#555555", width=3, fill="#f7f2ec")
    d.line([*xy(0, 0.08), *xy(0, 0.97)], fill="#bbbbbb", width=2)
    d.text(xy(-0.62, 1.08), "left", fill="black", font=font, anchor="mm")
    d.text(xy(0.62, 1.08), "right", fill="black", font=font, anchor="mm")
    recs = by_site(sites)
    for site in SITES:
        state = site_state(recs.get(site, []), key)
        symbol, word, fill = MARKS[state]
        cx, cy = xy(*SITE_POSITIONS[site])
        r = 34
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill, outline="black" if state != "absent" else "#9e9e9e",
                  width=3)
        ink = "white" if state is True else "black"
        if symbol in ("+", "−"):  # drawn, not typed: the bundled font's minus is a short hyphen
            d.rectangle([cx - 16, cy - 3, cx + 16, cy + 3], fill=ink)
            if symbol == "+":
                d.rectangle([cx - 3, cy - 16, cx + 3, cy + 16], fill=ink)
        elif symbol:
            d.text((cx, cy), symbol, fill=ink, font=big, anchor="mm")
        d.text((cx, cy + r + 8), f"{site}: {word}", fill="black", font=font, anchor="mt")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
