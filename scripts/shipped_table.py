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
SPR_START, SPR_END = "<!-- sprsound-table:start -->", "<!-- sprsound-table:end -->"
#: (task id, head, where its official scores sit in metrics.json)
SPR_TASKS = (("1-1", "screen", None), ("1-2", "event_type", None), ("2-1", "record", "task_2_1"),
             ("2-2", "record", None))


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


def _score(ev: dict | None, sub: str | None, key: str = "Score") -> str:
    if not ev:
        return "–"
    return _fmt(ev[sub], key) if sub else _fmt(ev, key)


def sprsound_table(root: Path = ROOT / "trained", encoder: str = "acoustic") -> str:
    rows = ["| SPRSound task | ours: patient-grouped CV, all training patients | ours: held-out patients | "
            "ours: official intra-patient test (same patients as training) | published (source, system) |",
            "|---|---|---|---|---|"]
    splits: set[str] = set()
    for task, head, sub in SPR_TASKS:
        f = root / "respiratory" / encoder / head / "metrics.json"
        if not f.is_file():
            continue
        m = json.loads(f.read_text())
        intra = m.get("official_test", {}).get("test_intra")
        refs = [r for r in m.get("published_references", []) if r["task"] == task]
        splits.update(r["test_split"] for r in refs)
        pub = "; ".join(f"{r['score']:.4g} ({r['source']}, {r['system']})" for r in refs) or "–"
        rows.append(f"| {task} ({head}) | {_score(m['all_groups_cv'], sub)} | {_score(m['heldout'], sub)} | "
                    f"{_score(intra, sub)} | {pub} |")
    if splits:
        rows += ["", "Published figures evaluated on: " + "; ".join(sorted(splits)) + "."]
    return "\n".join(rows)


def _splice(text: str, start: str, end: str, body: str) -> str:
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def render(readme: str, body: str, spr: str | None = None) -> str:
    out = _splice(readme, START, END, body)
    return _splice(out, SPR_START, SPR_END, spr) if spr is not None and SPR_START in out else out


def main(argv: list[str]) -> int:
    text = README.read_text()
    new = render(text, table(), sprsound_table())
    if "--check" in argv:
        if new != text:
            print("README's shipped-heads table is out of date: run `python scripts/shipped_table.py`", file=sys.stderr)
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
