"""How many cry recordings the cry gate lets through, before and after it judged silence against the recording's own
background, and how many lung recordings it still refuses.

`python scripts/cry_gate_coverage.py` decodes every recording with the app's decoder, frames the app's windows and
applies the gate exactly as analysis does (`core.quality.gate`); a recording gets a verdict when at least one window
is usable. Every Donate-a-cry file is a cry, so its share is the gate's coverage; SPRSound lung recordings hold no
cry, so there the share refused with "no crying" is what should stay high. Writes `trained/cry/<encoder>/gate.json`,
which `scripts/shipped_table.py` puts in the README.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.audio.decode import AudioDecodeError, decode_audio  # noqa: E402
from core.config import WINDOW_SAMPLES  # noqa: E402
from core.quality.gate import NO_CRY, assess_windows, recording_floor  # noqa: E402
from core.tasks import CRY  # noqa: E402
from core.windows.framing import make_windows  # noqa: E402

AUDIO = {".wav", ".flac", ".ogg", ".mp3", ".m4a", ".3gp", ".caf", ".webm"}
#: the gate as shipped before it adapted: a fixed silence level of -50 dBFS
BEFORE = replace(CRY.quality, silence_dbfs=-50.0, above_floor_db=None)
GATES = {"before: fixed silence level -50 dBFS": BEFORE,
         f"after: {CRY.quality.above_floor_db:g} dB above the recording's noise floor (at least "
         f"{CRY.quality.silence_dbfs:g} dBFS)": CRY.quality}


def outcome(path: Path, th) -> tuple[int, int, bool]:
    """(usable windows, windows, every flagged window says no crying or silence with some 'no crying')."""
    x = decode_audio(path).samples
    batch, wins = make_windows(x)
    q = assess_windows(batch, wins, len(x) >= WINDOW_SAMPLES, th, floor_dbfs=recording_floor(x, th))
    return sum(w.usable for w in q), len(q), any(NO_CRY in w.flags for w in q)


def measure(files: list[Path]) -> dict:
    out = {}
    for name, th in GATES.items():
        n = verdict = windows = usable = no_cry = 0
        for f in files:
            try:
                u, t, nc = outcome(f, th)
            except AudioDecodeError:
                continue
            n += 1
            verdict += u > 0
            windows += t
            usable += u
            no_cry += (u == 0 and nc)
        out[name] = {"recordings": n, "with_verdict": verdict, "share_with_verdict": verdict / max(1, n),
                     "usable_window_share": usable / max(1, windows), "refused_no_crying": no_cry}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--lung", type=int, default=200, help="how many SPRSound recordings to check (sorted by name)")
    ap.add_argument("--out", type=Path, default=ROOT / "trained" / "cry" / "acoustic" / "gate.json")
    args = ap.parse_args(argv)
    sets = {
        "Donate-a-cry (every file a cry)": sorted(p for p in (args.data / "donateacry").rglob("*")
                                                  if p.suffix.lower() in AUDIO),
        "cry_pain (every file a cry)": sorted(p for p in (args.data / "cry_pain").rglob("*")
                                              if p.suffix.lower() in AUDIO),
        f"SPRSound lung recordings (no cry; first {args.lung})": sorted(
            (args.data / "sprsound").rglob("*.flac"))[: args.lung],
    }
    result = {"note": "share of recordings with at least one usable window under the cry gate, before and after it "
                      "judged silence against the recording's own background; command: python "
                      "scripts/cry_gate_coverage.py",
              "sets": {}}
    for name, files in sets.items():
        if files:
            result["sets"][name] = measure(files)
            print(name, json.dumps(result["sets"][name], indent=1), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
