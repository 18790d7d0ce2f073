"""The tables (SQLAlchemy 2 declarative), changed only through Alembic migrations (`core/storage/migrations`).

Every row that holds clinical content carries its clinic, and every query filters on it: a user of one clinic asking
for another clinic's record by id gets nothing. What is kept is the derived record of a visit (answers with their
probabilities and operating points, the timeline's share of time per kind of sound, provenance hashes, versions,
calibration profile, optional clinician fields, the report's JSON and PDF); audio only when the deployment enables it.
The audit log names who did what to which record and when, never clinical content.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Child(Base):
    """A pseudonymous child (or infant) reference, unique per clinic and task; never a name."""

    __tablename__ = "children"
    __table_args__ = (UniqueConstraint("clinic", "task", "ref", name="uq_child_clinic_task_ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic: Mapped[str] = mapped_column(String(64), index=True)
    task: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    visits: Mapped[list["Visit"]] = relationship(back_populates="child", cascade="all, delete-orphan",
                                                 order_by="Visit.visit_date")


class Visit(Base):
    """One saved visit: a single recording's analysis or an examination of several sites."""

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), index=True)
    clinic: Mapped[str] = mapped_column(String(64), index=True)  # repeated here: every lookup by id checks it
    kind: Mapped[str] = mapped_column(String(16))  # "analysis" | "examination"
    label: Mapped[str] = mapped_column(String(80))  # the visit as the user names it ("before salbutamol")
    visit_date: Mapped[dt.date] = mapped_column(Date)
    saved_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    saved_by: Mapped[str] = mapped_column(String(128))
    app_version: Mapped[str] = mapped_column(String(64))
    encoder: Mapped[str] = mapped_column(String(128))
    models: Mapped[dict] = mapped_column(JSON)
    calibration: Mapped[str] = mapped_column(String(400), default="")
    clinician: Mapped[dict] = mapped_column(JSON, default=dict)
    summary: Mapped[dict] = mapped_column(JSON)  # the child-level answers (examination) or the recording's answers
    report: Mapped[dict] = mapped_column(JSON)  # the JSON report as downloaded
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    child: Mapped[Child] = relationship(back_populates="visits")
    recordings: Mapped[list["Recording"]] = relationship(back_populates="visit", cascade="all, delete-orphan",
                                                         order_by="Recording.id")


class Recording(Base):
    """One recording of a visit: its site, hashes and answers; its audio only where the deployment keeps audio."""

    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    site: Mapped[str] = mapped_column(String(16))
    audio_sha256: Mapped[str] = mapped_column(String(64))
    duration_s: Mapped[float | None] = mapped_column(nullable=True)
    answers: Mapped[dict] = mapped_column(JSON)  # answer key -> label, probability, abstained, reason, threshold
    shares: Mapped[dict] = mapped_column(JSON, default=dict)  # timeline: kind of sound -> share of the recording
    audio: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    visit: Mapped[Visit] = relationship(back_populates="recordings")


class AuditEntry(Base):
    """Who did what to which record, and when; no clinical content (ids and actions only)."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    user: Mapped[str] = mapped_column(String(128))
    clinic: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(16))  # save | open | export | delete | denied
    target: Mapped[str] = mapped_column(String(64))  # "visit 12", "child 4"
