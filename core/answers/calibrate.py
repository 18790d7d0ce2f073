"""A calibration profile from a folder of labelled local recordings: each recording answered by the shipped model
(the same analysis as any upload), the answers' derived numbers kept, the profile fitted on them
(`core.calibration.fit`). Shared by `python -m core calibrate` and the Calibration page."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Callable

from core.answers.analyzer import Analyzer
from core.audio.decode import AudioDecodeError
from core.calibration.fit import ANSWERS, Target, make_profile
from core.calibration.profile import CalibrationProfile, ProfileError, model_identity
from core.data.datasets import detect_layout, scan
from core.decisions.child import name_info
from core.reports.provenance import app_version
from core.tasks import RESP_PERIODS

#: which folder layouts give labels for which task (folder per class: the class folders' names are the labels)
LAYOUTS = {"respiratory": {"sprsound": "sprsound_records", "folder": "folder"},
           "cry": {"cry_pain": "cry_pain", "folder": "folder"}}
LABEL_HELP = {"respiratory": "SPRSound audio with its JSON annotations, or one folder per record label (Normal, CAS, "
                             "DAS, CAS & DAS)",
              "cry": "cry_pain's folders, or one folder per label (pain, discomfort)"}
#: more than this share of the recordings refused by the input check: the folder is of the wrong kind
MAX_REFUSED = 0.2


def _labels(task: str, label: str) -> str:
    """Folder names to the labels the answers use (case and the cry_pain folder names forgiven)."""
    low = label.strip().lower()
    if task == "cry":
        return "pain" if low.startswith("pain") else "discomfort" if low.startswith("discomfort") else label
    known = {"normal": "Normal", "cas": "CAS", "das": "DAS", "cas & das": "CAS & DAS", "poor quality": "Poor Quality"}
    return known.get(low, label)


def local_rows(analyzer: Analyzer, folder: Path, group_pattern: str | None = None,
               progress: Callable[[int, int], None] | None = None) -> tuple[list[dict], list[str], list[str]]:
    """(rows, the SHA-256 of each file used, notes): every labelled recording of `folder` answered by `analyzer`
    (which must carry no profile: the profile is fitted on the shipped answers)."""
    task = analyzer.task.name
    try:
        layout = detect_layout(folder)
    except FileNotFoundError as exc:
        raise ProfileError(str(exc)) from exc
    if layout not in LAYOUTS[task]:
        raise ProfileError(f"{folder.name} looks like {layout} data, which does not label {task} recordings; give "
                           f"{LABEL_HELP[task]}")
    ds = scan(folder, LAYOUTS[task][layout], group_pattern)
    units = ds.units
    if layout == "folder" and group_pattern is None:
        notes = ["no person pattern was given, so every file is taken for a different person"]
    else:
        notes = []
    rows, shas, refused, failed = [], [], 0, 0
    keys = list(ANSWERS[task])
    for i, u in enumerate(units, 1):
        try:
            r = analyzer.analyze(Path(u.path), name=Path(u.path).name)
        except AudioDecodeError:
            failed += 1
            continue
        finally:
            if progress:
                progress(i, len(units))
        if r.refused:
            refused += 1
            continue
        info = name_info(Path(u.path).name)
        row = {"uid": r.provenance.audio_sha256, "patient": str(u.group),
               "visit": RESP_PERIODS.get(u.split, u.split) if layout == "sprsound" else "visit 1",
               "site": info.site, "rec": info.recording, "label": _labels(task, u.label), "poor": False}
        for key in keys:
            h = r.heads.get(key)
            if h is None or h.verdict.abstained:
                row[f"p_{key}"], row[f"d_{key}"] = None, None
                row["poor"] = row["poor"] or (h is not None and h.verdict.reason.startswith("poor recording"))
            else:
                row[f"p_{key}"] = float(h.verdict.probabilities[h.positive])
                row[f"d_{key}"] = h.verdict.label == h.positive
        rows.append(row)
        shas.append(r.provenance.audio_sha256)
    if units and refused > MAX_REFUSED * len(units):
        raise ProfileError(f"{refused} of {len(units)} recordings were refused by the input check as not "
                           f"{'chest auscultation' if task == 'respiratory' else 'infant cries'}: this folder is of "
                           "the wrong kind for this task")
    if refused:
        notes.append(f"{refused} recording(s) refused by the input check were left out")
    if failed:
        notes.append(f"{failed} file(s) that could not be read were left out")
    return rows, shas, notes


def calibrate_folder(analyzer: Analyzer, folder: Path, target: Target, name: str, group_pattern: str | None = None,
                     progress: Callable[[int, int], None] | None = None) -> CalibrationProfile:
    """The profile for `analyzer`'s model from the labelled recordings of `folder` (ProfileError: why not)."""
    from dataclasses import replace

    from core.decisions.child import ChildRule

    if analyzer.calibration is not None:
        analyzer = analyzer.with_calibration(None)
    rows, shas, notes = local_rows(analyzer, folder, group_pattern, progress)
    main = analyzer.heads[analyzer.task.main_head]
    rules = {k: ChildRule.from_dict(d) for k, d in ((main.meta.get("examination") or {}).get("rules") or {}).items()}
    profile = make_profile(rows, analyzer.task.name, target, name=name,
                           model=model_identity(analyzer.task.main_head, main.meta),
                           encoder=analyzer.encoder.info.identity, app_version=app_version(), files_sha256=shas,
                           poolings={k: r.pooling for k, r in rules.items()}, shipped_child=rules,
                           created=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return replace(profile, notes=tuple(notes) + profile.notes)
