"""`python -m core <command> [args]`: the command-line entry points in one place."""
from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "analyze": ("core.cli.analyze", "analyse recordings: verdicts, event timeline, per-window probabilities"),
    "train": ("core.cli.train", "train heads on a dataset folder (SPRSound, cry_pain, donateacry, folder per class)"),
    "calibrate": ("core.cli.calibrate", "make a calibration profile from a clinic's labelled recordings"),
    "train-references": ("core.references.train", "fit and validate the pain answer judged against reference cries"),
    "train-input-check": ("core.inputcheck.train", "train and validate the check that refuses the wrong kind of audio"),
    "serve-hear": ("core.encoders.serve", "serve HeAR with Ray Serve for many app processes"),
    "fetch": ("core.data.fetch", "download SPRSound from its public repository"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        width = max(map(len, COMMANDS))
        print("usage: python -m core <command> [args]\n\ncommands:")
        for name, (_, text) in COMMANDS.items():
            print(f"  {name:<{width}}  {text}")
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nunknown command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0
    module = importlib.import_module(COMMANDS[argv[0]][0])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
