"""vehicle class width (OSM maxwidth and rule-file max_width limits)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 23:59:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('vehicle_classes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('width_m', sa.Float(), server_default='2.1', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('vehicle_classes', schema=None) as batch_op:
        batch_op.drop_column('width_m')
