"""Initial schema: project, session tree, messages, parts and todos with cascading deletes."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "project",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("worktree", sa.Text, nullable=False),
        sa.Column("time_created", sa.BigInteger, nullable=False),
        sa.Column("time_updated", sa.BigInteger, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_table(
        "session",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("project_id", sa.Text, nullable=False),
        sa.Column(
            "parent_id",
            sa.Text,
            sa.ForeignKey("session.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("directory", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False, server_default=""),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("time_created", sa.BigInteger, nullable=False),
        sa.Column("time_updated", sa.BigInteger, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index(
        "session_project_updated", "session", ["project_id", sa.text("time_updated DESC"), "id"]
    )
    op.create_index("session_parent", "session", ["parent_id"])
    op.create_table(
        "message",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column(
            "session_id",
            sa.Text,
            sa.ForeignKey("session.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("time_created", sa.BigInteger, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("message_session", "message", ["session_id", "id"])
    op.create_table(
        "part",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column(
            "message_id",
            sa.Text,
            sa.ForeignKey("message.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "session_id",
            sa.Text,
            sa.ForeignKey("session.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("part_message", "part", ["message_id", "id"])
    op.create_index("part_session", "part", ["session_id"])
    op.create_table(
        "todo",
        sa.Column(
            "session_id",
            sa.Text,
            sa.ForeignKey("session.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("session_id", "position"),
    )


def downgrade() -> None:
    op.drop_table("todo")
    op.drop_table("part")
    op.drop_table("message")
    op.drop_table("session")
    op.drop_table("project")
