"""Indexes for cleanup: every condition idp/storage/cleanup.py deletes by is index-backed, so a
batch costs the rows it removes, not a scan of the table.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

INDEXES = [
    ("authorization_codes", "expires_at"),
    ("access_tokens", "expires_at"),
    ("refresh_tokens", "expires_at"),
    ("refresh_tokens", "used_at"),
    ("interactions", "expires_at"),
    ("interactions", "completed_at"),
    ("mail_outbox", "sent_at"),
]


def upgrade() -> None:
    for table, column in INDEXES:
        op.create_index(f"ix_{table}_{column}", table, [column], unique=False)


def downgrade() -> None:
    for table, column in reversed(INDEXES):
        op.drop_index(f"ix_{table}_{column}", table_name=table)
