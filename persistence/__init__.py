"""PostgreSQL: tables, repositories, unit of work, migrations and the embedded server."""
