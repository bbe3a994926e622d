"""Key rotation without a window: a key is published before it signs (sign_from), and can be
revoked in an emergency (revoked_at).

Existing keys have always signed since they were created, so sign_from = created_at.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sign_from", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE signing_keys SET sign_from = created_at")
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.alter_column("sign_from", existing_type=sa.DateTime(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("sign_from")
