"""Raw SQL straight at a store's database, as an attacker (or an operator) with
write access to it would: the tamper tests go around the store's code.

``db`` is what the test opened the store with: an SQLite file path (or its
``sqlite:///`` URL), or a PostgreSQL URL.  Statements use ``?`` placeholders for both.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine


def _postgres(db: str, statement: str, args: tuple[Any, ...], fetch: bool) -> Any:
    engine = create_engine(db)
    try:
        with engine.begin() as conn:
            # psycopg's placeholder is %s; a literal % must then be doubled.
            result = conn.exec_driver_sql(statement.replace("%", "%%").replace("?", "%s"), args)
            return [tuple(r) for r in result] if fetch else result.rowcount
    finally:
        engine.dispose()


def _sqlite(db: Path | str) -> sqlite3.Connection:
    text = str(db)
    return sqlite3.connect(text[len("sqlite:///"):] if text.startswith("sqlite:///") else text)


def sql(db: Path | str, statement: str, *args: Any) -> int:
    """Run one changing statement; returns how many rows it changed."""
    if isinstance(db, str) and db.startswith("postgresql"):
        return _postgres(db, statement, args, fetch=False)
    con = _sqlite(db)
    try:
        with con:
            return con.execute(statement, args).rowcount
    finally:
        con.close()


def rows(db: Path | str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    if isinstance(db, str) and db.startswith("postgresql"):
        return _postgres(db, query, args, fetch=True)
    con = _sqlite(db)
    try:
        return [tuple(r) for r in con.execute(query, args)]
    finally:
        con.close()


def one(db: Path | str, query: str, *args: Any) -> Any:
    return rows(db, query, *args)[0][0]


def is_postgres(db: Path | str) -> bool:
    return isinstance(db, str) and db.startswith("postgresql")
