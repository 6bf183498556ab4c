"""The SQL pgqtop runs, one module of text per role, rendered once per prefix.

Each text names our objects as `{jobs}`, `{statistics}`, ... and the latency buckets' bounds as
`{latency_bounds}`. Rendering composes it with the prefix's quoted identifiers (and the bounds
as one constant array) and keeps the result as bytes, so an execute neither composes nor
escapes anything again: the driver takes bytes as they are. A prefix is validated to plain
ASCII identifiers, so rendering needs no connection's encoding.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, LiteralString

from psycopg import sql

from pgqtop.config import ObjectNames
from pgqtop.model.latency import BOUNDS


class Renderer:
    """Turns statement text into the bytes for one prefix."""

    def __init__(self, names: ObjectNames) -> None:
        self.names = names
        self._identifiers: dict[str, sql.Composable] = {
            "jobs": sql.Identifier(names.jobs),
            "statistics": sql.Identifier(names.statistics),
            "failures": sql.Identifier(names.failures),
            "control": sql.Identifier(names.control),
            "workers": sql.Identifier(names.workers),
            "schedules": sql.Identifier(names.schedules),
            "finished": sql.Identifier(names.finished),
            "history": sql.Identifier(names.history),
            "history_samples": sql.Identifier(names.history_samples),
            "audit": sql.Identifier(names.audit),
            "claims": sql.Identifier(names.claims),
            "status": sql.Identifier(names.status_type),
            "enqueue": sql.Identifier(names.enqueue_function),
            "enqueue_one": sql.Identifier(names.enqueue_one_function),
            # Not a name but a constant of ours: a float8[] literal the planner folds once.
            "latency_bounds": sql.Literal(list(BOUNDS)),
        }

    def __call__(self, text: LiteralString) -> bytes:
        return sql.SQL(text).format(**self._identifiers).as_bytes(None)

    def identifier(self, table: str) -> str:
        """A table's quoted name as text, for a statement that takes it as a value."""
        return self._identifiers[table].as_string(None)


_PLACEHOLDER = re.compile(rb"%\((\w+)\)[sb]|%%")


@dataclasses.dataclass(frozen=True, slots=True)
class Positional:
    """A rendered statement with its named placeholders numbered ($1, $2, ...) once. The
    driver converts a statement's placeholders on every execute and keeps the result only
    for statements up to 4 KB, so the completion (longer) runs in this form through a raw
    cursor instead, its parameters passed in `order`, each in the driver's default format."""

    query: bytes
    order: tuple[str, ...]

    def params(self, named: Mapping[str, Any]) -> list[Any]:
        return [named[name] for name in self.order]


def positional(statement: bytes) -> Positional:
    """`statement` (rendered, with %(name)s and %(name)b placeholders) in numbered form."""
    order: list[str] = []

    def number(match: re.Match[bytes]) -> bytes:
        if match[0] == b"%%":
            return b"%"
        name = match[1].decode()
        if name not in order:
            order.append(name)
        return b"$%d" % (order.index(name) + 1)

    return Positional(_PLACEHOLDER.sub(number, statement), tuple(order))
