"""Write the README's table of shipped heads from trained/*/*/*/metrics.json, so no number is ever typed by hand.

`python scripts/shipped_table.py` rewrites the block between the README's shipped-table markers;
`--check` exits 1 when the README is out of date (the test suite runs it).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- shipped-table:start -->", "<!-- shipped-table:end -->"


def _fmt(ev: dict, key: str) -> str:
    v = ev["metrics"].get(key)
    if v is None:
        return "–"
    ci = ev["ci95"].get(key)
    return f"{v:.3f} ({ci[0]:.2f}–{ci[1]:.2f})" if ci else f"{v:.3f}"


def table(root: Path = ROOT / "trained") -> str:
    rows = ["| task / head (encoder) | held-out: units (people) | balanced acc. (95 % CI) | macro ROC-AUC (95 % CI) | "
            "SPRSound Score, held-out patients | SPRSound Score, official intra-patient test (same patients) |",
            "|---|---|---|---|---|---|"]
    for f in sorted(root.glob("*/*/*/metrics.json")):
        m = json.loads(f.read_text())
        h = m["heldout"]
        intra = m.get("official_test", {}).get("test_intra")
        tag = " (experimental)" if m.get("experimental") else ""
        rows.append(
            f"| {m['task']} / {m['head']}{tag} ({m['encoder'].split(':')[0]}) | {h['n']} {m['unit']}s ({h['n_groups']}) | "
            f"{_fmt(h, 'balanced_accuracy')} | {_fmt(h, 'roc_auc')} | {_fmt(h, 'Score')} | "
            f"{_fmt(intra, 'Score') if intra else '–'} |"
        )
    return "\n".join(rows)


def render(readme: str, body: str) -> str:
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{body}\n{END}{tail}"


def main(argv: list[str]) -> int:
    text = README.read_text()
    new = render(text, table())
    if "--check" in argv:
        if new != text:
            print("README's shipped-heads table is out of date: run `python scripts/shipped_table.py`", file=sys.stderr)
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
