"""Apply and roll back numbered migrations, recording each in ``schema_migrations``.

A migration is a module in ``versions/`` named ``m<NNNN>_<name>.py`` with two
lists of SQL statements, ``FORWARDS`` and ``BACKWARDS``. Statements use
``{db}`` for the database; every statement is idempotent (``IF [NOT] EXISTS``)
so a migration interrupted half-way can simply be run again.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType

from clickhouse_connect.driver.client import Client

from clickhouse.client import quote_ident
from clickhouse.migrations import versions

LEDGER = """
CREATE TABLE IF NOT EXISTS {db}.schema_migrations (
    version UInt32,
    name String,
    applied UInt8,
    changed_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(changed_at)
ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    forwards: tuple[str, ...]
    backwards: tuple[str, ...]


def discover() -> list[Migration]:
    found = []
    for info in pkgutil.iter_modules(versions.__path__):
        if not info.name.startswith("m"):
            continue
        module: ModuleType = importlib.import_module(f"{versions.__name__}.{info.name}")
        number, _, name = info.name[1:].partition("_")
        found.append(Migration(int(number), name, tuple(module.FORWARDS), tuple(module.BACKWARDS)))
    found.sort(key=lambda m: m.version)
    if len({m.version for m in found}) != len(found):
        raise RuntimeError("two migrations share a version number")
    return found


def applied_versions(client: Client, database: str) -> set[int]:
    db = quote_ident(database)
    client.command(LEDGER.format(db=db))
    rows = client.query(
        f"SELECT version, argMax(applied, changed_at) FROM {db}.schema_migrations GROUP BY version"
    ).result_rows
    return {int(version) for version, applied in rows if applied}


def migrate(client: Client, database: str, target: int | None = None) -> list[Migration]:
    """Apply every pending migration up to ``target`` (all by default)."""
    done = applied_versions(client, database)
    ran = []
    for migration in discover():
        if migration.version in done or (target is not None and migration.version > target):
            continue
        _run(client, database, migration.forwards)
        _record(client, database, migration, applied=True)
        ran.append(migration)
    return ran


def rollback(client: Client, database: str, target: int = 0) -> list[Migration]:
    """Undo applied migrations above ``target``, newest first."""
    done = applied_versions(client, database)
    undone = []
    for migration in reversed(discover()):
        if migration.version <= target or migration.version not in done:
            continue
        _run(client, database, migration.backwards)
        _record(client, database, migration, applied=False)
        undone.append(migration)
    return undone


def _run(client: Client, database: str, statements: tuple[str, ...]) -> None:
    db = quote_ident(database)
    for statement in statements:
        client.command(statement.format(db=db))


def _record(client: Client, database: str, migration: Migration, *, applied: bool) -> None:
    client.insert(
        f"{quote_ident(database)}.schema_migrations",
        [[migration.version, migration.name, int(applied)]],
        column_names=["version", "name", "applied"],
    )
