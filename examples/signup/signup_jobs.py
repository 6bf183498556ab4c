"""The background jobs of a small sign-up service: a welcome email and a CRM sync.

Run them with `pgqtop --headless --factory signup_jobs:register` from this directory, or drain
what is due from cron with `--burst`.
"""

from __future__ import annotations

import dataclasses

from pgqtop import Job, QueueManager


@dataclasses.dataclass
class Welcome:
    """The welcome email's payload."""

    email: str
    name: str


class CrmUnavailable(Exception):
    """The CRM did not answer; worth another try later."""


class Mailer:
    """Stands in for an SMTP client: remembers what it sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, to: str, subject: str) -> None:
        if not to.count("@") == 1:
            raise ValueError(f"not an email address: {to!r}")
        self.sent.append((to, subject))


class Crm:
    """Stands in for a CRM client that is down for its first `outage` calls."""

    def __init__(self, outage: int = 0) -> None:
        self.outage = outage
        self.contacts: list[str] = []

    def upsert(self, email: str) -> None:
        if self.outage > 0:
            self.outage -= 1
            raise CrmUnavailable("CRM answered 503")
        self.contacts.append(email)


MAILER = Mailer()
CRM = Crm()


def register(qm: QueueManager) -> None:
    @qm.entrypoint("send_welcome", payload=Welcome)
    async def send_welcome(job: Job, welcome: Welcome) -> None:
        MAILER.send(welcome.email, f"Welcome, {welcome.name}!")

    @qm.entrypoint("sync_crm", retry=qm.retry(max_attempts=4, initial_delay=10.0))
    def sync_crm(job: Job) -> None:  # a sync client: runs in the thread pool
        CRM.upsert(job.json()["email"])
