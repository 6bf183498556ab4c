"""`pgqtop job ID`: what happened to one job, from the moment it was due to how it ended."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from typing import Any

from pgqtop import operations
from pgqtop.commands.common import print_json, say, session, settings_from
from pgqtop.config import Settings
from pgqtop.errors import PgqtopError
from pgqtop.operations import JobStory
from pgqtop.story import parse_job_id as parse_job_id
from pgqtop.story import retention_note, story_lines


class UnknownJob(PgqtopError):
    """No table holds anything of the job: never enqueued, or gone longer than they keep it."""

    exit_code = 1


def job(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    job_id = parse_job_id(args.job_id)
    story = asyncio.run(_story(settings, job_id))
    if story is None:
        raise UnknownJob(f"no job {job_id} ({retention_note(settings)})")
    if args.json:
        print_json(story_record(story))
    else:
        for line in story_lines(story, settings):
            for part in line.split("\n"):  # a traceback keeps its lines; each is escaped
                say(part)
    return 0


async def _story(settings: Settings, job_id: int) -> JobStory | None:
    async with session(settings, "job") as queries:
        return await operations.job_story(queries, job_id)


def story_record(story: JobStory) -> dict[str, Any]:
    """The story as JSON-ready data: every field of JobStory, the status as its text."""
    record = dataclasses.asdict(story)
    record["status"] = story.status.value
    return record
