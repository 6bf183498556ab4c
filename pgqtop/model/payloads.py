"""Typed payloads: a dataclass or a pydantic v2 model turned into a job's JSON payload on the
producer's side, and checked and rebuilt from it before a handler runs.

pydantic is optional and never imported here: a pydantic model is recognised by its
`model_dump_json` / `model_validate_json` methods. Dataclasses are checked against their
annotations (plain JSON types, Optional/unions, Literal, enums, lists, dicts, nested
dataclasses, datetime/date/UUID as ISO text), so a payload that does not fit fails before
the handler sees it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")


class PayloadInvalid(ValueError):
    """A job's payload does not fit the model its entrypoint declares. The job fails at once
    and is not retried: running it again would read the same payload."""


PayloadInvalid.__module__ = "pgqtop"  # how tracebacks and the failures table name it


@runtime_checkable
class JsonModel(Protocol):
    """What pgqtop needs of a pydantic v2 model instance to enqueue it."""

    def model_dump_json(self) -> str: ...


def is_model_class(model: object) -> bool:
    """A class a handler may declare as its payload: a dataclass or a pydantic v2 model."""
    if not isinstance(model, type):
        return False
    return dataclasses.is_dataclass(model) or callable(getattr(model, "model_validate_json", None))


def is_model_instance(value: object) -> bool:
    """A dataclass instance or a pydantic model instance: one payload, sent as JSON."""
    if isinstance(value, type):
        return False
    return dataclasses.is_dataclass(value) or isinstance(value, JsonModel)


def _json_default(value: object) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"{type(value).__qualname__} is not JSON serialisable")


def encode_model(value: DataclassInstance | JsonModel | Mapping[str, Any]) -> bytes:
    """A model (or a mapping) as the UTF-8 JSON a job stores."""
    if isinstance(value, JsonModel):
        return value.model_dump_json().encode("utf-8")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data: Any = dataclasses.asdict(value)
    else:
        data = dict(value)  # type: ignore[arg-type]
    text = json.dumps(data, default=_json_default, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def payload_decoder(model: type[T]) -> Callable[[bytes | None], T]:
    """A function that rebuilds `model` from a stored payload, raising PayloadInvalid (with
    every problem found, one per field) when it does not fit."""
    name = model.__qualname__
    validate_json = getattr(model, "model_validate_json", None)
    if callable(validate_json):

        def from_pydantic(raw: bytes | None) -> T:
            try:
                built: T = validate_json(raw if raw is not None else b"null")
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                detail = _pydantic_detail(exc)
                raise PayloadInvalid(f"payload is not a valid {name}: {detail}") from exc
            return built

        return from_pydantic
    if not dataclasses.is_dataclass(model):
        raise TypeError(f"{name} is neither a dataclass nor a pydantic model")

    def from_dataclass(raw: bytes | None) -> T:
        if raw is None:
            raise PayloadInvalid(f"payload is not a valid {name}: the job has no payload")
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise PayloadInvalid(f"payload is not a valid {name}: not JSON ({exc})") from None
        try:
            built: T = _convert(model, data, "")
        except _Mismatch as exc:
            raise PayloadInvalid(f"payload is not a valid {name}: {exc}") from None
        return built

    return from_dataclass


def _pydantic_detail(exc: ValueError) -> str:
    """`field: message; other: message` from a pydantic ValidationError, else its first line."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            found = errors()
        except Exception:  # not pydantic's after all: fall back to the text
            found = None
        if isinstance(found, list) and found:
            parts = []
            for error in found:
                where = ".".join(str(p) for p in error.get("loc", ())) or "payload"
                parts.append(f"{where}: {error.get('msg', 'invalid')}")
            return "; ".join(parts)
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class _Mismatch(Exception):
    """A value that does not fit its annotation; the message says where."""


def _where(path: str) -> str:
    return path or "payload"


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _expected(path: str, what: str, value: Any) -> _Mismatch:
    return _Mismatch(f"{_where(path)}: expected {what}, got {_json_kind(value)}")


def _build_dataclass(model: type[Any], value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise _expected(path, "an object", value)
    hints = typing.get_type_hints(model)
    fields = [f for f in dataclasses.fields(model) if f.init]
    known = {f.name for f in fields}
    problems: list[str] = []
    for extra in sorted(set(value) - known):
        problems.append(f"{_join(path, extra)}: unexpected field")
    arguments: dict[str, Any] = {}
    for field in fields:
        where = _join(path, field.name)
        if field.name not in value:
            has_default = field.default is not dataclasses.MISSING
            if not has_default and field.default_factory is dataclasses.MISSING:
                problems.append(f"{where}: missing")
            continue
        try:
            arguments[field.name] = _convert(hints.get(field.name, Any), value[field.name], where)
        except _Mismatch as exc:
            problems.append(str(exc))
    if problems:
        raise _Mismatch("; ".join(problems))
    return model(**arguments)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _convert(annotation: Any, value: Any, path: str) -> Any:
    """`value` (parsed JSON) as `annotation` asks, or _Mismatch saying where it does not fit."""
    if annotation is Any or annotation is object:
        return value
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return _convert_union(arguments, value, path)
    if annotation is None or annotation is type(None):
        if value is not None:
            raise _expected(path, "null", value)
        return None
    if origin is typing.Literal:
        if value not in arguments:
            allowed = ", ".join(repr(a) for a in arguments)
            raise _Mismatch(f"{_where(path)}: expected one of {allowed}, got {value!r}")
        return value
    if origin is list or annotation is list:
        if not isinstance(value, list):
            raise _expected(path, "an array", value)
        item = arguments[0] if arguments else Any
        return [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise _expected(path, "an object", value)
        item = arguments[1] if len(arguments) == 2 else Any
        return {k: _convert(item, v, _join(path, str(k))) for k, v in value.items()}
    if isinstance(annotation, type):
        return _convert_class(annotation, value, path)
    return value  # an annotation this checker does not know: pass the JSON value through


def _convert_union(arguments: tuple[Any, ...], value: Any, path: str) -> Any:
    if value is None and type(None) in arguments:
        return None
    problems = []
    for option in arguments:
        if option is type(None):
            continue
        try:
            return _convert(option, value, path)
        except _Mismatch as exc:
            problems.append(str(exc))
    raise _Mismatch(problems[0] if len(problems) == 1 else f"{_where(path)}: fits no choice")


def _convert_class(kind: type[Any], value: Any, path: str) -> Any:
    if dataclasses.is_dataclass(kind):
        return _build_dataclass(kind, value, path)
    if issubclass(kind, enum.Enum):
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in kind)
            raise _Mismatch(f"{_where(path)}: expected one of {allowed}, got {value!r}") from None
    if kind is bool:
        if not isinstance(value, bool):
            raise _expected(path, "a boolean", value)
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _expected(path, "an integer", value)
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _expected(path, "a number", value)
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise _expected(path, "a string", value)
        return value
    if kind in (dt.datetime, dt.date, uuid.UUID):
        return _from_text(kind, value, path)
    if not isinstance(value, kind):
        raise _expected(path, kind.__qualname__, value)
    return value


def _from_text(kind: type[Any], value: Any, path: str) -> Any:
    if not isinstance(value, str):
        raise _expected(path, f"{kind.__qualname__} as a string", value)
    try:
        if kind is uuid.UUID:
            return uuid.UUID(value)
        if kind is dt.datetime:
            return dt.datetime.fromisoformat(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _Mismatch(f"{_where(path)}: not a valid {kind.__qualname__}: {value!r}") from None
