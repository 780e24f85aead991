"""Helpers shared by the cluster tests (imported by name: pytest puts this folder on sys.path)."""
from __future__ import annotations

import asyncio
import functools
import gc


def run_async(test):
    """Run an async test in its own loop; it must leave no task and no unclosed resource behind."""
    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        async def main():
            await test(*args, **kwargs)
            await asyncio.sleep(0)
            assert asyncio.all_tasks() == {asyncio.current_task()}
        asyncio.run(main())
        gc.collect()    # an unclosed socket or stream would raise its ResourceWarning now (warnings are errors)
    return wrapper
