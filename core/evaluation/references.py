"""Published SPRSound scores to read ours against, with where each was measured.

They are not directly comparable with our figures: ours are patient-grouped cross-validation on the training
release and the intra-patient test split (the same patients as training); the published ones are on the official
BioCAS 2022 test set as their sources report it. The split is carried with every number so no page can drop it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Reference:
    task: str  # SPRSound task id: "1-1", "1-2", "2-1", "2-2"
    score: float  # official BioCAS Score, (AS + HS) / 2
    system: str
    source: str
    test_split: str


BIOCAS_TEST = "official BioCAS 2022 test set, as reported by the source"

PUBLISHED: tuple[Reference, ...] = (
    Reference("1-1", 0.893, "best published, BioCAS 2022", "Chen et al. 2022", BIOCAS_TEST),
    Reference("1-2", 0.80, "best published, BioCAS 2022", "Chen et al. 2022", BIOCAS_TEST),
    Reference("2-1", 0.7179, "best in the challenge table", "BioCAS 2022 challenge results table", BIOCAS_TEST),
    Reference("2-1", 0.745, "post-challenge", "Ngo et al. 2023", BIOCAS_TEST),
    Reference("2-1", 0.7215, "HeAR embeddings + head", "HeAR thesis", BIOCAS_TEST),
    Reference("2-2", 0.5543, "best in the challenge table", "BioCAS 2022 challenge results table", BIOCAS_TEST),
    Reference("2-2", 0.539, "post-challenge", "Ngo et al. 2023", BIOCAS_TEST),
    Reference("2-2", 0.524, "HeAR embeddings + head", "HeAR thesis", BIOCAS_TEST),
)

#: Which SPRSound task each respiratory head answers (the record head answers two).
HEAD_TASKS: dict[str, tuple[str, ...]] = {"event_screen": ("1-1",), "event_type": ("1-2",), "recording": ("2-1", "2-2")}


def references_for(head: str) -> list[dict]:
    tasks = HEAD_TASKS.get(head, ())
    return [asdict(r) for r in PUBLISHED if r.task in tasks]


#: our evaluations shown beside the references: (where in metrics.json, column title)
OUR_SPLITS = (
    ("all_groups_cv", "ours: patient-grouped CV, all training patients"),  # nested wherever the head has it
    ("heldout", "ours: held-out patients"),
    ("official_test/test_intra", "ours: later-period recordings (official intra-patient release) ‡"),
)
#: what the later-period column means for each kind of head (printed under the table)
LATER_NOTE = ("‡ event heads: trained on the training release, scored once on the intra-patient release (the same "
              "patients, recorded later); recording model: both releases are in its nested patient-grouped CV, and "
              "the column scores the later-period recordings, each by a model that never saw its patient.")


#: where the recording model keeps the same three evaluations (its record-label block, shipped rule)
RECORDING_SPLITS = {"all_groups_cv": "cv/record/rule", "heldout": "heldout/record/rule",
                    "official_test/test_intra": "cv_by_period/later/record/rule"}


def cv_is_nested(metrics: dict) -> bool:
    """Whether the head's CV figure was scored on people its decision rule was not chosen on."""
    return metrics.get("kind") == "recording_model" or "nested_cv" in metrics


def _at(metrics: dict, path: str) -> dict | None:
    if metrics.get("kind") == "recording_model":
        path = RECORDING_SPLITS.get(path, path)
    elif path == "all_groups_cv" and "nested_cv" in metrics:  # never the figure the rule was chosen on
        path = "nested_cv"
    node = metrics
    for part in path.split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def comparison(metrics: dict) -> list[dict]:
    """One row per SPRSound task a head answers: our Score (value, 95 % CI) on each split, and the references."""
    rows = []
    for task in HEAD_TASKS.get(metrics.get("head", ""), ()):
        row: dict = {"task": task}
        for path, title in OUR_SPLITS:
            ev = _at(metrics, path)
            if ev is not None and task == "2-1":
                ev = ev.get("task_2_1")
            row[title] = (ev["metrics"].get("Score"), ev["ci95"].get("Score")) if ev else (None, None)
        row["published"] = [r for r in metrics.get("published_references", []) if r["task"] == task]
        rows.append(row)
    return rows
