"""suggestion events say whether the service abstained; indexes the analytics read by

``suggestion_event.intent`` becomes the best-scored intent, with ``abstained`` saying the
service answered ``other`` (nothing wrote the table before this revision). The analytics
find a shop's feedback through its conversations, and read feedback by time.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("suggestion_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("abstained", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(
            batch_op.f("ix_suggestion_event_conversation_id"), ["conversation_id"], unique=False
        )
    with op.batch_alter_table("feedback_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_feedback_event_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_feedback_event_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("feedback_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_event_created_at"))
        batch_op.drop_index(batch_op.f("ix_feedback_event_conversation_id"))
    with op.batch_alter_table("suggestion_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suggestion_event_conversation_id"))
        batch_op.drop_column("abstained")
