"""Alembic environment: runs against the connection handed in by ``dispatch.db.upgrade``
or, from the alembic CLI, against ``LOOPVAN_DATABASE_URL``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from dispatch.models import Base
from dispatch.settings import Settings

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


conn = context.config.attributes.get("connection")
if conn is not None:
    _run(conn)
else:
    from dispatch.db import make_engine

    engine = make_engine(Settings.from_env().database_url)
    with engine.begin() as c:
        _run(c)
