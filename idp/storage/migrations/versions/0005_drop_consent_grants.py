"""Drop consent_grants: remembered approval is derived from the consent ledger.

The table was a second consent store beside the ledger (written by the consent
view, cleared by decisions, read by the authorization step). Approval is now
the active ledger record's claims and its approved scope values; a request for
no claims is remembered through the live grants of that client. People whose
approval lived only in this table are asked once more.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("consent_grants")


def downgrade() -> None:
    op.create_table(
        "consent_grants",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.client_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "client_id"),
    )
