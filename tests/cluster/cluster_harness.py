"""Helpers shared by the cluster tests (imported by name: pytest puts this folder on sys.path)."""
from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
from pathlib import Path

from ingresslab.cluster.components import start_controllers
from ingresslab.cluster.node.network import Network, acquire_slot
from ingresslab.cluster.storage.store import Store


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


@contextlib.asynccontextmanager
async def running_controllers(home: Path, *, store: Store | None = None, slot=None):
    """Every built-in controller on a store (a fresh in-memory one, with the default namespace, unless given) and
    an address slot (acquired here unless given): yields (store, controllers, network). What this acquired, it
    releases; the caller's store and slot stay open, so a test can restart the controllers on them."""
    own_slot = slot is None
    slot = slot or acquire_slot()
    store = store or Store(None)
    if store.get("namespaces", "", "default") is None:
        store.create("namespaces", {"metadata": {"name": "default"}})
    network = Network(slot.slot)
    try:
        controllers = await start_controllers(store, network, home=home)
        try:
            yield store, controllers, network
        finally:
            await controllers.stop()
    finally:
        if own_slot:
            store.close()
            slot.release()
