"""A job's whole story for the console's go-to-job: the lines `pgqtop job ID` prints, as
literal text (nothing in them is read as markup; control characters are escaped), with the
headline in the colour of how the job stands."""

from __future__ import annotations

from rich.text import Text

from pgqtop.config import Settings
from pgqtop.model.messages import printable
from pgqtop.operations import JobState, JobStory
from pgqtop.story import story_lines
from pgqtop.tui.themes import TextColours


def story_renderable(story: JobStory, settings: Settings, ink: TextColours) -> Text:
    lines = [printable(part) for line in story_lines(story, settings) for part in line.split("\n")]
    tone = {
        JobState.SUCCEEDED: ink.success,
        JobState.FAILED: ink.error,
        JobState.CANCELED: ink.error,
    }.get(story.status, "")
    body = Text(lines[0], style=f"bold {tone}".strip())
    for line in lines[1:]:
        body.append("\n")
        body.append(line)
    return body
