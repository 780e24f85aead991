"""A terminal's line discipline for `kubectl exec -it` / `run -it`: what a pty does between kubectl and the shell.

kubectl puts the learner's terminal in raw mode and sends every key as it is typed; in a real container the pty
echoes it, erases on backspace, hands the shell whole lines, turns ^C into an interrupt and ^D on an empty line into
end-of-file, and turns the programs' `\\n` into `\\r\\n`. `Terminal` does the same over the exec's streams.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import Callable

__all__ = ["Terminal"]

Sink = Callable[[bytes], None]


class Terminal:
    def __init__(self, raw: asyncio.StreamReader, out: Sink):
        self.raw = raw
        self._out = out
        self.stdin = asyncio.StreamReader()
        self.stdin.terminal = self          # the shell looks for this to know it talks to a person
        self.shells: list = []               # interactive shells, innermost last: ^C goes to it
        self.size = (80, 24)
        self._task = asyncio.ensure_future(self._pump())

    def output(self, data: bytes) -> None:
        if data:
            self._out(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))

    async def _pump(self) -> None:
        line = bytearray()
        try:
            while True:
                data = await self.raw.read(4096)
                if not data:
                    break
                for byte in data:
                    if byte in (0x0D, 0x0A):
                        self._out(b"\r\n")
                        self.stdin.feed_data(bytes(line) + b"\n")
                        line.clear()
                    elif byte in (0x7F, 0x08):
                        if line:
                            line.pop()
                            self._out(b"\b \b")
                    elif byte == 0x03:
                        self._out(b"^C\r\n")
                        line.clear()
                        self._interrupt()
                    elif byte == 0x04:
                        if not line:
                            self.stdin.feed_eof()
                            return
                    elif byte == 0x15:
                        self._out(b"\b \b" * len(line))
                        line.clear()
                    elif byte == 0x1B or byte < 0x20 and byte != 0x09:
                        continue      # escape sequences (arrow keys) and other controls: no line editing here
                    else:
                        line.append(byte)
                        self._out(bytes([byte]))
        finally:
            if not self.stdin.at_eof():
                self.stdin.feed_eof()

    def _interrupt(self) -> None:
        shell = self.shells[-1] if self.shells else None
        if shell is None or not shell.interrupt():
            self.stdin.feed_data(b"\n")         # at the prompt: a fresh prompt, as ^C gives

    def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(Exception):
            self.stdin.feed_eof()
