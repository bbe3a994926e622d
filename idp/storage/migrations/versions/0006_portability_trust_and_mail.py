"""Portability you can trust, and mail: imported exports (replay and chain of custody),
pending imports awaiting email proof, verified claims with their verifier, the mail outbox.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verifications", sa.JSON(), nullable=True))
    with op.batch_alter_table("imported_consent_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("persona_id", sa.String(length=64), nullable=True))
    op.create_table(
        "imported_exports",
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("export_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("token", sa.Text(), nullable=True),
        sa.Column("self_asserted", sa.Boolean(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("issuer", "export_id"),
    )
    with op.batch_alter_table("imported_exports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_imported_exports_user_id"), ["user_id"], unique=False)
    op.create_table(
        "pending_imports",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("export", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("pending_imports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pending_imports_expires_at"), ["expires_at"], unique=False
        )
    op.create_table(
        "verified_claims",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("claim", sa.String(length=255), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("verifier", sa.Text(), nullable=False),
        sa.Column("verified_at", sa.DateTime(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("verified_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_verified_claims_user_id"), ["user_id"], unique=False)
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_outbox_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_mail_outbox_next_attempt_at"), ["next_attempt_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("mail_outbox")
    op.drop_table("verified_claims")
    op.drop_table("pending_imports")
    op.drop_table("imported_exports")
    with op.batch_alter_table("imported_consent_records", schema=None) as batch_op:
        batch_op.drop_column("persona_id")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("verifications")
