"""The PostgreSQL fixtures themselves: a real server, isolated databases, working credentials."""

from __future__ import annotations

from urllib.parse import urlsplit

import psycopg
import pytest

from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.postgres


def test_database_uri_connects_as_its_owner(pg_database: str) -> None:
    parts = urlsplit(pg_database)
    assert parts.scheme == "postgresql"
    assert parts.hostname == "127.0.0.1"
    with psycopg.connect(pg_database) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        assert version is not None and int(version[0]) // 10000 == 15
        row = conn.execute(
            "SELECT current_user, pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        ).fetchone()
        assert row is not None and row[0] == row[1] == parts.username
        conn.execute("CREATE TABLE t (id serial PRIMARY KEY, v text)")
        conn.execute("INSERT INTO t (v) VALUES ('x')")
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_wrong_password_is_refused(pg_database: str) -> None:
    parts = urlsplit(pg_database)
    bad = pg_database.replace(f":{parts.password}@", ":not-the-password@")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(bad, connect_timeout=5)


def test_each_test_gets_a_fresh_database(postgres_server: PostgresServer, pg_database: str) -> None:
    user, password, dbname = postgres_server.create_database()
    try:
        other = postgres_server.uri(user, password, dbname)
        assert other != pg_database
        with psycopg.connect(other) as conn:
            tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
            assert tables == (0,)
        # Each role owns exactly its own database.
        with psycopg.connect(postgres_server.admin_uri()) as conn:
            owned = conn.execute(
                "SELECT datname FROM pg_database WHERE pg_get_userbyid(datdba) = %s", (user,)
            ).fetchall()
            assert owned == [(dbname,)]
    finally:
        postgres_server.drop_database(user, dbname)
    with psycopg.connect(postgres_server.admin_uri()) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone() is None
