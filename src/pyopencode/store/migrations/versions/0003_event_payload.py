"""Event payloads too large for NOTIFY, stored for listeners to read back by id."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Used by the PostgreSQL engine only; created everywhere so every engine has one schema.
    op.create_table(
        "event_payload",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("time_created", sa.BigInteger, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("event_payload_created", "event_payload", ["time_created"])


def downgrade() -> None:
    op.drop_index("event_payload_created", table_name="event_payload")
    op.drop_table("event_payload")
