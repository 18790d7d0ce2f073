"""Save, reopen, follow and delete visits; every call names its actor, and every record is the actor's clinic's.

`Store(url)` opens SQLite (`sqlite:///path`) or PostgreSQL (`postgresql+psycopg://...`) and migrates it to the
current schema (Alembic), so a new database needs no set-up. Clinical records are read and written only through
methods that take an `Actor` and filter on its clinic; a record of another clinic is "not found", and the attempt is
audited as denied. A database that is down or full raises `StorageError` with a message for the user: the analysis
they tried to save stays in their session, to save again.
"""
from __future__ import annotations

import datetime as dt
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, delete, event, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from core.storage.models import AuditEntry, Child, Recording, Visit

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: a pseudonymous reference: a study or record code with at least one digit (a name has none), 2-40 characters of
#: letters, digits and . _ - (nothing that could be markup, a path or a query)
CHILD_REF = re.compile(r"^(?=.*\d)[A-Za-z0-9][A-Za-z0-9._-]{1,39}$")
MAX_LABEL = 80


class StorageError(RuntimeError):
    """Saving or reading failed for a reason the user can act on; the message says what, never a traceback."""


@dataclass(frozen=True)
class Actor:
    """Who is asking: the signed-in user, their clinic (every record belongs to one) and whether they are admin."""

    user: str
    clinic: str
    admin: bool = False


def check_child_ref(ref: str) -> str:
    """The reference as stored, or StorageError saying what a reference must look like."""
    ref = str(ref or "").strip()
    if not CHILD_REF.match(ref):
        raise StorageError("A child reference must be a pseudonymous code such as C-0042: 2-40 letters, digits, dots, "
                           "dashes or underscores, with at least one digit. Never the child's name.")
    return ref


def clean_label(label: str) -> str:
    label = "".join(c for c in str(label or "") if c.isprintable()).strip()[:MAX_LABEL]
    return label or "visit 1"


@dataclass(frozen=True)
class DeletionReport:
    child: str
    visits: int
    recordings: int

    def text(self) -> str:
        return (f"Deleted child {self.child}: {self.visits} visit(s) and {self.recordings} recording record(s), with "
                "their answers and reports. The audit log keeps only that a deletion happened.")


def migrate(url: str) -> None:
    """Bring the database at `url` to the current schema (from empty: every migration)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, "head")


class Store:
    def __init__(self, url: str, *, keep_audio: bool = False):
        self.url = url
        self.keep_audio = keep_audio
        try:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(url, pool_pre_ping=True,
                                        connect_args={"timeout": 30} if url.startswith("sqlite") else {})
            if url.startswith("sqlite"):
                event.listen(self.engine, "connect", _sqlite_pragmas)
            migrate(url)
        except SQLAlchemyError as exc:
            raise StorageError(f"The database cannot be opened ({_reason(exc)}). Nothing was saved.") from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    # ------------------------------------------------------------------------------------------------ writing

    def save_visit(self, actor: Actor, child_ref: str, task: str, record: dict) -> int:
        """Save one visit (`record` from `core.storage.records`) under the child; returns the visit's id. Two users
        saving the same child at once both land: the child row is created once, and visits are only appended."""
        ref = check_child_ref(child_ref)
        try:
            with self._sessions.begin() as s:
                child = self._child(s, actor, ref, task, create=True)
                visit = Visit(child_id=child.id, clinic=actor.clinic, kind=record["kind"],
                              label=clean_label(record.get("label", "")), visit_date=record["visit_date"],
                              saved_by=actor.user, app_version=record.get("app_version", ""),
                              encoder=record.get("encoder", ""), models=record.get("models", {}),
                              calibration=record.get("calibration", "")[:400], clinician=record.get("clinician", {}),
                              summary=record.get("summary", {}), report=record.get("report", {}),
                              pdf=record.get("pdf"))
                for r in record.get("recordings", []):
                    visit.recordings.append(Recording(site=str(r.get("site", ""))[:16],
                                                      audio_sha256=r["audio_sha256"], duration_s=r.get("duration_s"),
                                                      answers=r.get("answers", {}), shares=r.get("shares", {}),
                                                      audio=r.get("audio") if self.keep_audio else None))
                s.add(visit)
                s.flush()
                s.add(AuditEntry(user=actor.user, clinic=actor.clinic, action="save", target=f"visit {visit.id}"))
                return visit.id
        except SQLAlchemyError as exc:
            raise StorageError(f"The visit could not be saved ({_reason(exc)}). Your analysis is still here: save "
                               "it again once the database is back.") from None

    def _child(self, s: Session, actor: Actor, ref: str, task: str, create: bool = False) -> Child | None:
        q = select(Child).where(Child.clinic == actor.clinic, Child.task == task, Child.ref == ref)
        child = s.scalars(q).first()
        if child is None and create:
            try:
                with s.begin_nested():  # another user may be creating the same child right now
                    child = Child(clinic=actor.clinic, task=task, ref=ref)
                    s.add(child)
            except IntegrityError:
                child = s.scalars(q).one()
        return child

    # ------------------------------------------------------------------------------------------------ reading

    def children(self, actor: Actor, task: str) -> list[dict]:
        """The clinic's children for `task`: reference, number of visits, last visit date."""
        with self._read() as s:
            rows = s.scalars(select(Child).where(Child.clinic == actor.clinic, Child.task == task)
                             .options(selectinload(Child.visits)).order_by(Child.ref)).all()
            return [{"ref": c.ref, "visits": len(c.visits),
                     "last": max((v.visit_date for v in c.visits), default=None)} for c in rows]

    def history(self, actor: Actor, child_ref: str, task: str) -> list[dict]:
        """The child's visits in date order, each with its recordings' answers and shares (no PDF, no audio)."""
        ref = check_child_ref(child_ref)
        with self._read() as s:
            child = self._child(s, actor, ref, task)
            if child is None:
                return []
            visits = s.scalars(select(Visit).where(Visit.child_id == child.id, Visit.clinic == actor.clinic)
                               .options(selectinload(Visit.recordings))
                               .order_by(Visit.visit_date, Visit.saved_at)).all()
            s.add(AuditEntry(user=actor.user, clinic=actor.clinic, action="open", target=f"child {child.id}"))
            s.commit()
            return [_visit_dict(v, with_report=False) for v in visits]

    def visit(self, actor: Actor, visit_id: int, action: str = "open") -> dict | None:
        """One visit with its report and PDF; None when it does not exist *in the actor's clinic* (audited as
        denied when it exists elsewhere). `action`: "open" or "export", for the audit log."""
        with self._read() as s:
            v = s.scalars(select(Visit).where(Visit.id == int(visit_id), Visit.clinic == actor.clinic)
                          .options(selectinload(Visit.recordings), selectinload(Visit.child))).first()
            if v is None:
                if s.get(Visit, int(visit_id)) is not None:
                    s.add(AuditEntry(user=actor.user, clinic=actor.clinic, action="denied",
                                     target=f"visit {int(visit_id)}"))
                    s.commit()
                return None
            s.add(AuditEntry(user=actor.user, clinic=actor.clinic, action=action, target=f"visit {v.id}"))
            s.commit()
            return _visit_dict(v, with_report=True)

    def delete_child(self, actor: Actor, child_ref: str, task: str) -> DeletionReport:
        """Delete a child's every visit and recording record (in the actor's clinic), and say what was deleted."""
        ref = check_child_ref(child_ref)
        try:
            with self._sessions.begin() as s:
                child = self._child(s, actor, ref, task)
                if child is None:
                    return DeletionReport(ref, 0, 0)
                visits = s.scalars(select(Visit).where(Visit.child_id == child.id)
                                   .options(selectinload(Visit.recordings))).all()
                n_rec = sum(len(v.recordings) for v in visits)
                ids = [v.id for v in visits]
                if ids:
                    s.execute(delete(Recording).where(Recording.visit_id.in_(ids)))
                    s.execute(delete(Visit).where(Visit.id.in_(ids)))
                s.execute(delete(Child).where(Child.id == child.id))
                s.add(AuditEntry(user=actor.user, clinic=actor.clinic, action="delete", target=f"child {child.id}"))
                return DeletionReport(ref, len(ids), n_rec)
        except SQLAlchemyError as exc:
            raise StorageError(f"Nothing was deleted ({_reason(exc)}).") from None

    def audit(self, actor: Actor, limit: int = 200) -> list[dict]:
        """The clinic's audit entries, newest first (admins only)."""
        if not actor.admin:
            raise StorageError("Only an administrator can read the audit log.")
        with self._read() as s:
            rows = s.scalars(select(AuditEntry).where(AuditEntry.clinic == actor.clinic)
                             .order_by(AuditEntry.id.desc()).limit(limit)).all()
            return [{"at": a.at, "user": a.user, "action": a.action, "target": a.target} for a in rows]

    @contextmanager
    def _read(self):
        """A session for reading (and the audit entry a read writes); a database failure becomes StorageError."""
        try:
            with self._sessions() as s:
                yield s
        except SQLAlchemyError as exc:
            raise StorageError(f"The database cannot be read ({_reason(exc)}).") from None


def _visit_dict(v: Visit, with_report: bool) -> dict:
    out = {"id": v.id, "child": v.child.ref if v.child is not None else "", "kind": v.kind, "label": v.label,
           "visit_date": v.visit_date, "saved_at": v.saved_at, "saved_by": v.saved_by,
           "app_version": v.app_version, "encoder": v.encoder, "models": v.models, "calibration": v.calibration,
           "clinician": v.clinician, "summary": v.summary,
           "recordings": [{"site": r.site, "audio_sha256": r.audio_sha256, "duration_s": r.duration_s,
                           "answers": r.answers, "shares": r.shares} for r in v.recordings]}
    if with_report:
        out["report"], out["pdf"] = v.report, v.pdf
    return out


def _sqlite_pragmas(conn, _record) -> None:
    cur = conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")  # readers do not block a writer (two users saving at once)
    cur.close()


def _reason(exc: BaseException) -> str:
    """A database failure in words (no SQL, no parameters: they could hold what the user typed)."""
    text = str(getattr(exc, "orig", exc)).splitlines()[0] if str(getattr(exc, "orig", exc)) else type(exc).__name__
    low = text.lower()
    if "disk" in low and ("full" in low or "space" in low):
        return "the database disk is full"
    if "unable to open" in low or "connection" in low or "could not connect" in low or "refused" in low:
        return "the database cannot be reached"
    if "locked" in low or "timeout" in low:
        return "the database is busy"
    if "read-only" in low or "readonly" in low or "permission" in low:
        return "the database is read-only"
    return f"database error: {type(getattr(exc, 'orig', exc)).__name__}"


def today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()
