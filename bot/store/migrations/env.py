"""Alembic environment: runs on the connection handed over by ``Store.migrate``,
or on ``sqlalchemy.url`` when used from the ``alembic`` command line."""

from alembic import context
from sqlalchemy import create_engine

from bot.store.tables import in_domain_schema, metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=True,
            include_name=in_domain_schema,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///supportbot.db")
    with engine.connect() as conn:
        context.configure(
            connection=conn,
            target_metadata=metadata,
            render_as_batch=True,
            include_name=in_domain_schema,
        )
        with context.begin_transaction():
            context.run_migrations()


run()
