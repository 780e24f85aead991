"""One way for the tests to wait for something the lab does asynchronously (importable from every test folder:
pyproject's pytest `pythonpath` names this one)."""
from __future__ import annotations

import time


def eventually(check, timeout: float = 15.0, interval: float = 0.01, what: str = ""):
    """Poll `check()` until it returns something truthy and return that; fail after `timeout` seconds with the last
    value it returned."""
    deadline, value = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what or 'condition'} not true within {timeout} s; last value: {value!r}")
