"""Container logs as the kubelet keeps them: one file and an in-memory ring per container, and followers.

Each container's log lines (the apps' access logs) go to `home/logs/pods/<ns>_<pod>.log` (`<ns>_<pod>_<container>.log`
for a pod's further containers) and to a ring of the last `RING_LINES` lines that `kubectl logs` reads. When the
container is restarted, what it logged becomes the previous instance's log (`rotate()`, `kubectl logs --previous`),
kept on disk as `<name>.previous.log`. `LogFollower` serves `kubectl logs -f`. Neighbour: `kubelet.py` owns one
`PodLog` per container and answers the API's `/log` subresource from them.
"""
from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from datetime import datetime, timezone
from itertools import repeat
from pathlib import Path

RING_LINES = 10_000


class PodLog:
    """One container's log: the file on disk, the recent lines in memory, and the followers waiting for more."""

    def __init__(self, path: Path, *, resume: bool):
        self.path = path
        self.lines: deque[tuple[float, str]] = deque(maxlen=RING_LINES)
        if resume and path.exists():
            with open(path, encoding="utf-8", errors="replace") as f:
                self.lines.extend((0.0, line.rstrip("\n")) for line in f)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a" if resume else "w", encoding="utf-8")
        self._followers: set[asyncio.Queue] = set()
        self._flush_pending = False
        self._unwritten: list[str] = []      # appended lines not yet in the file (written at the end of the turn)
        self.previous: list[tuple[float, str]] | None = None    # the previous instance's lines, after a restart

    def append(self, line: str) -> None:
        self.lines.append((time.time(), line))
        if self._file is not None:
            self._unwritten.append(line)
            if not self._flush_pending:
                self._schedule_flush()
        for queue in self._followers:
            queue.put_nowait(line)

    def extend_text(self, text: str) -> None:
        """Append a block of lines, each ending in a newline (as the pods' process sends them): the same as
        `append` for each, with one clock read, and one piece of text for the file."""
        if not text:
            return
        lines = text.split("\n")
        lines.pop()
        self.lines.extend(zip(repeat(time.time()), lines))
        if self._file is not None:
            self._unwritten.append(text[:-1])
            if not self._flush_pending:
                self._schedule_flush()
        for queue in self._followers:
            for line in lines:
                queue.put_nowait(line)

    def _schedule_flush(self) -> None:
        """Write at the end of this turn of the event loop: the lines of every request served in the same turn go
        to disk in one write instead of one each (the file is still current before anything else runs)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._flush()
            return
        self._flush_pending = True
        loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        if self._file is not None and self._unwritten:
            self._file.write("\n".join(self._unwritten) + "\n")
            self._unwritten.clear()
            self._file.flush()

    def rotate(self) -> None:
        """The container was restarted: what it logged becomes the previous instance's log (`logs --previous`),
        kept on disk beside the current one as `<name>.previous.log`."""
        self.previous = list(self.lines)
        self.lines.clear()
        if self._file is not None:
            self._flush()
            self._file.close()
            os.replace(self.path, self.path.with_suffix(".previous.log"))
            self._file = open(self.path, "w", encoding="utf-8")

    def select(self, *, tail: int | None, since_seconds: int | None, timestamps: bool,
               previous: bool = False) -> list[str]:
        lines = list(self.previous or []) if previous else list(self.lines)
        if since_seconds is not None:
            cutoff = time.time() - since_seconds
            lines = [entry for entry in lines if entry[0] >= cutoff]
        if tail is not None and tail >= 0:
            lines = lines[len(lines) - tail:] if tail else []
        if timestamps:
            return [f"{datetime.fromtimestamp(t, timezone.utc).isoformat().replace('+00:00', 'Z')} {line}"
                    for t, line in lines]
        return [line for _, line in lines]

    def close(self) -> None:
        if self._file is not None:
            self._flush()
            self._file.close()
            self._file = None
        for queue in self._followers:
            queue.put_nowait(None)


class LogFollower:
    """`async for line in kubelet.follow(ns, pod)`: lines logged from the moment of the call until the pod goes."""

    def __init__(self, log: PodLog | None):
        self._log = log
        self._queue: asyncio.Queue = asyncio.Queue()
        if log is not None and log._file is not None:
            log._followers.add(self._queue)
        else:
            self._queue.put_nowait(None)

    def __aiter__(self) -> "LogFollower":
        return self

    async def __anext__(self) -> str:
        line = await self._queue.get()
        if line is None:
            await self.aclose()
            raise StopAsyncIteration
        return line

    async def aclose(self) -> None:
        if self._log is not None:
            self._log._followers.discard(self._queue)
            self._log = None
