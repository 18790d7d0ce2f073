"""Tasks, their heads and label sets. A head is one trained classifier; a task groups the heads the UI shows."""
from __future__ import annotations

from dataclasses import dataclass, field

from core.config import QualityThresholds

RESP_EVENT_LABELS = ("Normal", "Rhonchi", "Wheeze", "Stridor", "Coarse Crackle", "Fine Crackle", "Wheeze+Crackle")
RESP_RECORD_LABELS = ("Normal", "CAS", "DAS", "CAS & DAS", "Poor Quality")
RESP_SCREEN_LABELS = ("Normal", "Adventitious")
#: Continuous adventitious sounds (CAS: wheeze, rhonchi, stridor) and discontinuous ones (DAS: crackles).
#: Wheeze+Crackle holds both. In children a wheeze is often bronchiolitis or asthma and a stridor points to the upper
#: airway: the answers name the sounds they detect, never a disease.
CAS_TYPES = frozenset({"Rhonchi", "Wheeze", "Stridor", "Wheeze+Crackle"})
DAS_TYPES = frozenset({"Coarse Crackle", "Fine Crackle", "Wheeze+Crackle"})
#: what the respiratory window detector finds, and the annotated event types each class covers
RESP_DETECTOR_CLASSES: dict[str, frozenset[str]] = {
    "Adventitious": CAS_TYPES | DAS_TYPES,
    "CAS": CAS_TYPES,
    "DAS": DAS_TYPES,
}
#: how each detector class is named to a clinician
RESP_CLASS_NAMES = {"Adventitious": "adventitious sounds", "CAS": "continuous sounds (wheeze, rhonchi, stridor)",
                    "DAS": "discontinuous sounds (crackles)"}
#: the SPRSound record labels in words (the official short names stay the labels, as in the challenge's scoring)
RESP_LABEL_GLOSSARY = ("CAS = continuous adventitious sounds (wheeze, rhonchi, stridor); DAS = discontinuous "
                       "adventitious sounds (crackles); Poor Quality = the recording cannot be judged")
#: the classes the event timeline draws as segments (Adventitious is their union)
RESP_TIMELINE_TYPES = ("CAS", "DAS")
#: The recording-level answers the app leads with: detector class, words, the record labels that make a recording
#: positive and those it is scored against, and the answer it requires (so the two never contradict).
RESP_ANSWERS: dict[str, dict] = {
    "screen": {"class": "Adventitious", "title": "Adventitious sounds (wheeze, rhonchi, stridor or crackles)",
               "positive": "Adventitious sounds present", "negative": "No adventitious sounds found",
               "positives": ("CAS", "DAS", "CAS & DAS"), "negatives": ("Normal",), "requires": ""},
    "continuous": {"class": "CAS", "title": "Continuous adventitious sounds (wheeze, rhonchi, stridor)",
                   "positive": "Continuous adventitious sounds present",
                   "negative": "No continuous adventitious sounds found",
                   "positives": ("CAS", "CAS & DAS"), "negatives": ("Normal",), "requires": "screen",
                   "help": "Wheeze, rhonchi and stridor are the continuous adventitious sounds. A wheeze is what "
                           "asthma screening listens for, but in infants and young children it is as often "
                           "bronchiolitis or a viral wheeze, and stridor points to the upper airway (croup, "
                           "laryngomalacia, an inhaled object). The answer names the sounds heard, never a disease; "
                           "it is positive only when the adventitious-sound answer is."},
}
#: SPRSound's releases by recording period: the intra-patient test holds later recordings of the training patients
#: (the inter-patient test, when present, other patients recorded in that later period)
RESP_PERIODS = {"train": "earlier", "test_intra": "later", "test_inter": "later"}
#: the splits the respiratory recording model trains on (grouped by patient across both periods)
RESP_TRAINING_SPLITS = ("train", "test_intra")
#: which detector classes a record label says are present (Poor Quality records carry no event annotation: None)
RECORD_PRESENCE: dict[str, frozenset[str] | None] = {
    "Normal": frozenset(), "CAS": frozenset({"Adventitious", "CAS"}), "DAS": frozenset({"Adventitious", "DAS"}),
    "CAS & DAS": frozenset({"Adventitious", "CAS", "DAS"}), "Poor Quality": None,
}
#: what every SPRSound event head shares: one labelled event per unit, scored on the event view; research only
#: (the SPRSound event tasks score isolated annotated events, which the app never sees)
SPR_EVENT_HEAD = dict(unit="event", pooled=False, dataset="sprsound_events", negative_label="Normal",
                      views=("event", "context"), score_view="event", research=True, duration_feature=True,
                      candidates=("hgb",))  # chosen by grouped CV in earlier releases; fixed to fit the budget
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
    kind: str = "head"  # "head" (one classifier) or "recording_model" (core.heads.recording)
    research: bool = False  # trained and reported, never run on a user's recording (e.g. isolated-event heads)
    nested: bool = True  # also score the whole procedure (calibration, threshold) by nested grouped CV
    candidates: tuple[str, ...] | None = None  # candidate classifiers; None: the command line's
    duration_feature: bool = False  # event heads: the annotated event's log-duration is one more input


@dataclass(frozen=True)
class TaskSpec:
    name: str
    title: str
    heads: tuple[HeadSpec, ...]
    primary: str  # output whose verdict is the recording's answer
    quality: QualityThresholds = QualityThresholds()
    screening: tuple[str, ...] = ()  # binary outputs shown as a screening answer with their operating point
    track: str | None = None  # window output drawn under the spectrogram by default
    people: str = "person"  # what a group is, in the UI ("patient", "infant")
    #: feature blocks appended to the encoder's window embedding for this task, in training and analysis alike
    window_features: tuple[str, ...] = ()

    @property
    def main_head(self) -> str:
        """The artefact the primary answer comes from (itself, or the recording model whose output it is)."""
        names = [h.name for h in self.heads]
        if self.primary in names:
            return self.primary
        return next(h.name for h in self.heads if h.kind == "recording_model")

    def head(self, name: str) -> HeadSpec:
        for h in self.heads:
            if h.name == name:
                return h
        raise KeyError(f"task {self.name!r} has no head {name!r} (heads: {', '.join(h.name for h in self.heads)})")


RESPIRATORY = TaskSpec(
    name="respiratory",
    title="Respiratory (pediatric auscultation)",
    primary="screen",
    people="patient",
    screening=("continuous",),
    track="detector",
    # Stethoscope recordings are quiet: SPRSound's median 2-s window is at -50 dBFS and 2 % fall below -60 dBFS,
    # so the generic -50 dBFS silence level would discard half of the real breath sounds.
    quality=QualityThresholds(silence_dbfs=-65.0),
    heads=(
        HeadSpec(
            name="recording",
            title="Respiratory recording model",
            labels=RESP_RECORD_LABELS,
            unit="recording",
            pooled=False,
            dataset="sprsound_records",
            negative_label="Normal",
            kind="recording_model",
            description="A window detector trained on every sliding window of the training recordings (labels from "
                        "the annotated events), and recording-level answers decided from its pooled evidence: "
                        "adventitious sounds present, continuous adventitious sounds (wheeze, rhonchi, stridor) present, "
                        "the SPRSound record label.",
        ),
        HeadSpec(
            name="event_screen",
            title="Annotated event: normal vs adventitious (SPRSound task 1-1, research)",
            labels=RESP_SCREEN_LABELS,
            positive="Adventitious",
            description="Classifies one annotated event (the challenge's unit); reported for comparison with the "
                        "literature, not run on recordings.",
            label_map={lab: ("Normal" if lab == "Normal" else "Adventitious") for lab in RESP_EVENT_LABELS},
            **SPR_EVENT_HEAD,
        ),
        HeadSpec(
            name="event_type",
            title="Annotated event: type (SPRSound task 1-2, research)",
            labels=RESP_EVENT_LABELS,
            description="Seven event classes for one annotated event; reported for comparison with the literature, "
                        "not run on recordings.",
            nested=False,  # seven classes x nested folds would not fit the training budget; see all_groups_cv
            **SPR_EVENT_HEAD,
        ),
    ),
)

CRY = TaskSpec(
    name="cry",
    title="Infant cry",
    primary="pain",
    people="infant",
    # Windows without a voiced cry (pauses, handling noise, adult voices) do not vote; 0.1 keeps 93-98 % of the
    # cry_pain windows and drops the silences between cry bouts. Silence is judged against the recording's own
    # background (6 dB above its noise floor) down to -80 dBFS, so a quiet phone recording with a visible cry is
    # analysed (scripts/cry_gate_coverage.py measures it on Donate-a-cry).
    quality=QualityThresholds(min_cry_voicing=0.1, silence_dbfs=-80.0, above_floor_db=6.0),
    # jitter, shimmer, HNR, sub-harmonics, CPP (core/encoders/voice_quality.py): the pain cues of the source study;
    # they lifted the nested leave-one-infant-out figures of the pain head (scripts/cry_ablation.py)
    window_features=("voice_quality",),
    heads=(
        HeadSpec(
            name="pain",
            title="Pain vs discomfort",
            labels=CRY_PAIN_LABELS,
            unit="recording",
            pooled=False,
            dataset="cry_pain",
            positive="pain",
            # a pain screen's requirement is sensitivity >= 0.90: its threshold is the highest reaching that on the
            # other infants' out-of-fold predictions; nested leave-one-infant-out it held at 0.92-0.93 sensitivity
            # with 0.87-0.89 specificity over three inner-fold seeds, where the balanced point's sensitivity fell
            # to 0.89 for two of them (scripts/cry_ablation.py)
            operating_point="high_sensitivity",
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

#: SPRSound task 2-1 view of a record label: Normal / Adventitious / Poor Quality.
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
