"""Make a calibration profile from a clinic's labelled recordings:
`python -m core calibrate --task respiratory|cry --data FOLDER --out PROFILE.json [--name "Clinic A"]
[--target-sensitivity S | --target-specificity P]`.

FOLDER: SPRSound audio with its JSON annotations, cry_pain's folders, or one folder per label (respiratory: Normal,
CAS, DAS, CAS & DAS; cry: pain, discomfort; `--group-pattern` names the person in the file names). Every recording
is analysed by the shipped model; only the calibration and thresholds of the recording answers (and, respiratory,
of the child-level answer) are refitted, and person-grouped cross-validation on the local recordings reports the
sensitivity and specificity before and after. The profile keeps derived numbers only (counts, the SHA-256 of each
file, the fitted parameters, the figures), never audio. Use it with `python -m core analyze ... --calibration
PROFILE.json`, `Analyzer(task, calibration=...)`, or the app's Calibration page.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.calibration.fit import Target
from core.calibration.profile import ProfileError


def figures_table(profile) -> str:
    """Before / after per answer and unit, as the CLI prints it."""
    lines = [f"{'answer':<12} {'unit':<10} {'':<7} {'sensitivity':<22} {'specificity':<22} n (pos/neg)"]

    def cell(f, what):
        if not f or f.get(what) is None:
            return "n/a"
        ci = f.get(f"{what}_ci")
        return f"{f[what]:.2f}" + (f" ({ci[0]:.2f}-{ci[1]:.2f})" if ci else "")

    for key, ac in profile.answers.items():
        units = [("recording", ac.figures)] + ([("child", profile.child[key].figures)] if key in profile.child else [])
        for unit, figs in units:
            for when in ("before", "after"):
                f = (figs or {}).get(when)
                n = f"{f['positives']}/{f['negatives']}" if f else ""
                lines.append(f"{key:<12} {unit:<10} {when:<7} {cell(f, 'sensitivity'):<22} "
                             f"{cell(f, 'specificity'):<22} {n}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from core.answers.analyzer import Analyzer
    from core.answers.calibrate import calibrate_folder
    from core.encoders import EncoderUnavailable
    from core.heads.artifacts import ArtifactError

    ap = argparse.ArgumentParser(prog="python -m core calibrate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", required=True, choices=["respiratory", "cry"])
    ap.add_argument("--data", required=True, type=Path, help="folder of labelled local recordings")
    ap.add_argument("--out", required=True, type=Path, help="where to write the profile (JSON)")
    ap.add_argument("--name", default=None, help="the profile's name, shown on every answer (default: the folder's)")
    goal = ap.add_mutually_exclusive_group()
    goal.add_argument("--target-sensitivity", type=float, default=None, metavar="S")
    goal.add_argument("--target-specificity", type=float, default=None, metavar="P")
    ap.add_argument("--encoder", default="auto", choices=["auto", "acoustic", "hear"])
    ap.add_argument("--group-pattern", default=None,
                    help="folder per class: a regex on file names naming the person (else each file is a person)")
    args = ap.parse_args(argv)
    try:
        target = (Target("sensitivity", args.target_sensitivity) if args.target_sensitivity is not None
                  else Target("specificity", args.target_specificity) if args.target_specificity is not None
                  else Target())
        analyzer = Analyzer(args.task, args.encoder)
    except ProfileError as exc:
        ap.error(str(exc))
    except (EncoderUnavailable, ArtifactError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def progress(done: int, total: int) -> None:
        if done == total or done % 25 == 0:
            print(f"  analysed {done} of {total}", file=sys.stderr, flush=True)

    try:
        profile = calibrate_folder(analyzer, args.data, target, args.name or args.data.resolve().name,
                                   args.group_pattern, progress)
    except ProfileError as exc:
        print(f"error: cannot calibrate: {exc}", file=sys.stderr)
        return 2
    profile.save(args.out)
    print(f"profile '{profile.name}': {profile.data['recordings']} recordings of {profile.data['people']} people; "
          f"{profile.target['text']}")
    print(figures_table(profile))
    for note in profile.notes:
        print(f"note: {note}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
