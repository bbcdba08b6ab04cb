"""Alembic environment: always run on a connection handed in by persistence.migrate."""

from alembic import context

from persistence.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations with `sselfie migrate`, which hands Alembic a connection.")

context.configure(connection=connection, target_metadata=metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
