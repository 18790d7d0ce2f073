"""Saved visits: children, visits, recordings and the audit log.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "children",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("clinic", sa.String(64), nullable=False),
        sa.Column("task", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("clinic", "task", "ref", name="uq_child_clinic_task_ref"),
    )
    op.create_index("ix_children_clinic", "children", ["clinic"])
    op.create_table(
        "visits",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("child_id", sa.Integer(), sa.ForeignKey("children.id", ondelete="CASCADE"), nullable=False),
        sa.Column("clinic", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("label", sa.String(80), nullable=False),
        sa.Column("visit_date", sa.Date(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("saved_by", sa.String(128), nullable=False),
        sa.Column("app_version", sa.String(64), nullable=False),
        sa.Column("encoder", sa.String(128), nullable=False),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("calibration", sa.String(400), nullable=False),
        sa.Column("clinician", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
    )
    op.create_index("ix_visits_child_id", "visits", ["child_id"])
    op.create_index("ix_visits_clinic", "visits", ["clinic"])
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("visit_id", sa.Integer(), sa.ForeignKey("visits.id", ondelete="CASCADE"), nullable=False),
        sa.Column("site", sa.String(16), nullable=False),
        sa.Column("audio_sha256", sa.String(64), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("shares", sa.JSON(), nullable=False),
        sa.Column("audio", sa.LargeBinary(), nullable=True),
    )
    op.create_index("ix_recordings_visit_id", "recordings", ["visit_id"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user", sa.String(128), nullable=False),
        sa.Column("clinic", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_index("ix_audit_clinic", "audit", ["clinic"])


def downgrade() -> None:
    op.drop_table("audit")
    op.drop_table("recordings")
    op.drop_table("visits")
    op.drop_table("children")
