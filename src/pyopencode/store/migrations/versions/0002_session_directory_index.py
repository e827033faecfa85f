"""Index sessions by directory, so `GET /session?directory=` stays fast on large stores."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "session_directory_updated", "session", ["directory", sa.text("time_updated DESC"), "id"]
    )


def downgrade() -> None:
    op.drop_index("session_directory_updated", table_name="session")
