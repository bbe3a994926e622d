"""Consent ledger, disclosures and the consent-event outbox; grants record their consent.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_records",
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("previous_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("receipt", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("record_id"),
        sa.UniqueConstraint("user_id", "sequence", name="uq_consent_user_sequence"),
    )
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_records_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_consent_records_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_consent_records_user_id"), ["user_id"], unique=False)

    op.create_table(
        "disclosures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disclosures_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_disclosures_user_id"), ["user_id"], unique=False)

    op.create_table(
        "event_outbox",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("event_type", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("event_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_outbox_client_id"), ["client_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_event_outbox_next_attempt_at"), ["next_attempt_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_event_outbox_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_event_outbox_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent_record_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("granted_claims", sa.JSON(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_grants_consent_record_id"), ["consent_record_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grants_consent_record_id"))
        batch_op.drop_column("granted_claims")
        batch_op.drop_column("consent_record_id")

    with op.batch_alter_table("event_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_outbox_user_id"))
        batch_op.drop_index(batch_op.f("ix_event_outbox_status"))
        batch_op.drop_index(batch_op.f("ix_event_outbox_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_event_outbox_client_id"))

    op.drop_table("event_outbox")
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disclosures_user_id"))
        batch_op.drop_index(batch_op.f("ix_disclosures_client_id"))

    op.drop_table("disclosures")
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_records_user_id"))
        batch_op.drop_index(batch_op.f("ix_consent_records_expires_at"))
        batch_op.drop_index(batch_op.f("ix_consent_records_client_id"))

    op.drop_table("consent_records")
