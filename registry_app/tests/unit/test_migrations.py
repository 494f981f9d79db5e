"""The Alembic migrations build exactly the schema ``db/models.py`` declares (Alembic's own
comparison of a migrated database with the models finds nothing, on SQLite and on PostgreSQL), and
the revisions are one chain numbered as their files (two branches that each add ``000N`` fail here,
not in a deployment's ``registry-app migrate``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from registry_app.db.engine import make_engine, migrate
from registry_app.db.models import Base


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'r.db'}"
    return str(request.getfixturevalue("pg_database"))


def test_migrations_build_what_the_models_declare(uri: str) -> None:
    engine = make_engine(uri)
    try:
        migrate(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_revisions_are_one_chain_numbered_as_their_files() -> None:
    script = ScriptDirectory(str(resources.files("registry_app.db").joinpath("migrations")))
    revisions = list(reversed(list(script.walk_revisions())))  # raises on more than one head
    assert revisions, "no migrations found"
    for number, rev in enumerate(revisions, start=1):
        assert rev.revision == f"{number:04d}", rev.path
        assert rev.down_revision == (f"{number - 1:04d}" if number > 1 else None), rev.path
        assert Path(rev.path).name.startswith(f"{number:04d}_"), rev.path
