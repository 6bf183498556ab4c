"""`pgqtop --headless --burst`: drain what is due, log how it went, exit with a code that
says so (engine/burst.py has the table)."""

from __future__ import annotations

import argparse
import logging

from pgqtop.engine.manager import QueueManager

log = logging.getLogger("pgqtop.headless")


async def run_burst(manager: QueueManager, args: argparse.Namespace) -> int:
    """Run one burst on `manager`; its exit code, failures counting unless told otherwise."""
    result = await manager.run_burst()
    log.info("%s", result.summary())
    if result.paused_left:
        log.warning("%s", result.paused_message())
    return result.exit_code(fail_on_failure=getattr(args, "burst_fail_exit", True))
