"""Debouncing and scheduling for the widgets, without any widget import (so it is testable alone).

A text box with `continuous_update` reports every keystroke; the preview should follow the *pause*, not each key.
`Debouncer(wait, fn)` calls `fn` once, `wait` seconds after the last `trigger()`. Time comes from a scheduler
(`call_later(delay, fn) -> handle with .cancel()`): in a Jupyter kernel that is the kernel's running asyncio loop,
so callbacks run on the kernel's own thread, as widget updates must. Outside a loop (a script, a test) there is
nothing to wait on, and `trigger()` calls `fn` at once — correct, just not debounced. Tests pass a manual clock.

Neighbours: `builder.py` (the preview), `replicas.py` (following endpoints).
"""
from __future__ import annotations

import asyncio
from typing import Callable, Protocol


class Handle(Protocol):
    def cancel(self) -> None: ...


Scheduler = Callable[[float, Callable[[], None]], "Handle | None"]


def loop_call_later(delay: float, fn: Callable[[], None]) -> Handle | None:
    """The running asyncio loop's `call_later`, or None when no loop runs in this thread."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return loop.call_later(delay, fn)


class Debouncer:
    """Call `fn` once, `wait` seconds after the last of a burst of `trigger()` calls."""

    def __init__(self, wait: float, fn: Callable[[], None], *, schedule: Scheduler = loop_call_later):
        if wait < 0:
            raise ValueError("wait is a duration in seconds, >= 0")
        self.wait = wait
        self._fn = fn
        self._schedule = schedule
        self._handle: Handle | None = None
        self.calls = 0

    @property
    def pending(self) -> bool:
        return self._handle is not None

    def trigger(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._schedule(self.wait, self._fire)
        if self._handle is None:          # no loop to wait on: do it now
            self._fire()

    def flush(self) -> None:
        """Run a pending call now (e.g. before Apply, so the preview is never stale)."""
        if self._handle is not None:
            self._handle.cancel()
            self._fire()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        self.calls += 1
        self._fn()


class ManualClock:
    """A scheduler whose time moves only when told (`advance`): debounce logic tested without sleeping."""

    def __init__(self):
        self.now = 0.0
        self._due: list[list] = []       # [when, fn, cancelled]

    def __call__(self, delay: float, fn: Callable[[], None]) -> Handle:
        entry = [self.now + delay, fn, False]
        self._due.append(entry)

        class _Handle:
            def cancel(self_inner) -> None:
                entry[2] = True
        return _Handle()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        ready = sorted((e for e in self._due if e[0] <= self.now and not e[2]), key=lambda e: e[0])
        self._due = [e for e in self._due if e[0] > self.now and not e[2]]
        for _, fn, _ in ready:
            fn()
