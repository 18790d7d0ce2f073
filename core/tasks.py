"""Tasks, their heads and label sets. A head is one trained classifier; a task groups the heads the UI shows."""
from __future__ import annotations

from dataclasses import dataclass, field

from core.config import QualityThresholds

RESP_EVENT_LABELS = ("Normal", "Rhonchi", "Wheeze", "Stridor", "Coarse Crackle", "Fine Crackle", "Wheeze+Crackle")
RESP_RECORD_LABELS = ("Normal", "CAS", "DAS", "CAS & DAS", "Poor Quality")
RESP_SCREEN_LABELS = ("Normal", "Adventitious")
RESP_ASTHMA_LABELS = ("Normal", "Asthma-indicative")
#: Continuous adventitious sounds (and wheeze with crackles) are the asthma-indicative ones; crackle-only events
#: point to other disease and are left out of this view, as in the respiratory seed paper.
ASTHMA_MAP = {"Normal": "Normal", "Rhonchi": "Asthma-indicative", "Wheeze": "Asthma-indicative",
              "Stridor": "Asthma-indicative", "Wheeze+Crackle": "Asthma-indicative", "Coarse Crackle": "",
              "Fine Crackle": ""}
#: what every SPRSound event head shares: one labelled event per unit, window-level, scored on the event view
SPR_EVENT_HEAD = dict(unit="event", pooled=False, dataset="sprsound_events", negative_label="Normal",
                      views=("event", "context"), score_view="event")
CRY_PAIN_LABELS = ("discomfort", "pain")
CRY_REASON_LABELS = ("belly_pain", "burping", "discomfort", "hungry", "tired")


@dataclass(frozen=True)
class HeadSpec:
    name: str
    title: str
    labels: tuple[str, ...]
    unit: str  # what one labelled example is: "event", "record" or "recording"
    pooled: bool  # True: one pooled embedding per unit; False: window-level head, unit = mean of windows
    dataset: str  # reader in core.data.datasets that provides its units
    positive: str | None = None  # for binary screening heads: the class whose probability is the screening score
    negative_label: str | None = None  # the "normal" class for SPRSound challenge scoring
    experimental: bool = False
    description: str = ""
    label_map: dict[str, str] = field(default_factory=dict)  # dataset label -> head label ("" drops the unit)
    views: tuple[str, ...] = ("context",)  # window views of an event trained on (core.data.embed.VIEWS)
    score_view: str = "context"  # the view whose windows score a unit in evaluation
    operating_point: str = "balanced"  # binary heads: "balanced" or "high_sensitivity" (sensitivity >= 0.90)
    stack_from: str | None = None  # pooled heads: also read this window head's probabilities (core.heads.stacking)
    stack_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)  # class groups summed when stacked


@dataclass(frozen=True)
class TaskSpec:
    name: str
    title: str
    heads: tuple[HeadSpec, ...]
    primary: str  # head whose verdict is the clip's verdict
    quality: QualityThresholds = QualityThresholds()
    screening: tuple[str, ...] = ()  # binary heads shown as a screening probability with their operating point
    track: str | None = None  # window head drawn under the spectrogram by default
    people: str = "person"  # what a group is, in the UI ("patient", "infant")

    def head(self, name: str) -> HeadSpec:
        for h in self.heads:
            if h.name == name:
                return h
        raise KeyError(f"task {self.name!r} has no head {name!r} (heads: {', '.join(h.name for h in self.heads)})")


RESPIRATORY = TaskSpec(
    name="respiratory",
    title="Respiratory (pediatric auscultation)",
    primary="record",
    people="patient",
    screening=("asthma", "screen"),
    track="event_type",
    # Stethoscope recordings are quiet: SPRSound's median 2-s window is at -50 dBFS and 2 % fall below -60 dBFS,
    # so the generic -50 dBFS silence level would discard half of the real breath sounds.
    quality=QualityThresholds(silence_dbfs=-65.0),
    heads=(
        HeadSpec(
            name="screen",
            title="Normal vs adventitious (SPRSound task 1-1)",
            labels=RESP_SCREEN_LABELS,
            positive="Adventitious",
            description="Window-level screening: any adventitious sound (wheeze, rhonchi, stridor, crackles).",
            label_map={lab: ("Normal" if lab == "Normal" else "Adventitious") for lab in RESP_EVENT_LABELS},
            **SPR_EVENT_HEAD,
        ),
        HeadSpec(
            name="event_type",
            title="Event type (SPRSound task 1-2)",
            labels=RESP_EVENT_LABELS,
            description="Seven event classes per window.",
            stack_groups={"Adventitious": RESP_EVENT_LABELS[1:],
                          "CAS": ("Rhonchi", "Wheeze", "Stridor", "Wheeze+Crackle"),
                          "DAS": ("Coarse Crackle", "Fine Crackle", "Wheeze+Crackle")},
            **SPR_EVENT_HEAD,
        ),
        HeadSpec(
            name="asthma",
            title="Asthma-indicative sounds vs normal (screening)",
            labels=RESP_ASTHMA_LABELS,
            positive="Asthma-indicative",
            description="Wheeze, rhonchi, stridor or wheeze+crackle vs normal breath sounds; crackle-only events are "
                        "excluded from training and evaluation. Threshold chosen for sensitivity >= 0.90.",
            label_map=ASTHMA_MAP,
            operating_point="high_sensitivity",
            **SPR_EVENT_HEAD,
        ),
        HeadSpec(
            name="record",
            title="Record label (SPRSound task 2-2)",
            labels=RESP_RECORD_LABELS,
            unit="record",
            pooled=True,
            dataset="sprsound_records",
            negative_label="Normal",
            description="Whole-recording label from the pooled window embeddings and the event-type model's "
                        "probabilities summarised over the windows; task 2-1 merges CAS/DAS/CAS & DAS.",
            stack_from="event_type",
        ),
    ),
)

CRY = TaskSpec(
    name="cry",
    title="Infant cry",
    primary="pain",
    people="infant",
    # Windows without a voiced cry (pauses, handling noise, adult voices) do not vote; 0.1 keeps 93-98 % of the
    # cry_pain windows and drops the silences between cry bouts.
    quality=QualityThresholds(min_cry_voicing=0.1),
    heads=(
        HeadSpec(
            name="pain",
            title="Pain vs discomfort",
            labels=CRY_PAIN_LABELS,
            unit="recording",
            pooled=False,
            dataset="cry_pain",
            positive="pain",
            description="Cry sequences recorded at vaccination (pain) vs bath time (discomfort).",
        ),
        HeadSpec(
            name="reason",
            title="Parent-tagged reason",
            labels=CRY_REASON_LABELS,
            unit="recording",
            pooled=False,
            dataset="donateacry",
            experimental=True,
            description="Donate-a-cry parent tags; family-grouped performance is near chance. Not for decisions.",
        ),
    ),
)

TASKS: dict[str, TaskSpec] = {t.name: t for t in (RESPIRATORY, CRY)}

#: SPRSound task 2-1 view of the record head: Normal / Adventitious / Poor Quality.
RECORD_2_1 = {"Normal": "Normal", "CAS": "Adventitious", "DAS": "Adventitious", "CAS & DAS": "Adventitious",
              "Poor Quality": "Poor Quality"}


def get_task(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}") from None


def custom_head(name: str, labels: tuple[str, ...]) -> HeadSpec:
    """A head for a user's own folder-per-class data."""
    return HeadSpec(
        name=name, title=f"Custom: {name}", labels=labels, unit="recording", pooled=False, dataset="folder",
        positive=labels[1] if len(labels) == 2 else None, description="Trained on a user-supplied folder-per-class dataset.",
    )
