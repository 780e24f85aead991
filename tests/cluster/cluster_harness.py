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


async def get(ip: str, port: int, path: str = "/") -> str:
    """One HTTP/1.0 GET over a fresh connection; the whole answer as text."""
    reader, writer = await asyncio.open_connection(ip, port)
    writer.write(f"GET {path} HTTP/1.0\r\nHost: test\r\nUser-Agent: test-cluster\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    return data.decode()


async def refused(ip: str, port: int) -> bool:
    """True when nothing listens at ip:port (what a Service without ready endpoints looks like)."""
    try:
        _, writer = await asyncio.open_connection(ip, port)
    except ConnectionRefusedError:
        return True
    writer.close()
    await writer.wait_closed()
    return False
