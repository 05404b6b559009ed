"""temporary road rules (closures) added by dispatchers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 02:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('temporary_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('rule', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id']),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('temporary_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_temporary_rules_district_id'), ['district_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('temporary_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_temporary_rules_district_id'))
    op.drop_table('temporary_rules')
