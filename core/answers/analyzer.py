"""The one analysis call every page, the batch view and the CLI use: audio + task (+ encoder) -> typed result."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.heads.artifacts import ArtifactError, HeadArtifact, artifact_dir, load_artifact, validated_evaluation
from core.heads.recording import RecordingModelArtifact, record_labels, screen_answers
from core.inputcheck.model import ARTIFACT_NAME as INPUT_CHECK, KIND_WORDS, InputCheck, InputCheckModel
from core.calibration.profile import CalibrationProfile, ProfileError, model_identity
from core.references.model import (MAX_REFERENCES, REFERENCE_FILE, ReferenceCry, ReferenceMap, ReferenceSet, plural,
                                   unit_score, window_scores)
from core.decisions.timeline import Refinement, Timeline, build_timeline, refine
from core.windows.envelope import ENVELOPE_HOP_S, breath_envelope
from core.audio.decode import AudioDecodeError, AudioSource, DecodedAudio, decode_audio
from core.encoders.cache import EmbeddingCache
from core.config import DISCLAIMER, DEFAULT_HOP_SECONDS, WINDOW_SAMPLES, Limits, QualityThresholds, trained_dir
from core.encoders import EncoderUnavailable, get_encoder, hear_status
from core.encoders.base import Encoder, EncoderInfo
from core.reports.provenance import Provenance, app_version, clean_fields, model_versions, now_utc
from core.quality.gate import (NO_CRY, SILENT, ClipQuality, WindowQuality, assess_clip, assess_windows,
                               recording_floor)
from core.windows.spectrogram import Spectrogram, display_spectrogram
from core.tasks import TaskSpec, get_task
from core.timing import NO_TIMER, StageTimer
from core.windows.framing import Window, frame, plan_windows

NEAR_THRESHOLD = 0.15  # P(pain) this close to the threshold: the page suggests reference cries
CHUNK_WINDOWS = 32  # windows framed, gated and embedded at a time (at least the encoder's own batch size)
WARM_UP_SECONDS = 33  # 32 windows: two full batches of 16, the largest the encoder runs (`Analyzer.warm_up`)
OPERATING_POINT_TEXT = {
    "balanced": "balanced operating point",
    "equal_error": "the point where sensitivity equals specificity on patient-grouped out-of-fold recordings of both "
                   "recording periods",
    "high_sensitivity": "operating point chosen on person-grouped validation (patients or infants) for sensitivity >= 0.90",
    "profile": "the calibration profile's threshold, chosen on the local recordings",
}


@dataclass(frozen=True)
class Verdict:
    label: str | None  # None when the head abstains
    confidence: float | None  # calibrated probability of `label`
    probabilities: dict[str, float]
    rule: str  # how window outputs became this verdict
    usable_windows: int
    total_windows: int
    abstained: bool = False
    reason: str = ""

    def text(self) -> str:
        if self.abstained:
            return f"no verdict: {self.reason}"
        return f"{self.label} ({self.confidence:.0%})" + (f"; {self.note}" if self.note else "")

    @property
    def note(self) -> str:
        """Set when a prevalence-corrected rule picked a label that is not the most probable one: said aloud,
        or a low-confidence label reads as a mistake."""
        if self.abstained or not self.probabilities:
            return ""
        top = max(self.probabilities, key=self.probabilities.get)
        if top == self.label:
            return ""
        return (f"named by the decision rule (see the rule) although the most probable class is {top} "
                f"({self.probabilities[top]:.0%})")


@dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class HeadOutput:
    name: str
    title: str
    labels: tuple[str, ...]
    experimental: bool
    window_probs: np.ndarray | None  # [n_windows, k] for window heads; None for pooled (whole-recording) heads
    verdict: Verdict
    threshold: float | None  # decision threshold on `positive` (binary heads)
    positive: str | None
    operating_points: dict
    operating_point_name: str = "balanced"
    unit: str = "recording"
    screening: bool = False  # a binary screening head shown beside the verdict, not the verdict itself
    source: str = ""  # the artefact that produced it (several outputs can come from one recording model)
    validated: str = ""  # its validated performance at its own unit, in words, with the split named
    requires: str = ""  # another answer that must be positive for this one to be (continuous sounds need the screen)
    evidence: dict = field(default_factory=dict)  # what a later re-decision needs (record label: crackles typed)

    def peak_window(self, quality: list[WindowQuality]) -> tuple[int, float, int] | None:
        """(index, probability) of the usable window most in favour of `positive`, and how many usable windows
        reach the threshold; None for multi-class or pooled heads."""
        if self.window_probs is None or self.positive is None or self.threshold is None:
            return None
        usable = np.array([q.usable for q in quality], bool)
        if not usable.any():
            return None
        p = self.window_probs[:, self.labels.index(self.positive)]
        i = int(np.argmax(np.where(usable, p, -1.0)))
        return i, float(p[i]), int(((p >= self.threshold) & usable).sum())

    def operating_point(self) -> dict:
        """The validation sensitivity/specificity of the threshold in use (empty for multi-class heads)."""
        return self.operating_points.get(self.operating_point_name, {})


@dataclass(frozen=True)
class Placement:
    """Where the clip lands in the head's training PCA (first components)."""

    head: str
    window_coords: np.ndarray  # [n_usable, c]
    window_index: np.ndarray  # which windows those are
    clip_coords: np.ndarray  # [c]


def voting(quality: list[WindowQuality], clip_q: ClipQuality) -> np.ndarray:
    """Which windows vote: those the quality gate passed, none in a recording too short to answer."""
    return np.array([q.usable for q in quality], bool) & (not clip_q.too_short)


def refused_by_check(check: InputCheck | None, verdict: Verdict) -> bool:
    """Whether the input check is why `verdict` gives no answer (the quality gate's reasons come first)."""
    return check is not None and not check.accepted and verdict.abstained and verdict.reason == check.reason


@dataclass(frozen=True)
class Decisions:
    """What `Analyzer.decide` makes of a set of windows: the answers and what they rest on."""

    heads: dict[str, HeadOutput]
    placements: dict[str, Placement]
    timeline: Timeline | None
    class_names: dict[str, str]
    input_check: InputCheck | None
    models: dict[str, str]  # each model's version, for provenance


@dataclass(frozen=True)
class AnalysisResult:
    name: str
    task: str
    encoder: EncoderInfo
    encoder_note: str
    duration_s: float
    audio_notes: tuple[str, ...]
    windows: list[Window]
    quality: list[WindowQuality]
    clip_quality: ClipQuality
    heads: dict[str, HeadOutput]
    primary: str
    placements: dict[str, Placement] = field(default_factory=dict)
    embeddings: np.ndarray | None = None
    spectrogram: Spectrogram | None = None
    timeline: Timeline | None = None  # where the window detector hears each kind of event (respiratory)
    class_names: dict[str, str] = field(default_factory=dict)  # detector class -> words for people
    provenance: Provenance | None = None  # when, by which app and models, from which audio bytes
    input_check: InputCheck | None = None  # the kind and familiarity check; refused -> every answer abstains
    references: ReferenceSet | None = None  # the infant's reference cries given with this cry (used or not, and why)
    calibration: str = ""  # the calibration profile in use, in words ("" = the shipped calibration)

    @property
    def verdict(self) -> Verdict:
        return self.heads[self.primary].verdict

    @property
    def refused(self) -> bool:
        """Whether the input check is why there is no answer (a silent or too-short recording is refused by the
        quality gate first, whatever the check made of it)."""
        return refused_by_check(self.input_check, self.verdict)

    def screening_heads(self) -> list[HeadOutput]:
        return [h for h in self.heads.values() if h.screening and h.name != self.primary]

    def window_table(self) -> list[dict]:
        rows = []
        for i, (w, q) in enumerate(zip(self.windows, self.quality)):
            row = {"window": i, "start_s": round(w.start_s, 3), "end_s": round(w.end_s, 3),
                   "usable": q.usable, "flags": q.reason(), "rms_dbfs": round(q.rms_dbfs, 1)}
            for h in self.heads.values():
                if h.window_probs is not None:
                    for lab, p in zip(h.labels, h.window_probs[i]):
                        row[f"{h.name}:{lab}"] = round(float(p), 4)
            rows.append(row)
        return rows

    def window_display(self) -> list[dict]:
        """The window table for people: named columns, class names spelled out, and no probability shown for a
        window that failed the quality gate (it does not vote)."""
        rows = []
        tracks = [h for h in self.heads.values() if h.window_probs is not None]
        for i, (w, q) in enumerate(zip(self.windows, self.quality)):
            row = {"window": i, "from (s)": round(w.start_s, 1), "to (s)": round(w.end_s, 1),
                   "usable": q.usable, "quality flags": q.reason() or "ok", "level (dBFS)": round(q.rms_dbfs, 1)}
            for h in tracks:
                for lab, p in zip(h.labels, h.window_probs[i]):
                    col = f"P({self.class_names.get(lab, lab)})" + (f" [{h.title}]" if len(tracks) > 1 else "")
                    row[col] = round(float(p), 2) if q.usable else None
            rows.append(row)
        return rows

    def to_dict(self) -> dict:
        return {
            "name": self.name, "task": self.task, "encoder": self.encoder.identity, "encoder_label": self.encoder.label,
            "encoder_note": self.encoder_note, "duration_s": round(self.duration_s, 3),
            "audio_notes": list(self.audio_notes), "quality": self.clip_quality.summary(),
            "verdicts": {n: {"label": h.verdict.label, "confidence": h.verdict.confidence, "abstained": h.verdict.abstained,
                             "reason": h.verdict.reason, "rule": h.verdict.rule, "probabilities": h.verdict.probabilities,
                             "experimental": h.experimental} for n, h in self.heads.items()},
            "primary": self.primary, "windows": self.window_table(), "disclaimer": DISCLAIMER,
            "input_check": self.input_check.to_dict() if self.input_check else None,
            **({"references": self.references.to_dict()} if self.references is not None else {}),
            "calibration": self.calibration or "shipped calibration",
            **({"provenance": self.provenance.to_dict()} if self.provenance else {}),
            **({"timeline": {**self.timeline.to_dict(), "names": self.class_names}} if self.timeline else {}),
        }


def apply_thresholds(result: AnalysisResult, thresholds: dict[str, float] | None) -> AnalysisResult:
    """The result as the user sees it after moving a screening threshold: each moved answer is decided again at
    its new threshold (and an answer that requires another follows it), its rule says the threshold is no longer the
    validated one, and the provenance records the thresholds in use, so the page, the PDF and the JSON agree."""
    moved = {n: float(t) for n, t in (thresholds or {}).items()
             if n in result.heads and result.heads[n].threshold is not None
             and abs(float(t) - result.heads[n].threshold) > 1e-9}
    if not moved:
        return result
    heads = dict(result.heads)
    for name, t in moved.items():
        h = heads[name]
        v = h.verdict
        if v.abstained or h.positive is None:
            continue
        negative = next(lab for lab in h.labels if lab != h.positive)
        label = h.positive if v.probabilities[h.positive] >= t else negative
        rule = (f"P({h.positive}) >= {t:.2f}: threshold moved by the user from the validated {h.threshold:.2f}, so "
                "the validated sensitivity and specificity no longer apply")
        heads[name] = dataclasses.replace(h, verdict=dataclasses.replace(
            v, label=label, confidence=v.probabilities[label], rule=rule), threshold=t)
    follow_requirements(heads, "at the threshold in use")
    prov = result.provenance
    if prov is not None:
        prov = dataclasses.replace(prov, thresholds={**prov.thresholds, **moved})
    return dataclasses.replace(result, heads=heads, provenance=prov)


def follow_requirements(heads: dict[str, HeadOutput], why: str = "") -> None:
    """In place: an answer that requires another positive (continuous sounds need the adventitious answer) is made
    negative, said in its rule, wherever the answer it requires is not positive: after any re-decision (a moved
    threshold, a calibration profile) the answers never contradict each other."""
    for name, h in heads.items():
        dep = heads.get(h.requires)
        if dep is not None and not h.verdict.abstained and dep.verdict.label != dep.positive \
                and h.verdict.label == h.positive:
            negative = next(lab for lab in h.labels if lab != h.positive)
            heads[name] = dataclasses.replace(h, verdict=dataclasses.replace(
                h.verdict, label=negative, confidence=h.verdict.probabilities[negative],
                rule=h.verdict.rule + f" (negative because '{dep.title}' is negative" + (f" {why}" if why else "")
                + ")"))


def two_class(p: float, labels: tuple[str, ...], positive: str) -> dict[str, float]:
    """A binary answer's probabilities from P(positive), in the labels' order."""
    return {lab: (p if lab == positive else 1.0 - p) for lab in labels}


def two_class_windows(p: np.ndarray, labels: tuple[str, ...], positive: str) -> np.ndarray:
    """[n, 2] window probabilities of a binary track from each window's P(positive)."""
    j = labels.index(positive)
    out = np.zeros((len(p), len(labels)))
    out[:, j] = p
    out[:, 1 - j] = 1.0 - out[:, j]
    return out


def input_check_words(result: AnalysisResult) -> str:
    """The input check in one sentence, the same on every surface: refused (and why), or the kind it heard, with
    the familiarity caveat when the recording is unlike the training recordings."""
    c = result.input_check
    if c is None:
        return "Input check: not available for this encoder, so the kind of audio was not checked."
    if result.refused:
        return f"Input check: refused, {c.reason}."
    if not c.accepted:
        return "Input check: not applied; the quality gate refused the recording first (see the answer)."
    text = f"Input check: sounds like {KIND_WORDS[c.kind]} ({c.probabilities[c.kind]:.0%})."
    if c.familiarity is not None and c.familiarity.unusual:
        text += " " + c.familiarity.statement()
    return text


def calibration_words(result: AnalysisResult) -> str:
    """Which calibration the answers use, the same on every surface."""
    if not result.calibration:
        return "Calibration: as shipped (no local calibration profile)."
    if not any(h.operating_point_name == "profile" for h in result.heads.values()) and result.references is not None \
            and result.references.k:
        return (f"{result.calibration[0].upper()}{result.calibration[1:]} is in use, but this answer was judged "
                "against the infant's reference cries, which the profile does not recalibrate (it was fitted on "
                "answers without references): the figures quoted are those validated with references.")
    return f"Answers recalibrated by {result.calibration}; the figures quoted are that profile's local ones."


def reference_words(result: AnalysisResult, rejected: bool = True) -> str:
    """Which reference cries the answer was judged against (and the SHA-256 of each), and (`rejected`) those not
    used and why, the same on every surface; empty when none were given."""
    refs = result.references
    if refs is None or not refs.cries:
        return ""
    if refs.k and not result.verdict.abstained:
        text = (f"Judged against {plural(refs.k)} of this infant recorded without pain (SHA-256 "
                + ", ".join(c.sha256[:12] for c in refs.used) + ").")
    elif refs.k:
        text = f"{plural(refs.k)} given, not used: the cry itself has no answer."
    else:
        text = "No reference cry used, so the answer is the one without references."
    for c in refs.rejected if rejected else ():
        text += f" Not used: {c.name} ({c.reason})."
    return text


def validated_words(h: HeadOutput, moved: bool = False) -> str:
    """How an answer was decided and validated, in words, the same on the page and in the PDF: the threshold in use
    and its sensitivity/specificity at the answer's unit with CIs and the split, or why none applies."""
    if moved:
        return (f"Threshold in use {h.threshold:.2f}, moved by the user: not the validated operating point, so no "
                "validated sensitivity or specificity applies.")
    op = h.operating_point()
    if op and op.get("sensitivity") is not None:
        which = ("the calibration profile's operating point, fitted on its local recordings"
                 if h.operating_point_name == "profile" else "the validated operating point")
        return (f"Threshold in use {h.threshold:.2f} ({which}). Validated per {h.unit}: "
                f"sensitivity {ci_words(op.get('sensitivity'), op.get('sensitivity_ci'))}, specificity "
                f"{ci_words(op.get('specificity'), op.get('specificity_ci'))}"
                + (f", on {op['validated_on']}" if op.get("validated_on") else "") + ".")
    return f"Validated {h.validated}." if h.validated else ""


def low_probability_words(h: HeadOutput) -> str:
    """Why an answer can stand with a probability under 50 %: it is decided at a threshold chosen for a purpose
    (e.g. sensitivity >= 0.90), not at 50 %. Empty when the answer's probability is 50 % or more."""
    v = h.verdict
    if v.abstained or v.confidence is None or v.confidence >= 0.5 or h.threshold is None or h.positive is None:
        return ""
    purpose = OPERATING_POINT_TEXT.get(h.operating_point_name, h.operating_point_name)
    side = "reaches" if v.label == h.positive else "stays under"
    return (f"Why '{v.label}' with a probability of {v.confidence:.0%}: the answer is not decided at 50 %. "
            f"'{h.positive}' is answered whenever its probability reaches {h.threshold:.2f}, a threshold chosen at "
            f"{purpose}; this recording's P({h.positive}) = {v.probabilities[h.positive]:.0%} {side} it.")


def with_clinician_fields(result: AnalysisResult, fields: dict[str, str] | None) -> AnalysisResult:
    """The result stamped with what the clinician typed for the report (never stored, only downloaded)."""
    if result.provenance is None:
        return result
    return dataclasses.replace(result, provenance=dataclasses.replace(result.provenance,
                                                                      clinician=clean_fields(fields)))


@dataclass(frozen=True)
class EncoderChoice:
    name: str
    note: str  # why this encoder (shown in the UI next to its name)


def choose_encoder(task: TaskSpec, requested: str = "auto", root: Path | None = None) -> EncoderChoice:
    """"auto": HeAR when its weights are on this machine and its heads are trained; else the built-in encoder."""
    if requested != "auto":
        return EncoderChoice(requested, "chosen explicitly")
    status = hear_status()
    if not status.available:
        return EncoderChoice("acoustic", f"HeAR unavailable: {status.reason}")
    if not (artifact_dir(task.name, "hear", task.main_head, root) / "meta.json").is_file():
        return EncoderChoice("acoustic", "HeAR weights found, but HeAR heads are not trained on this install "
                                         f"(run `python -m core train --task {task.name} --encoder hear --data ...`).")
    return EncoderChoice("hear", status.reason)


class Analyzer:
    """Holds one encoder and the task's heads; cheap to call repeatedly (pages cache one per task/encoder)."""

    def __init__(self, task: str, encoder: str = "auto", *, root: Path | None = None,
                 cache: EmbeddingCache | None = None, thresholds: QualityThresholds | None = None,
                 limits: Limits | None = None, calibration: "str | Path | CalibrationProfile | None" = None):
        self.task = get_task(task)
        self.root = root or trained_dir()
        choice = choose_encoder(self.task, encoder, self.root)
        self.encoder: Encoder = get_encoder(choice.name, allow_download=encoder == "hear",
                                            window_features=self.task.window_features)
        self.encoder_note = choice.note
        self.cache = cache or EmbeddingCache()
        self.thresholds = thresholds or self.task.quality
        self.limits = limits or Limits()
        self.heads: dict[str, HeadArtifact | RecordingModelArtifact] = {}
        self.missing: dict[str, str] = {}
        #: research heads (e.g. isolated SPRSound events): their folders, for the metrics page; never run here
        self.research: dict[str, Path] = {}
        enc_dir = artifact_dir(self.task.name, self.encoder.info.name, "", self.root)
        names = []
        for spec in self.task.heads:
            if spec.research:
                if (enc_dir / spec.name / "meta.json").is_file():
                    self.research[spec.name] = enc_dir / spec.name
            else:
                names.append(spec.name)
        known = {spec.name for spec in self.task.heads} | {INPUT_CHECK}
        if enc_dir.is_dir():  # heads a user trained on their own folder-per-class data appear too
            names += sorted(p.name for p in enc_dir.iterdir() if (p / "meta.json").is_file() and p.name not in known)
        #: refuses audio of the wrong kind before any answer; absent (e.g. a user's own encoder) -> no check, said
        self.input_check: InputCheckModel | None = None
        if (enc_dir / INPUT_CHECK / "meta.json").is_file():
            try:
                self.input_check = InputCheckModel.load(enc_dir / INPUT_CHECK, self.encoder.info)
            except ArtifactError as exc:
                self.missing[INPUT_CHECK] = str(exc)
        for head in names:
            try:
                self.heads[head] = load_artifact(enc_dir / head, self.encoder.info)
            except ArtifactError as exc:
                self.missing[head] = str(exc)
        #: the pain answer judged against the infant's reference cries (core.references), where it was fitted
        self.reference_map: ReferenceMap | None = None
        for head, art in self.heads.items():
            if isinstance(art, HeadArtifact) and (art.path / REFERENCE_FILE).is_file():
                try:
                    self.reference_map = ReferenceMap.load(art.path, art)
                except ArtifactError as exc:
                    self.missing["reference cries"] = str(exc)
        main = self.task.main_head
        if main not in self.heads:
            raise ArtifactError(
                f"The {self.task.title} model for encoder '{self.encoder.info.name}' is not available: "
                f"{self.missing.get(main, 'not trained')}"
            )
        self.hop_s = float(self.heads[main].meta.get("window", {}).get("hop_s", DEFAULT_HOP_SECONDS))
        #: the timeline's cut at breathing pauses, shipped only where it held across recording periods
        #: (scripts/timeline_refinement.py writes the measurement beside the recording model)
        self.timeline_rule: Refinement | None = None
        refinement = enc_dir / main / "timeline_refinement.json"
        if refinement.is_file():
            import json

            try:
                rule = json.loads(refinement.read_text())["shipped"]["rule"]
                self.timeline_rule = Refinement(**rule) if rule else None
            except (ValueError, KeyError, TypeError) as exc:
                self.missing["timeline refinement"] = f"{refinement} is unreadable ({exc}); the 1-s timeline is used"
        #: a clinic's recalibration of the answers (core.calibration); None: as shipped
        self.calibration: CalibrationProfile | None = None
        if calibration is not None:
            self.calibration = self._checked(calibration)

    def _checked(self, profile: "str | Path | CalibrationProfile") -> CalibrationProfile:
        """The profile, if it was made for this task, model version and encoder (else ProfileError, with why)."""
        prof = profile if isinstance(profile, CalibrationProfile) else CalibrationProfile.load(profile)
        main = self.task.main_head
        prof.check_for(self.task.name, model_identity(main, self.heads[main].meta), self.encoder.info.identity)
        return prof

    def with_calibration(self, profile: "str | Path | CalibrationProfile | None") -> "Analyzer":
        """The same encoder and heads answering through `profile` (None: as shipped); this analyzer is unchanged."""
        import copy

        other = copy.copy(self)
        other.calibration = self._checked(profile) if profile is not None else None
        return other

    def warm_up(self) -> AnalysisResult:
        """Analyse a synthetic voiced signal once, through a throwaway cache, so that the first real recording
        does not pay the lazy imports and compilations (librosa, numba) of its first analysis (~1 s), nor the first
        batches' memory: the signal fills the encoder's largest batches, and the allocator keeps buffers of a size
        it has seen freed (glibc), where a fresh process returned each to the system and faulted it in again (10-s
        recordings ran 20 % slower in a fresh batch worker). Nothing of it is kept: the cache entries go with the
        throwaway cache."""
        sr = 16000
        t = np.arange(WARM_UP_SECONDS * sr) / sr
        phase = 2 * np.pi * np.cumsum(450 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))) / sr
        voiced = sum(np.sin(k * phase) / k for k in range(1, 6)) * (np.sin(2 * np.pi * 0.7 * t) > -0.3)
        noise = np.random.default_rng(0).standard_normal(len(t))
        x = (0.2 * voiced / np.max(np.abs(voiced)) + 0.01 * noise).astype(np.float32)
        import io

        import soundfile as sf

        wav = io.BytesIO()
        sf.write(wav, x, sr, format="WAV", subtype="PCM_16")  # through the decoder too, as an upload goes
        cache, self.cache = self.cache, EmbeddingCache(max_items=4)
        check, self.input_check = self.input_check, None  # a generated voice is rightly refused: run the heads too
        try:
            result = self.analyze(wav.getvalue(), name="warm-up.wav", experimental=True)
            if check is not None:
                check.check(result.embeddings)
            return result
        finally:
            self.cache, self.input_check = cache, check

    def analyze(self, source: AudioSource | DecodedAudio, name: str = "recording",
                timer: StageTimer = NO_TIMER, *, experimental: bool = False,
                references: "list | tuple | ReferenceSet | None" = None) -> AnalysisResult:
        """`timer` collects per-stage wall time (decode, resample, windowing, quality, embedding, heads,
        projection, spectrogram) for the benchmarks. Heads marked experimental (the parent-tagged cry reason, near
        chance on held-out families) run only when `experimental` is asked for, so their labels never reach an
        answer, a report or a table unasked. `references`: cries of the same infant recorded without pain (bytes,
        paths, (name, bytes) pairs, or a `ReferenceSet` already checked against this cry); the pain answer is then
        judged against them (`check_references` says which are used)."""
        if isinstance(source, DecodedAudio):
            audio = source
        else:
            with timer.stage("decode"):
                audio = decode_audio(source, limits=self.limits, timer=timer)
        refs = references
        if isinstance(refs, ReferenceSet):
            refs = refs.against(audio.sha256)
        elif refs is not None:
            with timer.stage("references"):
                refs = self.check_references(refs, audio.sha256)
        windows, quality, emb = self._embed_windows(audio.samples, timer)
        with timer.stage("quality"):
            clip_q = assess_clip(audio.samples, quality, self.thresholds)
        d = self.decide(emb, windows, quality, clip_q, timer, experimental=experimental, references=refs)
        timeline = d.timeline
        if timeline is not None and self.timeline_rule is not None:
            with timer.stage("timeline"):
                timeline = refine(timeline, breath_envelope(audio.samples), ENVELOPE_HOP_S, self.timeline_rule)
        provenance = Provenance(now_utc(), app_version(), audio.sha256, d.models, self.encoder.info.identity)
        with timer.stage("spectrogram"):
            spectrogram = display_spectrogram(audio.samples, audio.source_rate)
        return AnalysisResult(
            name=name, task=self.task.name, encoder=self.encoder.info, encoder_note=self.encoder_note,
            duration_s=audio.duration_s, audio_notes=audio.notes, windows=windows, quality=quality,
            clip_quality=clip_q, heads=d.heads, primary=self.task.primary, placements=d.placements, embeddings=emb,
            spectrogram=spectrogram, timeline=timeline, class_names=d.class_names, provenance=provenance,
            input_check=d.input_check, references=refs,
            calibration=self.calibration.words() if self.calibration is not None else "",
        )

    def decide(self, emb: np.ndarray, windows: list[Window], quality: list[WindowQuality], clip_q: ClipQuality,
               timer: StageTimer = NO_TIMER, *, experimental: bool = False,
               references: ReferenceSet | None = None) -> "Decisions":
        """Every answer from the windows' embeddings and quality: the input check, then each head's decision (or
        its abstention). The one decision path: a file's analysis and the live monitor's rolling answer call it."""
        usable = voting(quality, clip_q)
        check = None
        if self.input_check is not None and len(emb):
            with timer.stage("input check"):
                check = self.input_check.check(emb)
        refusal = check.reason if check is not None and not check.accepted else ""
        heads, placements = {}, {}
        order = [self.task.primary, *self.task.screening]
        timeline, class_names = None, {}
        for name_, art in sorted(self.heads.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99):
            if art.meta.get("experimental") and not experimental:
                continue
            if isinstance(art, RecordingModelArtifact):
                with timer.stage("heads"):
                    outs, timeline, placement = self._run_recording_model(name_, art, emb, usable, quality, windows,
                                                                          clip_q, clip_q.duration_s, refusal)
                heads.update(outs)
                class_names = art.meta.get("class_names", {})
                if placement is not None:
                    placements.update({name_: placement, "record": placement})
                continue
            heads[name_], placement = self._run_head(name_, art, emb, usable, clip_q, quality, timer, refusal)
            if placement is not None:
                placements[name_] = placement
        heads = dict(sorted(heads.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99))
        m = self.reference_map
        judged = references is not None and references.k and m is not None and m.head in heads \
            and not heads[m.head].verdict.abstained
        if judged:
            heads[m.head] = self._judged_against(heads[m.head], self.heads[m.head], emb, usable, references)
        if self.calibration is not None:
            heads = self._recalibrated(heads, skip={m.head} if judged else set())
        primary = heads.get(self.task.primary)
        if primary is not None and refused_by_check(check, primary.verdict):
            timeline = None  # no events are claimed in audio the model was not made for
        ran = {h.source or n for n, h in heads.items()}
        checked = {INPUT_CHECK: self.input_check} if check is not None else {}
        models = model_versions({**checked, **{n: a for n, a in self.heads.items() if n in ran}})
        if self.calibration is not None:
            models["calibration profile"] = self.calibration.words()
        if judged:
            models[f"{m.head} reference map"] = (f"fitted {str(m.extra.get('created', '?'))[:10]} | for model sha256 "
                                                 f"{m.head_model_sha256[:12]}")
        return Decisions(heads, placements, timeline, class_names, check, models)

    def check_references(self, sources, cry_sha256: str = "") -> ReferenceSet:
        """Each reference cry decoded, gated, checked and scored as an analysis would; one that cannot be read, is
        too quiet or too short, is not a cry, or is the cry itself (or a repeat) is kept with its reason, unused."""
        out: list[ReferenceCry] = []
        seen: dict[str, str] = {}
        art = self.heads.get(self.reference_map.head) if self.reference_map is not None else None
        for i, src in enumerate(sources):
            if isinstance(src, tuple):
                name, src = src
            else:
                name = Path(src).name if isinstance(src, (str, Path)) else getattr(src, "name", f"reference {i + 1}")

            def refused(why: str, sha: str = "") -> None:
                out.append(ReferenceCry(str(name), sha, False, why))

            if i >= MAX_REFERENCES:
                refused(f"more than {MAX_REFERENCES} references; the first {MAX_REFERENCES} are used")
                continue
            if art is None:
                refused(self.missing.get("reference cries", f"no reference model for the {self.task.title} task"))
                continue
            try:
                audio = decode_audio(src, limits=self.limits)
            except AudioDecodeError as exc:
                refused(f"cannot be read: {exc}")
                continue
            sha = audio.sha256
            if sha == cry_sha256:
                refused("it is the same file as the cry being judged", sha)
                continue
            if sha in seen:
                refused(f"the same file as {seen[sha]}", sha)
                continue
            seen[sha] = str(name)
            _, quality, emb = self._embed_windows(audio.samples)
            clip_q = assess_clip(audio.samples, quality, self.thresholds)
            usable = voting(quality, clip_q)
            why = self._abstention(clip_q, int(usable.sum()))
            if not why and self.input_check is not None:
                check = self.input_check.check(emb)
                why = "" if check.accepted else f"not taken for a cry: {check.reason}"
            if why:
                refused(why, sha)
                continue
            out.append(ReferenceCry(str(name), sha, True, "", unit_score(art, emb, usable), int(usable.sum())))
        return ReferenceSet(tuple(out))

    def _judged_against(self, h: HeadOutput, art: HeadArtifact, emb: np.ndarray, usable: np.ndarray,
                        refs: ReferenceSet) -> HeadOutput:
        """The pain answer relative to the infant's references: the reference map on this cry's mean window score
        and the references' mean score; the window track is the same map on each window's score."""
        m = self.reference_map
        k, r = refs.k, refs.score
        w = window_scores(art, emb)
        window_probs = two_class_windows(m.probability(w, r, k), h.labels, m.positive)
        u = float(w[usable].mean())
        p = float(m.probability(u, r, k))
        t = m.threshold(k)
        probs = two_class(p, h.labels, m.positive)
        label = m.positive if p >= t else m.negative
        rule = (f"judged against {plural(k)} of this infant recorded without pain: P({m.positive}) from this cry's "
                f"mean window score ({u:+.2f}) and the references' ({r:+.2f}), by the map fitted for "
                f"{plural(m.k_map(k))} on other infants; '{m.positive}' when its probability >= {t:.2f} "
                f"({OPERATING_POINT_TEXT.get(m.operating_point, m.operating_point)}, with references)")
        verdict = Verdict(label, probs[label], probs, rule, h.verdict.usable_windows, h.verdict.total_windows)
        return dataclasses.replace(h, window_probs=window_probs, verdict=verdict, threshold=t,
                                   operating_points={m.operating_point: {**m.validated(k), "threshold": t}},
                                   operating_point_name=m.operating_point)

    def _recalibrated(self, heads: dict[str, HeadOutput], skip: set[str]) -> dict[str, HeadOutput]:
        """The answers through the calibration profile: each profiled answer's probability recalibrated and decided
        at the profile's threshold, quoting the profile's local figures; an answer that requires another follows it;
        the respiratory record label is read off the new decisions. An answer judged against reference cries
        (`skip`) keeps that judgement: the profile was fitted on answers without references."""
        prof = self.calibration
        heads = dict(heads)
        for key, ac in prof.answers.items():
            h = heads.get(key)
            if h is None or h.verdict.abstained or h.positive is None or key in skip:
                continue
            pos = h.positive
            neg = next(lab for lab in h.labels if lab != pos)
            p0 = h.verdict.probabilities[pos]
            p = float(ac.probability(p0))
            probs = two_class(p, h.labels, pos)
            label = pos if p >= ac.threshold else neg
            fig = ac.figures.get("after") or {}
            rule = (f"{h.verdict.rule}; recalibrated by profile '{prof.name}': P({pos}) = sigmoid({ac.a:.2f} x "
                    f"logit({p0:.2f}) {ac.b:+.2f}) = {p:.2f}; '{pos}' when it is >= {ac.threshold:.2f}")
            op = {"profile": {"threshold": ac.threshold, "sensitivity": fig.get("sensitivity"),
                              "specificity": fig.get("specificity"), "sensitivity_ci": fig.get("sensitivity_ci"),
                              "specificity_ci": fig.get("specificity_ci"),
                              "validated_on": f"{fig.get('split', 'local recordings')} (profile '{prof.name}')"}}
            wp = h.window_probs
            if wp is not None and len(h.labels) == 2:
                wp = two_class_windows(ac.probability(wp[:, h.labels.index(pos)]), h.labels, pos)
            heads[key] = dataclasses.replace(
                h, verdict=dataclasses.replace(h.verdict, label=label, confidence=probs[label], probabilities=probs,
                                               rule=rule),
                threshold=ac.threshold, operating_points=op, operating_point_name="profile", window_probs=wp)
        follow_requirements(heads)
        rec = heads.get("record")
        if rec is not None and not rec.verdict.abstained and "das_typed" in rec.evidence:
            c = ("Adventitious", "CAS", "DAS")
            present = np.array([[heads["screen"].verdict.label == heads["screen"].positive,
                                 heads["continuous"].verdict.label == heads["continuous"].positive, False]])
            present[0, 2] = present[0, 0] and (not present[0, 1] or rec.evidence["das_typed"])
            label = str(record_labels(present, np.array([False]), c)[0])
            if label != rec.verdict.label:
                heads["record"] = dataclasses.replace(rec, verdict=dataclasses.replace(
                    rec.verdict, label=label, confidence=rec.verdict.probabilities.get(label),
                    rule=rec.verdict.rule + f"; read off the answers recalibrated by profile '{prof.name}'"))
        return heads

    def reference_hint(self, result: AnalysisResult) -> str:
        """For a cry answered without references near its threshold: what references would bring (validated)."""
        m = self.reference_map
        h = result.heads.get(m.head) if m is not None else None
        if h is None or h.verdict.abstained or (result.references is not None and result.references.k) \
                or h.threshold is None or abs(h.verdict.probabilities[m.positive] - h.threshold) > NEAR_THRESHOLD:
            return ""
        now, with2 = h.operating_point(), m.validated(2)
        return (f"P({m.positive}) is near the threshold ({h.verdict.probabilities[m.positive]:.0%} against "
                f"{h.threshold:.2f}), where infants differ most. Add two or more cries of this infant recorded "
                f"without pain (bath, nappy change, hunger) as references: validated with 2 references, sensitivity "
                f"{with2['sensitivity']:.2f} and specificity {with2['specificity']:.2f}, against "
                f"{now.get('sensitivity', float('nan')):.2f} and {now.get('specificity', float('nan')):.2f} without.")

    def _embed_windows(self, x: np.ndarray, timer: StageTimer = NO_TIMER
                       ) -> tuple[list[Window], list[WindowQuality], np.ndarray]:
        """Windows are framed, gated and embedded a chunk at a time, so memory beyond the decoded samples stays
        bounded whatever the recording's length (a 30-min file never exists as 1800 x 32000 windows at once)."""
        starts, windows = plan_windows(len(x), self.hop_s)
        floor = recording_floor(x, self.thresholds)
        chunk = max(CHUNK_WINDOWS, int(getattr(self.encoder, "batch_size", 0) or 0))
        quality: list[WindowQuality] = []
        parts = []
        for a in range(0, len(starts), chunk):
            with timer.stage("windowing"):
                batch = frame(x, starts[a: a + chunk])
            with timer.stage("quality"):
                quality += assess_windows(batch, windows[a: a + chunk], clip_has_full_window=len(x) >= WINDOW_SAMPLES,
                                          th=self.thresholds, floor_dbfs=floor)
            with timer.stage("embedding"):
                parts.append(self.cache.embed(self.encoder, batch))
        return windows, quality, np.concatenate(parts)

    def _abstention(self, clip_q: ClipQuality, n_usable: int, refusal: str = "") -> str:
        """Why no answer can be given, or "" when one can: too short, silent, the wrong kind of audio (the input
        check's `refusal`), no usable window, in that order."""
        if clip_q.too_short:
            return (f"recording too short ({clip_q.duration_s:.2f} s; at least {self.thresholds.min_clip_seconds:.2f} s "
                    f"needed)")
        reasons = ", ".join(f"{c} {f}" for f, c in clip_q.flag_counts.items())
        if n_usable == 0 and set(clip_q.flag_counts) == {SILENT}:
            return f"too quiet: every window is below the silence level ({reasons})"
        if refusal:
            return refusal
        if n_usable == 0:
            if NO_CRY in clip_q.flag_counts and set(clip_q.flag_counts) <= {NO_CRY, SILENT}:
                return f"no crying detected: no window holds a voiced cry at 250-1000 Hz ({reasons})"
            return f"recording quality too low: no usable window ({reasons})"
        return ""

    def _run_recording_model(self, name: str, art: RecordingModelArtifact, emb: np.ndarray, usable: np.ndarray,
                             quality: list[WindowQuality], windows: list[Window], clip_q: ClipQuality,
                             duration_s: float, refusal: str = ""
                             ) -> tuple[dict[str, HeadOutput], Timeline | None, Placement | None]:
        """The respiratory recording model's outputs: the two screening answers, the record label and the window
        detector's track, all from one pass of the detector over the windows, and the event timeline."""
        meta = art.meta
        n, n_usable = len(emb), int(usable.sum())
        rms = np.array([q.rms_dbfs for q in quality])
        clip = np.array([q.clip_ratio for q in quality])
        ra = art.analyse(emb, usable, rms, clip, duration_s)
        abstain = self._abstention(clip_q, n_usable, refusal)
        why = abstain or (
            f"poor recording quality: the quality model's probability {ra.p_poor:.2f} is at or above its threshold "
            f"{meta['quality_threshold']:.2f} (which calls at most {meta['max_good_called_poor']:.0%} of good "
            f"training recordings poor)" if ra.poor else "")
        classes = art.classes
        answers = screen_answers(ra.present[None, :], classes)
        point = meta.get("operating_point_rule", "balanced")
        outs: dict[str, HeadOutput] = {}
        for key, a in meta["answers"].items():
            j = classes.index(a["class"])
            p = float(ra.probs[j])
            labels = (a["negative"], a["positive"])
            probs = {labels[0]: 1.0 - p, labels[1]: p}
            if why:
                verdict = Verdict(None, None, {}, a["rule"], 0 if not ra.poor else n_usable, n, True, why)
            else:
                lab = labels[int(answers[key][0])]
                verdict = Verdict(lab, probs[lab], probs, a["rule"], n_usable, n)
            v = a.get("validated") or {}
            op = {point: {"threshold": a["threshold"], "sensitivity": v.get("sensitivity"),
                               "specificity": v.get("specificity"), "sensitivity_ci": v.get("sensitivity_ci"),
                               "specificity_ci": v.get("specificity_ci"), "auc": v.get("auc"),
                               "validated_on": v.get("split"), "negatives": v.get("negatives")}}
            text = (f"per recording: sensitivity {ci_words(v.get('sensitivity'), v.get('sensitivity_ci'))}, specificity "
                    f"{ci_words(v.get('specificity'), v.get('specificity_ci'))} against {' + '.join(v.get('negatives') or [])} "
                    f"recordings, AUC {ci_words(v.get('auc'), v.get('auc_ci'))} ({v.get('split', 'not validated')})") \
                if v else ""
            outs[key] = HeadOutput(key, a["title"], labels, False, None, verdict, a["threshold"], labels[1], op,
                                   point, "recording", key in self.task.screening, name, text,
                                   requires=a.get("requires", "" if key == "screen" else "screen"))
        labels = tuple(meta["labels"])
        label_probs = {lab: float(v) for lab, v in zip(labels, ra.label_probs)}
        rule = ("SPRSound record label from the same decisions: Poor Quality by the quality rule; Normal when no "
                "adventitious sounds were found; otherwise CAS when continuous sounds were found (CAS & DAS when the "
                f"crackle probability also reaches {meta.get('das_type_threshold', 1.0):.2f}), DAS when they were not")
        if abstain:
            rec_v = Verdict(None, None, {}, rule, 0, n, True, abstain)
        else:
            rec_v = Verdict(ra.label, label_probs[ra.label], label_probs, rule, n_usable, n)
        rv = (meta.get("record_label") or {}).get("validated") or {}
        rtext = (f"per recording: SPRSound task 2-2 Score {ci_words(rv.get('score_2_2'), rv.get('score_2_2_ci'))}, task 2-1 "
                 f"Score {ci_words(rv.get('score_2_1'), rv.get('score_2_1_ci'))} ({rv.get('split')})") if rv else ""
        outs["record"] = HeadOutput("record", "SPRSound record label (tasks 2-1 / 2-2)", labels, False, None, rec_v,
                                    None, None, {}, "balanced", "recording", False, name, rtext,
                                    evidence={"das_typed": bool(ra.probs[classes.index("DAS")]
                                                                >= float(meta.get("das_type_threshold", 1.0)))})
        names = meta.get("class_names", {})
        det_v = Verdict(None, None, {}, "per window", n_usable, n, True, "a window track, not a recording answer")
        det_labels = tuple(names.get(c, c) for c in classes)
        outs["detector"] = HeadOutput("detector", "Window detector (what each 2-s window holds)", det_labels, False,
                                      ra.window_probs, det_v, None, det_labels[0], {}, "balanced", "window", False,
                                      name)
        timeline = build_timeline(ra.window_probs, np.array([w.start_s for w in windows]), usable, duration_s,
                                  classes, meta["window_thresholds"], tuple(meta["timeline_types"]), self.hop_s)
        placement = None
        if art.projection is not None and n:
            proj = art.projection
            clip_c = proj.transform(art.scaled_recording(emb))[0]
            scaler = art.model.detector.models[classes[0]][0]
            wc = proj.transform(scaler.transform(emb[usable])) if n_usable else np.zeros((0, len(clip_c)))
            placement = Placement("record", wc, np.flatnonzero(usable), clip_c)
        return outs, timeline, placement

    def artifact_of(self, result: AnalysisResult, output: str):
        """The artefact an output (or a placement) of `result` came from: one respiratory recording model gives
        several outputs, and its PCA placement is filed under the artefact's name and under its record output."""
        h = result.heads.get(output)
        return self.heads[h.source or output] if h is not None else self.heads[output]

    def report(self, result: AnalysisResult) -> dict:
        """The analysis plus what produced it: each head's version, decision rule and its performance on people it
        never saw (nested where the head has it: the threshold, too, chosen without them). Only heads that ran."""
        models = {}
        for name, art in self.heads.items():
            if art.meta.get("experimental") and name not in result.heads:
                continue
            if isinstance(art, RecordingModelArtifact):
                models[name] = {
                    "title": art.meta["title"], "trained": art.meta.get("created"), "model": art.meta.get("chosen"),
                    "encoder": f"{art.meta['encoder']['name']}:{art.meta['encoder']['version']}",
                    "answers": art.meta.get("answers"), "thresholds": art.meta.get("thresholds"),
                    "quality_threshold": art.meta.get("quality_threshold"),
                    "window_thresholds": art.meta.get("window_thresholds"),
                }
                continue
            held = validated_evaluation(art.metrics())
            models[name] = {
                "title": art.meta["title"], "trained": art.meta.get("created"), "model": art.meta.get("chosen"),
                "encoder": f"{art.meta['encoder']['name']}:{art.meta['encoder']['version']}",
                "decision": art.meta.get("decision"), "operating_points": art.meta.get("operating_points"),
                "validated": {"split": held.get("split"), "metrics": held.get("metrics"), "ci95": held.get("ci95")},
            }
        return {**result.to_dict(), "models": models}

    def _run_head(self, name: str, art: HeadArtifact, emb: np.ndarray, usable: np.ndarray, clip_q: ClipQuality,
                  quality: list[WindowQuality], timer: StageTimer = NO_TIMER, refusal: str = ""
                  ) -> tuple[HeadOutput, Placement | None]:
        with timer.stage("heads"):
            out, placement_src = self._head_output(name, art, emb, usable, clip_q, refusal)
        placement = None
        if placement_src is not None:
            with timer.stage("projection"):
                placement = self._placement(name, art, *placement_src)
        return out, placement

    def _head_output(self, name: str, art: HeadArtifact, emb: np.ndarray, usable: np.ndarray, clip_q: ClipQuality,
                     refusal: str = "") -> tuple[HeadOutput, tuple | None]:
        labels = art.labels
        n = len(emb)
        n_usable = int(usable.sum())
        meta = art.meta
        if art.pooled:
            X = art.pooled_features(emb, usable)
            window_probs = None
            p = art.probabilities(X)[0]
            rule = f"one prediction from the pooled embedding of all {n} windows" + (
                f" and the {meta['stack']['from']} window model's probabilities over them" if meta.get("stack") else "")
            scaled_units = art.scaled(X)
            win_coords_src = None
        else:
            window_probs = art.probabilities(emb)
            p = window_probs[usable].mean(axis=0) if n_usable else np.full(len(labels), np.nan)
            rule = f"mean of the calibrated probabilities of {n_usable} usable window(s) of {n}"
            win_coords_src = art.scaled(emb[usable]) if n_usable else None
            scaled_units = win_coords_src.mean(axis=0, keepdims=True) if win_coords_src is not None else None
        dec = art.decision
        if dec.threshold is not None:
            op = OPERATING_POINT_TEXT.get(meta.get("operating_point", "balanced"), "")
            rule += f"; '{dec.positive}' when its probability >= {dec.threshold:.2f} ({op})"
        elif dec.priors is not None:
            rule += "; " + (dec.rule or "label = highest probability relative to its training prevalence")
        probs = {lab: float(v) for lab, v in zip(labels, p)}
        why = self._abstention(clip_q, n_usable, refusal)
        if why:
            verdict = Verdict(None, None, {}, rule, 0, n, True, why)
        else:
            idx = int(dec.predict(p[None, :])[0])
            verdict = Verdict(labels[idx], float(p[idx]), probs, rule, n_usable, n)
        placement_src = None
        if art.projection is not None and scaled_units is not None and not verdict.abstained:
            placement_src = (scaled_units, win_coords_src, usable)
        out = HeadOutput(name, meta["title"], labels, bool(meta.get("experimental")), window_probs, verdict,
                         dec.threshold, dec.positive, meta.get("operating_points", {}),
                         meta.get("operating_point") or "balanced", meta.get("unit", "recording"),
                         name in self.task.screening)
        return out, placement_src

    @staticmethod
    def _placement(name: str, art: HeadArtifact, scaled_units: np.ndarray, win_coords_src: np.ndarray | None,
                   usable: np.ndarray) -> Placement:
        proj = art.projection
        clip = proj.transform(scaled_units)[0]
        if win_coords_src is not None:
            wc, wi = proj.transform(win_coords_src), np.flatnonzero(usable)
        else:
            wc, wi = np.zeros((0, len(clip))), np.zeros(0, int)
        return Placement(name, wc, wi, clip)


def ci_words(v, ci) -> str:
    """A figure with its 95 % interval, as the page, the PDF and the CLI print it ("n/a" when there is none)."""
    if v is None:
        return "n/a"
    return f"{v:.2f}" + (f" (95% CI {ci[0]:.2f}-{ci[1]:.2f})" if ci else "")


_default: dict[tuple[str, str], Analyzer] = {}


def analyze(source: AudioSource | DecodedAudio, task: str, encoder: str = "auto", name: str = "recording") -> AnalysisResult:
    """Convenience wrapper keeping one Analyzer per (task, encoder) in the process."""
    key = (task, encoder)
    if key not in _default:
        _default[key] = Analyzer(task, encoder)
    return _default[key].analyze(source, name=name)


__all__ = ["AnalysisResult", "Analyzer", "DISCLAIMER", "EncoderUnavailable", "HeadOutput", "Placement", "Verdict",
           "analyze", "apply_thresholds", "calibration_words", "choose_encoder", "ci_words", "input_check_words",
           "low_probability_words", "reference_words",
           "validated_words", "with_clinician_fields"]
