"""privacy: source-folder hashes keyed with the study key (HMAC-SHA-256)

Existing rows keep their salted SHA-256 and are marked ``sha256``; the first import or label /
prediction import that has the study key replaces each by HMAC-SHA-256 under the key of that
same digest (no source name needed) and marks it ``hmac-sha256``. The key lives outside the
database (bcl_core.study.keys), so the migration itself needs none.

Revision ID: 0002_privacy
Revises: b88a5745438b
Create Date: 2026-12-02 12:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0002_privacy'
down_revision: str | Sequence[str] | None = 'b88a5745438b'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('study_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_key_scheme', sa.String(length=16),
                                      server_default='sha256', nullable=False))


def downgrade() -> None:
    """Downgrade schema (keyed hashes stay keyed: without the key they match nothing)."""
    with op.batch_alter_table('study_case', schema=None) as batch_op:
        batch_op.drop_column('source_key_scheme')
