"""Imported consent records: ledgers a person brought from another provider (SPEC.md §12).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imported_consent_records",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("export_id", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("receipt", sa.Text(), nullable=True),
        sa.Column("exported_at", sa.DateTime(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "export_id", "sequence", name="uq_imported_user_export_seq"),
    )
    with op.batch_alter_table("imported_consent_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_imported_consent_records_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("imported_consent_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_imported_consent_records_user_id"))

    op.drop_table("imported_consent_records")
