"""Alembic environment for the plc-integrity store.

The store runs migrations itself on open (``baselines.store.Store.open``) and
hands over its connection in ``config.attributes["connection"]``, inside its own
transaction.  Without one (plain ``alembic`` command line use) an engine is made
from ``sqlalchemy.url``.  Logging is left alone: a library must not reconfigure
the application's logging the way the stock env.py does with fileConfig.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from baselines.tables import metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    # render_as_batch: SQLite cannot ALTER most things; batch mode copies tables.
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _run(conn)
