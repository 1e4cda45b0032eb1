"""Test-only jobs, loaded into a scheduler through ``CASHOUT_SCHEDULER_EXTRA_JOBS=counting_jobs:ONE_SHOT``.

Each run appends its run id to the file named by ``COUNTING_JOBS_FILE`` (one ``write`` of one
line with ``O_APPEND``: lines from several processes never interleave), so a test counts runs
across processes exactly.
"""

from __future__ import annotations

import asyncio
import os

from cashout_server.runtime import Runtime
from cashout_server.scheduler import JobSpec, current_run


async def count(runtime: Runtime) -> dict[str, int]:
    """Record this run in the counter file."""
    line = f"{current_run.get()} {os.getpid()}\n".encode()
    fd = os.open(os.environ["COUNTING_JOBS_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    await asyncio.sleep(float(os.environ.get("COUNTING_JOBS_SLEEP", "0.01")))
    return {"counted": 1}


ONE_SHOT = [
    JobSpec(
        f"test.once_{n:03d}",
        count,
        86400 * 30,
        "a one-shot job (a month apart)",
        first_delay_seconds=float(os.environ.get("COUNTING_JOBS_DELAY", "2")),
    )
    for n in range(100)
]
MANUAL = [JobSpec("test.count", count, 0, "counts a run; only on demand")]


def counted(path: str) -> list[str]:
    """The run ids recorded in the counter file ``path``."""
    try:
        with open(path) as handle:
            return [line.split()[0] for line in handle if line.strip()]
    except FileNotFoundError:
        return []
