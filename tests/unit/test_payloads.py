"""Typed payloads without a database: models to JSON and back, and what does not fit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from typing import Literal

import pydantic
import pytest

from pgqtop.model import (
    NewJob,
    PayloadInvalid,
    as_new_jobs,
    check_new_jobs,
    encode_model,
    is_model_class,
    payload_decoder,
)


class Tier(enum.Enum):
    FREE = "free"
    PAID = "paid"


@dataclasses.dataclass
class Address:
    city: str
    zip_code: str | None = None


@dataclasses.dataclass
class Signup:
    email: str
    age: int
    tier: Tier
    tags: list[str]
    address: Address
    score: float = 0.0
    kind: Literal["web", "api"] = "web"
    invited_by: uuid.UUID | None = None
    joined: dt.datetime | None = None
    extra: dict[str, int] = dataclasses.field(default_factory=dict)


class Email(pydantic.BaseModel):
    to: str
    retries: int = 0


def test_a_dataclass_goes_to_json_and_comes_back_equal() -> None:
    original = Signup(
        email="ana@example.com",
        age=31,
        tier=Tier.PAID,
        tags=["beta"],
        address=Address("Lisbon"),
        score=2,
        kind="api",
        invited_by=uuid.UUID(int=7),
        joined=dt.datetime(2026, 12, 3, 9, 30, tzinfo=dt.UTC),
        extra={"logins": 3},
    )
    raw = encode_model(original)
    assert raw.startswith(b'{"email":"ana@example.com"')
    rebuilt = payload_decoder(Signup)(raw)
    assert rebuilt == original
    assert isinstance(rebuilt.score, float)


def test_every_problem_of_a_dataclass_payload_is_named_with_its_field() -> None:
    raw = b'{"email": 5, "tier": "gold", "tags": ["a", 2], "address": {}, "nickname": "x"}'
    with pytest.raises(PayloadInvalid) as caught:
        payload_decoder(Signup)(raw)
    message = str(caught.value)
    assert message.startswith("payload is not a valid Signup: ")
    for part in (
        "nickname: unexpected field",
        "email: expected a string, got a number",
        "age: missing",
        "tier: expected one of 'free', 'paid', got 'gold'",
        "tags[1]: expected a string, got a number",
        "address.city: missing",
    ):
        assert part in message


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (None, "the job has no payload"),
        (b"not json", "not JSON"),
        (b"[1, 2]", "payload: expected an object, got an array"),
        (
            b'{"email": "a", "age": true, "tier": "free", "tags": [], "address": {"city": "x"}}',
            "age: expected an integer, got a boolean",
        ),
        (
            b'{"email": "a", "age": 1, "tier": "free", "tags": [], "address": {"city": "x"},'
            b' "joined": "yesterday"}',
            "joined: not a valid datetime: 'yesterday'",
        ),
        (
            b'{"email": "a", "age": 1, "tier": "free", "tags": [], "address": {"city": "x"},'
            b' "kind": "cli"}',
            "kind: expected one of 'web', 'api', got 'cli'",
        ),
    ],
)
def test_a_payload_that_does_not_fit_says_why(raw: bytes | None, problem: str) -> None:
    with pytest.raises(PayloadInvalid, match="payload is not a valid Signup") as caught:
        payload_decoder(Signup)(raw)
    assert problem in str(caught.value)


def test_a_pydantic_model_is_validated_by_pydantic_and_reported_per_field() -> None:
    assert payload_decoder(Email)(b'{"to": "ana@example.com"}') == Email(to="ana@example.com")
    with pytest.raises(PayloadInvalid) as caught:
        payload_decoder(Email)(b'{"retries": "many"}')
    assert str(caught.value) == (
        "payload is not a valid Email: to: Field required; "
        "retries: Input should be a valid integer, unable to parse string as an integer"
    )


def payload_bytes(payload: object) -> bytes | None:
    """The payload as the enqueue check stores it."""
    return check_new_jobs([NewJob("a", payload)], 1 << 20).payloads[0]  # type: ignore[arg-type]


def test_models_are_enqueued_as_json_and_lists_of_them_as_a_batch() -> None:
    assert payload_bytes(Email(to="a@b")) == b'{"to":"a@b","retries":0}'
    assert payload_bytes(Address("Porto")) == b'{"city":"Porto","zip_code":null}'
    assert payload_bytes({"n": 1}) == b'{"n":1}'
    jobs = as_new_jobs(["a", "b"], Address("Porto"), 0, None, 0.0, None)
    assert [j.payload for j in jobs] == [Address("Porto"), Address("Porto")]
    jobs = as_new_jobs(["a", "b"], [Email(to="x"), {"n": 2}], 0, None, 0.0, None)
    assert [payload_bytes(j.payload) for j in jobs] == [b'{"to":"x","retries":0}', b'{"n":2}']
    assert NewJob("a", Address("Faro")).payload == Address("Faro")


def test_only_dataclasses_and_pydantic_models_are_payload_models() -> None:
    assert is_model_class(Signup) and is_model_class(Email)
    assert not is_model_class(dict) and not is_model_class("Signup")
    assert not is_model_class(Address("Porto"))  # an instance is a payload, not a model
    with pytest.raises(TypeError, match="neither a dataclass nor a pydantic model"):
        payload_decoder(dict)
