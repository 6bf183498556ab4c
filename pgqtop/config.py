"""Settings: where the database is, what our objects are called, and how the engine behaves.

Every database object name is derived from one prefix, so several independent queues (or test
runs) can share a database without touching each other.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import platformdirs
import psycopg.conninfo
import tomli_w

from pgqtop.errors import ConfigError

APP_NAME = "pgqtop"
DEFAULT_PREFIX = "pgqtop"
_PREFIX_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")
DSN_ENVIRONMENT = ("PGQTOP_DSN", "DATABASE_URL")


PREFIX_VARIABLE = "PGQTOP_PREFIX"


def validate_prefix(prefix: str, source: str = "the prefix") -> str:
    """Refuse a prefix that would not make plain, unquoted-safe identifiers. An empty or blank
    one is refused by name: it must never quietly stand for the default queue. `source` says
    where the prefix came from, for the message."""
    if not prefix.strip():
        raise ConfigError(
            f"{source} is empty: name a prefix (lower-case letters, digits and underscores), "
            f"or leave it out for the default {DEFAULT_PREFIX!r}"
        )
    if not _PREFIX_PATTERN.fullmatch(prefix):
        origin = "" if source == "the prefix" else f" from {source}"
        raise ConfigError(
            f"invalid prefix {prefix!r}{origin}: use lower-case letters, digits and underscores "
            "(at most 40, not starting with a digit)"
        )
    return prefix


def resolve_prefix(
    explicit: str | None, profile: str | None = None, env: Mapping[str, str] | None = None
) -> str:
    """The prefix to use: the one given (`--prefix`), else the profile's, else $PGQTOP_PREFIX,
    else the default. A source that is present but empty is an error, not a fallthrough."""
    if explicit is not None:
        return validate_prefix(explicit)
    if profile is not None:
        return validate_prefix(profile, "the profile's prefix")
    environ = os.environ if env is None else env
    variable = environ.get(PREFIX_VARIABLE)
    if variable is not None:
        if not variable.strip():
            raise ConfigError(
                f"${PREFIX_VARIABLE} is set but empty: unset it for the default "
                f"{DEFAULT_PREFIX!r}, or name a prefix"
            )
        return validate_prefix(variable, f"${PREFIX_VARIABLE}")
    return DEFAULT_PREFIX


@dataclasses.dataclass(frozen=True, slots=True)
class ObjectNames:
    """The name of every database object pgqtop owns, derived from one prefix."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        validate_prefix(self.prefix)

    @property
    def jobs(self) -> str:
        return f"{self.prefix}_jobs"

    @property
    def statistics(self) -> str:
        return f"{self.prefix}_statistics"

    @property
    def failures(self) -> str:
        return f"{self.prefix}_failures"

    @property
    def control(self) -> str:
        return f"{self.prefix}_control"

    @property
    def workers(self) -> str:
        return f"{self.prefix}_workers"

    @property
    def meta(self) -> str:
        return f"{self.prefix}_meta"

    @property
    def schedules(self) -> str:
        return f"{self.prefix}_schedules"

    @property
    def finished(self) -> str:
        return f"{self.prefix}_finished"

    @property
    def history(self) -> str:
        return f"{self.prefix}_history"

    @property
    def history_samples(self) -> str:
        return f"{self.prefix}_history_samples"

    @property
    def audit(self) -> str:
        return f"{self.prefix}_audit"

    @property
    def claims(self) -> str:
        return f"{self.prefix}_claims"

    @property
    def status_type(self) -> str:
        return f"{self.prefix}_status"

    @property
    def channel(self) -> str:
        """Every change, for consoles: jobs added, taken, finished, pauses, cancels, audit."""
        return f"{self.prefix}_events"

    @property
    def work_channel(self) -> str:
        """What a worker acts on, for workers: new or returning queued jobs, pauses and
        resumes, cancel requests. Taking and finishing jobs says nothing here, so a fleet's
        own traffic does not wake every worker of it."""
        return f"{self.prefix}_work"

    @property
    def notify_function(self) -> str:
        return f"{self.prefix}_notify_changes"

    @property
    def enqueue_function(self) -> str:
        """Adds a batch of jobs for a role that may not touch the jobs table itself."""
        return f"{self.prefix}_enqueue"

    @property
    def enqueue_one_function(self) -> str:
        """Adds one job: the common call from a web request, without arrays."""
        return f"{self.prefix}_enqueue_one"

    def index(self, name: str) -> str:
        return f"{self.prefix}_{name}"


@dataclasses.dataclass(slots=True)
class EngineSettings:
    """Knobs of the worker engine; defaults favour throughput without starving latency."""

    batch_size: int = 100
    concurrency: int = 200
    dequeue_timeout: float = 5.0
    retry_timer: float = 30.0
    heartbeat_interval: float = 5.0
    """The longest gap between heartbeats; a worker beats at least three times per retry
    timer whatever this says (engine/timing.py)."""
    flush_size: int = 200
    flush_interval: float = 0.01
    shutdown_grace: float = 30.0
    worker_stale_after: float = 30.0
    default_max_attempts: int = 3
    """How many times a job of an entrypoint without a retry policy may be taken before a
    job whose worker keeps disappearing is given up (a retry policy's max_attempts otherwise)."""
    max_memory: int | None = None
    """Bytes of resident memory past which a worker drains and exits; None for no limit."""
    claim: str = "update"
    """How a batch is taken: "update" marks every job picked as it is taken; "lock" holds the
    batch by row locks in an open transaction and writes nothing per job until it ends (jobs
    still running at `claim_deadline` are then marked picked); see engine/lanes.py."""
    claim_deadline: float = 0.2
    """Seconds a lock-claimed batch stays in its transaction before the jobs still running
    are marked picked and it commits, so no transaction stays open long."""
    lanes: int = 2
    """Lock-claimed batches held at once, each on a connection of its own."""
    listen_seats: int = 2
    """At most this many workers serving the same entrypoints hold a LISTEN connection; the
    others poll every `poll_interval` until a seat frees (engine/seats.py); 0: all listen."""


DEFAULT_POLL_INTERVAL = 1.0


@dataclasses.dataclass(slots=True)
class Settings:
    """Everything a command needs to reach the database and name its objects."""

    dsn: str = ""
    names: ObjectNames = dataclasses.field(default_factory=ObjectNames)
    engine: EngineSettings = dataclasses.field(default_factory=EngineSettings)
    max_payload_bytes: int = 1024 * 1024
    failure_retention_days: float = 7.0
    failure_retention_rows: int = 100_000
    statistics_retention_days: float = 14.0
    keep_finished_seconds: float = 3600.0
    """How long workers keep a finished job's row for `pgqtop job`; 0 keeps none."""
    keep_finished_rows: int = 500_000
    """Finished jobs more than this many ids older than the newest job go, so at most this many
    are kept."""
    history_interval: float = 10.0
    """Seconds between the fleet's queue-history samples; 0 stops this process taking them."""
    history_retention_hours: float = 24.0
    read_only: bool = False
    listen_dsn: str | None = None
    """Where the LISTEN connection goes when not `dsn`: a session-mode pooler or the server
    itself, while `dsn` goes through a transaction-mode pooler (LISTEN needs a session)."""
    listen: bool = True
    """False: no LISTEN at all; workers and the console look every `poll_interval` instead."""
    poll_interval: float = DEFAULT_POLL_INTERVAL
    """Seconds between looks for new work without LISTEN (`listen` off, or a hot standby)."""

    @property
    def pooled(self) -> bool:
        """Told of a transaction pooler (LISTEN elsewhere or not at all): a worker then keeps
        to one work connection and nothing session-bound, prepared statements included."""
        return self.listen_dsn is not None or not self.listen

    @property
    def notify_dsn(self) -> str:
        """The DSN of the LISTEN connection."""
        return self.listen_dsn or self.dsn

    @classmethod
    def create(cls, dsn: str | None = None, prefix: str | None = None, **kwargs: Any) -> Settings:
        return cls(
            dsn=resolve_dsn(dsn),
            names=ObjectNames(resolve_prefix(prefix)),
            **kwargs,
        )


def resolve_dsn(explicit: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """`--dsn`, else PGQTOP_DSN, else DATABASE_URL, else "" (libpq then reads its PG* variables)."""
    environ = os.environ if env is None else env
    if explicit:
        return explicit
    for name in DSN_ENVIRONMENT:
        value = environ.get(name)
        if value:
            return value
    return ""


def dsn_given(env: Mapping[str, str] | None = None) -> bool:
    """True when the user pointed us at a database in any of the ways libpq or we understand."""
    environ = os.environ if env is None else env
    return any(environ.get(name) for name in (*DSN_ENVIRONMENT, "PGHOST", "PGDATABASE"))


def describe_dsn(dsn: str) -> str:
    """A display form of a DSN: host, port, database and user, never the password."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(unparsable connection string)"
    host = str(params.get("host") or os.environ.get("PGHOST") or "local socket")
    if host.startswith("/"):
        host = "local socket"
    port = str(params.get("port") or os.environ.get("PGPORT") or "5432")
    dbname = str(params.get("dbname") or os.environ.get("PGDATABASE") or "")
    user = str(params.get("user") or os.environ.get("PGUSER") or "")
    host, port, dbname, user = (_shortened(part) for part in (host, port, dbname, user))
    who = f"{user}@" if user else ""
    return f"{who}{host}:{port}/{dbname}" if dbname else f"{who}{host}:{port}"


def _shortened(part: str, limit: int = 64) -> str:
    """A part of a DSN as messages show it: a hostile 10,000-character host stays readable."""
    return part if len(part) <= limit else f"{part[: limit - 1]}…"


# --- user files -------------------------------------------------------------------------------


def config_dir() -> Path:
    override = os.environ.get("PGQTOP_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir(APP_NAME))


def state_dir() -> Path:
    override = os.environ.get("PGQTOP_STATE_DIR")
    return Path(override) if override else Path(platformdirs.user_state_dir(APP_NAME))


def data_dir() -> Path:
    override = os.environ.get("PGQTOP_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME))


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file; a malformed one raises ConfigError naming the file and the problem."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def config_path() -> Path:
    """The hand-edited config file: connection profiles, and the console's preferences."""
    return config_dir() / "config.toml"


@dataclasses.dataclass(frozen=True, slots=True)
class Profile:
    """A saved connection: a DSN without a password, optionally the prefix of a queue, and how
    notifications arrive (a DSN of their own, or none: poll every `poll_interval`)."""

    dsn: str
    prefix: str | None = None
    listen_dsn: str | None = None
    listen: bool | None = None
    poll_interval: float | None = None


PROFILE_KEYS = ("dsn", "prefix", "listen_dsn", "listen", "poll_interval")


def parse_profile(name: str, table: object, path: Path) -> Profile:
    """One `[profiles.NAME]` table, checked: a well-formed DSN without a password (passwords
    belong in PGPASSWORD or ~/.pgpass), a valid prefix if one is given, no other keys."""
    if not isinstance(table, dict) or not isinstance(table.get("dsn"), str):
        raise ConfigError(f"{path}: profile {name!r} needs a dsn string")
    unknown = sorted(set(table) - set(PROFILE_KEYS))
    if unknown:
        raise ConfigError(
            f"{path}: profile {name!r} has unknown keys {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(PROFILE_KEYS)})"
        )
    dsn = _profile_dsn(table["dsn"], "dsn", name, path)
    prefix = table.get("prefix")
    if prefix is not None:
        if not isinstance(prefix, str):
            raise ConfigError(f"{path}: profile {name!r}: prefix must be a string")
        validate_prefix(prefix, f"{path}: the prefix of profile {name!r}")
    listen_dsn = table.get("listen_dsn")
    if listen_dsn is not None:
        if not isinstance(listen_dsn, str):
            raise ConfigError(f"{path}: profile {name!r}: listen_dsn must be a string")
        _profile_dsn(listen_dsn, "listen_dsn", name, path)
    listen = table.get("listen")
    if listen is not None and not isinstance(listen, bool):
        raise ConfigError(f"{path}: profile {name!r}: listen must be true or false")
    poll = table.get("poll_interval")
    if poll is not None:
        if isinstance(poll, bool) or not isinstance(poll, int | float):
            raise ConfigError(f"{path}: profile {name!r}: poll_interval must be seconds")
        try:
            poll = check_poll_interval(float(poll))
        except ConfigError as exc:
            raise ConfigError(f"{path}: profile {name!r}: {exc}") from None
    return Profile(dsn, prefix, listen_dsn, listen, None if poll is None else float(poll))


def _profile_dsn(dsn: str, key: str, name: str, path: Path) -> str:
    """A profile's DSN, well formed and without a password."""
    try:
        has_password = bool(psycopg.conninfo.conninfo_to_dict(dsn).get("password"))
    except psycopg.ProgrammingError:
        raise ConfigError(f"{path}: profile {name!r} has a malformed {key}") from None
    if has_password:
        raise ConfigError(
            f"{path}: profile {name!r} contains a password; use PGPASSWORD or ~/.pgpass"
        )
    return dsn


MAX_POLL_INTERVAL = 3600.0


def check_poll_interval(seconds: float) -> float:
    """A poll interval in (0, an hour]: a typo must not turn into a worker that never looks."""
    if not (seconds == seconds and 0 < seconds <= MAX_POLL_INTERVAL):
        raise ConfigError(
            f"poll interval must be more than 0 and at most {MAX_POLL_INTERVAL:g} seconds, "
            f"not {seconds:g}"
        )
    return seconds


def parse_profile_tables(data: Mapping[str, Any], path: Path) -> dict[str, Profile]:
    """Every `[profiles.NAME]` table of a config file, each checked."""
    raw_profiles = data.get("profiles", {})
    if not isinstance(raw_profiles, dict):
        raise ConfigError(f"{path}: [profiles] must be a table")
    return {str(name): parse_profile(str(name), t, path) for name, t in raw_profiles.items()}


def parse_profiles(data: Mapping[str, Any], path: Path) -> dict[str, str]:
    """The DSN of each profile of a config file, every profile checked."""
    return {name: p.dsn for name, p in parse_profile_tables(data, path).items()}


def read_profile_tables(path: Path | None = None) -> dict[str, Profile]:
    """The connection profiles of the config file; none when there is no file."""
    path = path or config_path()
    if not path.exists():
        return {}
    return parse_profile_tables(read_toml(path), path)


def read_profile(name: str, profiles: Mapping[str, Profile] | None = None) -> Profile:
    """The profile saved under a name, or ConfigError listing the known ones."""
    known = read_profile_tables() if profiles is None else profiles
    try:
        return known[name]
    except KeyError:
        listed = ", ".join(sorted(known)) or "none"
        raise ConfigError(f"no connection profile {name!r} (known: {listed})") from None


def profile_dsn(name: str) -> str:
    """The DSN saved under a profile name, or ConfigError listing the known ones."""
    return read_profile(name).dsn


def write_toml(path: Path, data: Mapping[str, Any]) -> None:
    """Write machine-owned state atomically so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(tomli_w.dumps(dict(data)), encoding="utf-8")
    temporary.replace(path)
