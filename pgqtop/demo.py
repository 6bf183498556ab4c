"""The built-in demo workload behind `pgqtop --demo`: a small shop's background jobs.

Five entrypoints, each showing one thing an operator meets in real life: fast mail that
drains at once, slow reports, card charges that fail now and then (with a traceback and
retries), image resizing under a concurrency limit, and a rate-limited CRM sync that backs up
at peak and is worth pausing. The producer enqueues bursts in waves so queues rise and drain.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from pgqtop.config import Settings
from pgqtop.db.connection import connect_async
from pgqtop.db.producer import Queries
from pgqtop.engine.manager import QueueManager
from pgqtop.engine.retry import Backoff, wait_for_event
from pgqtop.errors import PgqtopError
from pgqtop.model import Job, first_line

log = logging.getLogger(__name__)

ENTRYPOINTS = ("send_email", "render_report", "charge_card", "resize_image", "sync_crm")
"""The entrypoints the demo producer feeds."""
SCHEDULED = {"rotate_keys": "@every 20s"}
"""The entrypoints the fleet enqueues by itself, on these timetables."""

TICK_SECONDS = 0.5
WAVE_SECONDS = 45.0
WAVE_START = 0.3
"""Where in the wave the demo starts, as a fraction of a wave."""
CAMPAIGN_EVERY_SECONDS = 20.0
FIRST_CAMPAIGN_SECONDS = 8.0
DECLINED_CARD = "0002"
"""Cards ending in this always decline: the demo's source of final failures."""

_random = random.Random()


# --- handlers -------------------------------------------------------------------------------


class CardDeclined(Exception):
    """The card issuer refused the charge; retrying does not help."""


class GatewayTimeout(Exception):
    """The payment gateway did not answer in time; a retry usually goes through."""


def _gateway_authorize(charge: dict[str, Any]) -> str:
    if charge.get("card_last4") == DECLINED_CARD:
        raise CardDeclined(
            f"card_declined: insufficient_funds (invoice {charge['invoice']}, "
            f"{charge['amount_cents'] / 100:.2f} {charge['currency']})"
        )
    if _random.random() < 0.07:
        raise GatewayTimeout("POST https://payments.example/v1/charges timed out after 3.0s")
    return f"ch_{uuid.uuid4().hex[:14]}"


async def send_email(job: Job) -> None:
    message = job.json()
    await asyncio.sleep(_random.uniform(0.003, 0.02))
    log.debug("mail %s to %s", message["template"], message["to"])


async def render_report(job: Job) -> None:
    await asyncio.sleep(_random.uniform(0.5, 2.0))


async def charge_card(job: Job) -> None:
    charge = job.json()
    await asyncio.sleep(_random.uniform(0.02, 0.12))
    _gateway_authorize(charge)


def resize_image(job: Job) -> None:
    """Sync on purpose: CPU-bound libraries are sync, and pgqtop runs them in threads."""
    image = job.json()
    time.sleep(0.06 * len(image["sizes"]) * _random.uniform(0.8, 1.5))


async def rotate_keys(job: Job) -> None:
    """Scheduled rather than produced: the fleet enqueues it every 20 seconds by itself."""
    await asyncio.sleep(_random.uniform(0.05, 0.2))


async def sync_crm(job: Job) -> None:
    # The CRM allows about two calls a second: one at a time, a few hundred ms each.
    await asyncio.sleep(_random.uniform(0.35, 0.7))


def register(qm: QueueManager) -> None:
    """Register the demo entrypoints on a QueueManager."""
    qm.entrypoint("send_email")(send_email)
    qm.entrypoint("render_report", timeout=10.0)(render_report)
    qm.entrypoint(
        "charge_card",
        retry=qm.retry(max_attempts=3, backoff=2.0, initial_delay=0.5, max_delay=30.0),
    )(charge_card)
    qm.entrypoint("resize_image", concurrency_limit=2)(resize_image)
    qm.entrypoint("sync_crm", concurrency_limit=1)(sync_crm)
    qm.entrypoint("rotate_keys", schedule=SCHEDULED["rotate_keys"])(rotate_keys)


# --- payloads -------------------------------------------------------------------------------

_NAMES = ("ana.lima", "jonas.berg", "mei.tanaka", "omar.haddad", "lea.martin", "raj.patel")
_TEMPLATES = ("order-confirmation", "order-shipped", "password-reset", "weekly-digest")
_REPORTS = ("monthly-revenue", "churn-by-cohort", "inventory-aging", "tax-summary")


def _email() -> tuple[dict[str, Any], int]:
    template = _random.choice(_TEMPLATES)
    payload = {
        "to": f"{_random.choice(_NAMES)}@example.com",
        "template": template,
        "order_id": f"ORD-{_random.randint(100000, 999999)}",
        "locale": _random.choice(("en-GB", "de-DE", "pt-BR", "ja-JP")),
    }
    return payload, 5 if template == "password-reset" else 0


def _report() -> tuple[dict[str, Any], int]:
    payload = {
        "report": _random.choice(_REPORTS),
        "account_id": _random.randint(1000, 9999),
        "period": "2026-10",
        "format": _random.choice(("pdf", "csv")),
    }
    return payload, -5


def _charge(declined: bool | None = None) -> tuple[dict[str, Any], int]:
    if declined is None:
        declined = _random.random() < 0.03
    payload = {
        "invoice": f"INV-2026-{_random.randint(1, 99999):05d}",
        "customer": f"cus_{uuid.uuid4().hex[:8]}",
        "amount_cents": _random.choice((900, 2900, 4900, 9900, 24900)),
        "currency": _random.choice(("EUR", "USD", "GBP")),
        "card_last4": DECLINED_CARD if declined else f"{_random.randint(0, 9999):04d}",
    }
    return payload, 10


def _image() -> tuple[dict[str, Any], int]:
    payload = {
        "image": f"uploads/2026/11/{_random.randint(1, 28):02d}/"
        f"IMG_{_random.randint(1000, 9999)}.jpg",
        "sizes": _random.sample((64, 256, 512, 1024, 2048), k=_random.randint(2, 4)),
        "format": "webp",
    }
    return payload, 0


def _crm() -> tuple[dict[str, Any], int]:
    payload = {
        "contact_id": _random.randint(10000, 99999),
        "changes": {
            "plan": _random.choice(("free", "pro", "team")),
            "seats": _random.randint(1, 40),
        },
        "source": _random.choice(("billing", "signup", "support")),
    }
    return payload, 0


_MAKERS: dict[str, Callable[[], tuple[dict[str, Any], int]]] = {
    "send_email": _email,
    "render_report": _report,
    "charge_card": _charge,
    "resize_image": _image,
    "sync_crm": _crm,
}

# Jobs per tick at the top of a wave; capacities differ, so some queues rise while others drain.
_PEAK_PER_TICK = {
    "send_email": 40.0,
    "render_report": 2.0,
    "charge_card": 8.0,
    "resize_image": 3.0,
    "sync_crm": 1.2,
}


def wave(elapsed: float) -> float:
    """Load between 0.15 and 1.0, rising and falling once every WAVE_SECONDS; it starts
    on the way up (about 0.7), so the first screen already has something to show."""
    phase = elapsed / WAVE_SECONDS + WAVE_START
    return 0.15 + 0.85 * (0.5 - 0.5 * math.cos(2 * math.pi * phase))


def _count(mean: float) -> int:
    """A whole number of jobs around `mean`, so small rates still arrive now and then."""
    whole = math.floor(mean)
    return whole + (1 if _random.random() < mean - whole else 0)


def burst(elapsed: float, *, first: bool = False, campaign: bool = False) -> list[tuple[str, Any]]:
    """One tick's jobs as (entrypoint, (payload, priority)); the first has one of each kind
    plus a declined card, so every pane has something to show from the start."""
    load = wave(elapsed)
    jobs: list[tuple[str, Any]] = []
    for name, peak in _PEAK_PER_TICK.items():
        count = max(_count(peak * load), 1 if first else 0)
        jobs.extend((name, _MAKERS[name]()) for _ in range(count))
    if first:
        jobs.append(("charge_card", _charge(declined=True)))
    if campaign:
        jobs.extend(("send_email", _email()) for _ in range(_random.randint(150, 300)))
    return jobs


async def _enqueue(queries: Queries, jobs: list[tuple[str, Any]]) -> int:
    """One statement for the whole burst: parallel arrays."""
    if not jobs:
        return 0
    entrypoints = [name for name, _ in jobs]
    payloads = [json.dumps(payload) for _, (payload, _) in jobs]
    priorities = [priority for _, (_, priority) in jobs]
    headers: list[dict[str, Any] | None] = [
        {"request_id": uuid.uuid4().hex[:16], "source": "demo"} for _ in jobs
    ]
    ids = await queries.enqueue(entrypoints, payloads, priorities, headers=headers)
    return len(ids)


async def produce(settings: Settings, stop: asyncio.Event) -> None:
    """Enqueue demo bursts every TICK_SECONDS until `stop` is set; reconnect when the
    connection is lost, and keep going."""
    started = time.monotonic()
    next_campaign = started + FIRST_CAMPAIGN_SECONDS
    backoff = Backoff(initial=0.5, maximum=10.0)
    first = True
    total = 0
    while not stop.is_set():
        conn: psycopg.AsyncConnection[Any] | None = None
        try:
            conn = await connect_async(settings, "demo producer")
            queries = Queries(conn, settings.names, settings.max_payload_bytes)
            backoff.reset()
            while not stop.is_set():
                now = time.monotonic()
                campaign = now >= next_campaign
                if campaign:
                    next_campaign = now + CAMPAIGN_EVERY_SECONDS
                total += await _enqueue(
                    queries, burst(now - started, first=first, campaign=campaign)
                )
                first = False
                await wait_for_event(stop, TICK_SECONDS)
        except (psycopg.Error, PgqtopError, OSError) as exc:
            delay = backoff.next_delay()
            reason = first_line(exc, settings.dsn)
            log.warning(
                "demo producer: %s (%s); reconnecting in %.1fs", type(exc).__name__, reason, delay
            )
            await wait_for_event(stop, delay)
        finally:
            if conn is not None:
                await conn.close()
    log.info("demo producer stopped after %d jobs", total)
