"""The shell that runs inside a pod: expands words, wires pipes and redirections, and runs commands.

`Shell(container)` runs a command line (`sh -c`), a whole session read from stdin (interactive `sh`, with a prompt
when a terminal is attached), or one program directly (`kubectl exec pod -- env`). A program runs only if the
container's image has it (`rootfs.py`); an unknown one fails as the image's shell says it (`sh: foo: not found`,
exit 127), and a direct exec of a missing program fails as the container runtime does. Commands are coroutines
registered with `@command` (`commands.py`, `net.py`); each gets a `Proc` with its arguments, environment and
streams. Streams are `asyncio.StreamReader`s (stdin, pipes: `feed_data` writes, `feed_eof` closes) and sinks
(callables taking bytes).
"""
from __future__ import annotations

import ast
import asyncio
import contextlib
import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable

from ingresslab.cluster.node.shell.parser import (AndOr, ForLoop, IfClause, Pipeline, ShellSyntaxError, Simple,
                                                   WhileLoop, Word, parse)

if TYPE_CHECKING:
    from ingresslab.cluster.node.shell.context import Container

__all__ = ["COMMANDS", "ExecNotFound", "Proc", "Shell", "command", "eof_reader"]

Sink = Callable[[bytes], None]
CommandFn = Callable[["Proc"], Awaitable[int]]
COMMANDS: dict[str, CommandFn] = {}
BUILTINS = ("cd", "exit", "export", "unset", "set", ":", "true", "false", "echo", "pwd", "read", "exec", "type",
            "command")


def command(*names: str):
    """Register a program (the images that have it are declared in `rootfs.py`)."""
    def register(fn: CommandFn) -> CommandFn:
        for name in names:
            COMMANDS[name] = fn
        return fn
    return register


class ExecNotFound(LookupError):
    """A direct exec of a program the image does not have (the runtime's error, not a shell's)."""


class ExitShell(Exception):
    def __init__(self, code: int):
        self.code = code


def eof_reader(data: bytes = b"") -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    if data:
        reader.feed_data(data)
    reader.feed_eof()
    return reader


@dataclass
class Proc:
    """One running command: what it was called with and where its bytes go."""

    args: list[str]
    env: dict[str, str]
    stdin: asyncio.StreamReader
    stdout: Sink
    stderr: Sink
    shell: "Shell"
    pid: int = 0

    @property
    def container(self) -> "Container":
        return self.shell.container

    def out(self, text: str) -> None:
        self.stdout(text.encode())

    def err(self, text: str) -> None:
        self.stderr(text.encode())

    def fail(self, message: str, code: int = 1) -> int:
        self.err(f"{self.args[0]}: {message}\n")
        return code


@dataclass
class Shell:
    container: "Container"
    vars: dict[str, str] = field(default_factory=dict)
    exported: set[str] = field(default_factory=set)
    cwd: str = "/"
    status: int = 0
    name: str = "sh"

    def __post_init__(self) -> None:
        if not self.vars:
            self.vars = dict(self.container.env)
            self.exported = set(self.vars)
            self.cwd = self.container.rootfs.workdir
            self.vars.setdefault("PWD", self.cwd)

    # ------------------------------------------------------------------------------------------ entry points
    async def run_script(self, src: str, stdin, stdout: Sink, stderr: Sink) -> int:
        try:
            tree = parse(src)
        except ShellSyntaxError as exc:
            stderr(f"{self._prefix()}{exc}\n".encode())
            return 2
        try:
            return await self._list(tree, stdin, stdout, stderr)
        except ExitShell as done:
            return done.code

    async def interactive(self, stdin, stdout: Sink, stderr: Sink, *, prompt: bool) -> int:
        """Read and run lines until EOF or `exit` (the shell's own stdin, e.g. `kubectl exec -i … -- sh`)."""
        terminal = getattr(stdin, "terminal", None)
        if terminal is not None:
            terminal.shells.append(self)
        try:
            return await self._session(stdin, stdout, stderr, prompt=prompt)
        finally:
            if terminal is not None:
                terminal.shells.remove(self)

    async def _session(self, stdin, stdout: Sink, stderr: Sink, *, prompt: bool) -> int:
        while True:
            if prompt:
                stderr(self.container.rootfs.prompt(self.cwd).encode())
            line = await stdin.readline()
            if not line:
                if prompt:
                    stdout(b"\n")     # ash prints a newline when ^D ends the session
                return self.status
            text = line.decode(errors="replace")
            while text.rstrip("\n").endswith("\\") or _open_quote(text) or _open_loop(text):
                if prompt:
                    stderr(b"> ")
                more = await stdin.readline()
                if not more:
                    break
                text += more.decode(errors="replace")
            if not text.strip():
                continue
            try:
                tree = parse(text)
            except ShellSyntaxError as exc:
                stderr(f"{self._prefix()}{exc}\n".encode())
                self.status = 2
                continue
            self._foreground = asyncio.ensure_future(self._list(tree, stdin, stdout, stderr))
            try:
                self.status = await self._foreground
            except ExitShell as done:
                return done.code
            except asyncio.CancelledError:
                if not (self._foreground.cancelled() and self._interrupted):
                    raise
                self.status = 130
            finally:
                self._foreground, self._interrupted = None, False

    _foreground = None       # the line running now (class attributes: not dataclass fields)
    _interrupted = False

    def interrupt(self) -> bool:
        """^C from the terminal (`tty.py`): cancel the running line, keep the shell. False when at the prompt."""
        if self._foreground is None or self._foreground.done():
            return False
        self._interrupted = True
        self._foreground.cancel()
        return True

    async def execute(self, argv: list[str], stdin, stdout: Sink, stderr: Sink, *, main: bool = False) -> int:
        """Run argv as the container runtime would (no shell): a program the image lacks raises ExecNotFound.
        `main`: the container's own process (pid 1, already in the process table), not an exec'd one."""
        name = self.resolve(argv[0])
        if name is None:
            raise ExecNotFound(argv[0])
        return await self._run_program(name, argv, dict(self.container.env), stdin, stdout, stderr, main=main)

    # ------------------------------------------------------------------------------------------ the tree
    async def _list(self, items: list[AndOr], stdin, stdout: Sink, stderr: Sink) -> int:
        for item in items:
            code = await self._pipeline(item.first, stdin, stdout, stderr)
            for op, pipeline in item.rest:
                if (op == "&&") == (code == 0):
                    code = await self._pipeline(pipeline, stdin, stdout, stderr)
            self.status = code
        return self.status

    async def _pipeline(self, pipeline: Pipeline, stdin, stdout: Sink, stderr: Sink) -> int:
        cmds = pipeline.commands
        if len(cmds) == 1:
            code = await self._command(cmds[0], stdin, stdout, stderr)
        else:
            pipes = [asyncio.StreamReader() for _ in cmds[1:]]
            tasks = []
            for i, cmd in enumerate(cmds):
                source = stdin if i == 0 else pipes[i - 1]
                sink = stdout if i == len(cmds) - 1 else pipes[i].feed_data
                tasks.append(asyncio.ensure_future(self._piped(cmd, source, sink, stderr,
                                                               pipes[i] if i < len(pipes) else None)))
            try:
                codes = await asyncio.gather(*tasks)
            except BaseException:
                for task in tasks:
                    task.cancel()
                raise
            code = codes[-1]
        return (0 if code else 1) if pipeline.negate else code

    async def _piped(self, cmd, stdin, stdout: Sink, stderr: Sink, out_pipe) -> int:
        try:
            return await self._command(cmd, stdin, stdout, stderr)
        finally:
            if out_pipe is not None:
                out_pipe.feed_eof()

    async def _command(self, cmd, stdin, stdout: Sink, stderr: Sink) -> int:
        if isinstance(cmd, WhileLoop):
            code = 0
            loop = asyncio.get_running_loop()
            while (await self._list(cmd.condition, stdin, stdout, stderr) == 0) != cmd.until:
                started = loop.time()
                code = await self._list(cmd.body, stdin, stdout, stderr)
                # Deliberately slower than a real CPU: a loop with no sleep in it (`while true; do echo; done`)
                # runs at most 1000 rounds a second, so it cannot starve the node's event loop.
                await asyncio.sleep(0.001 if loop.time() - started < 0.001 else 0)
            return code
        if isinstance(cmd, IfClause):
            for condition, body in cmd.branches:
                if await self._list(condition, stdin, stdout, stderr) == 0:
                    return await self._list(body, stdin, stdout, stderr)
            return await self._list(cmd.otherwise, stdin, stdout, stderr) if cmd.otherwise else 0
        if isinstance(cmd, ForLoop):
            items = [w for item in cmd.items for w in await self.expand(item, stderr)]
            code = 0
            for value in items:
                self.vars[cmd.name] = value
                code = await self._list(cmd.body, stdin, stdout, stderr)
            return code
        words = []
        for word in cmd.words:
            words.extend(await self.expand(word, stderr))
        assigned = {name: " ".join(await self.expand(value, stderr, split=False)) for name, value in cmd.assignments}
        if not words:
            self.vars.update(assigned)
            return 0 if not cmd.redirects else await self._with_redirects(cmd, stdin, stdout, stderr, None)
        return await self._with_redirects(cmd, stdin, stdout, stderr, (words, assigned))

    async def _with_redirects(self, cmd: Simple, stdin, stdout: Sink, stderr: Sink, call) -> int:
        files: list[tuple[str, bytearray, bool]] = []
        streams = {0: stdin, 1: stdout, 2: stderr}
        for redirect in cmd.redirects:
            target = " ".join(await self.expand(redirect.target, stderr, split=False))
            if redirect.op == ">&":
                if target in ("1", "2"):
                    streams[redirect.fd] = streams[int(target)]
                continue
            path = self.container.fs.absolute(self.cwd, target)
            if redirect.op == "<":
                try:
                    streams[0] = eof_reader(self.container.fs.read(path))
                except OSError as exc:
                    stderr(f"{self._prefix()}can't open '{target}': {_why(exc)}\n".encode())
                    return 1
                continue
            if path == "/dev/null":
                streams[redirect.fd] = _discard
                continue
            buffer = bytearray()
            files.append((path, buffer, redirect.op == ">>"))
            streams[redirect.fd] = buffer.extend
        if call is None:
            code = 0
        else:
            words, assigned = call
            code = await self._simple(words, assigned, streams[0], streams[1], streams[2])
        for path, buffer, append in files:
            try:
                self.container.fs.write(path, bytes(buffer), append=append)
            except OSError as exc:
                stderr(f"{self._prefix()}can't create {path}: {_why(exc)}\n".encode())
                code = 1
        return code

    async def _simple(self, words: list[str], assigned: dict[str, str], stdin, stdout: Sink, stderr: Sink) -> int:
        name = words[0]
        if name in BUILTINS and (name not in ("echo", "true", "false") or self.container.rootfs.has("sh")):
            from ingresslab.cluster.node.shell import builtins
            return await builtins.run(self, words, assigned, stdin, stdout, stderr)
        program = self.resolve(name)
        if program is None:
            stderr(f"{self._prefix()}{name}: not found\n".encode())
            return 127
        env = {k: v for k, v in self.vars.items() if k in self.exported}
        env.update(assigned)
        return await self._run_program(program, words, env, stdin, stdout, stderr)

    async def _run_program(self, program: str, argv: list[str], env: dict[str, str], stdin, stdout: Sink,
                           stderr: Sink, *, main: bool = False) -> int:
        proc = Proc([program.rsplit("/", 1)[-1], *argv[1:]], env, stdin, stdout, stderr, self)
        table = self.container.processes
        proc.pid = 1 if main else table.start(self.container.rootfs.user.name, " ".join(argv))
        try:
            return await COMMANDS[program](proc)
        finally:
            table.end(proc.pid)

    def resolve(self, name: str) -> str | None:
        """The program `name` (or a path to it) stands for in this image, or None."""
        base = name.rsplit("/", 1)[-1]
        if "/" in name and not self.container.rootfs.has_path(self.container.fs.absolute(self.cwd, name)):
            return None
        return base if self.container.rootfs.has(base) and base in COMMANDS else None

    # ------------------------------------------------------------------------------------------ expansion
    async def expand(self, word: Word, stderr: Sink, *, split: bool = True) -> list[str]:
        fields: list[str] = [""]
        has_text = False
        for kind, text, quoted in word.parts:
            if kind == "lit":
                fields[-1] += text
                has_text = True
                continue
            if kind == "var":
                value = self._var(text)
            elif kind == "arith":
                value = self._arith(text)
            else:
                value = await self._substitute(text, stderr)
            if quoted or not split:
                fields[-1] += value
                has_text = True
                continue
            pieces = value.split()
            if not pieces:
                continue
            if value[:1].isspace() and fields[-1]:
                fields.append("")
            fields[-1] += pieces[0]
            fields.extend(pieces[1:])
            has_text = True
            if value[-1:].isspace():
                fields.append("")
        fields = [f for f in fields if f] if split else fields
        if not fields and has_text and word.quoted:
            return [""]
        return fields

    def _var(self, name: str) -> str:
        if name == "?":
            return str(self.status)
        if name == "$":
            return str(self.container.processes.shell_pid)
        if name == "#":
            return "0"
        if name == "0":
            return self.name
        if ":-" in name:
            key, _, default = name.partition(":-")
            return self.vars.get(key) or default
        return self.vars.get(name, "")

    def _arith(self, expr: str) -> str:
        """$((…)): integers, + - * / % and comparisons, names read as shell variables (unset or not a number: 0)."""
        def value(name: str) -> int:
            text = self.vars.get(name, "0").strip() or "0"
            return int(text) if text.lstrip("-").isdigit() else 0
        expr = re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: str(value(m.group(1))), expr)
        expr = re.sub(r"[A-Za-z_][A-Za-z0-9_]*", lambda m: str(value(m.group(0))), expr)
        if not re.fullmatch(r"[0-9\s+\-*/%()<>=!]*", expr):
            raise ShellSyntaxError(f"arithmetic syntax error: {expr}")
        try:
            result = _evaluate(ast.parse(expr.strip() or "0", mode="eval").body)
        except (SyntaxError, ZeroDivisionError, ValueError):
            raise ShellSyntaxError(f"arithmetic syntax error: {expr}") from None
        return str(int(result))

    async def _substitute(self, src: str, stderr: Sink) -> str:
        out = bytearray()
        sub = Shell(self.container, dict(self.vars), set(self.exported), self.cwd, self.status, self.name)
        await sub.run_script(src, eof_reader(), out.extend, stderr)
        return out.decode(errors="replace").rstrip("\n")

    def _prefix(self) -> str:
        return self.container.rootfs.shell_error_prefix(self.name)


_BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.FloorDiv: lambda a, b: int(a / b), ast.Div: lambda a, b: int(a / b), ast.Mod: lambda a, b: a % b}
_COMPARE = {ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b,
            ast.GtE: lambda a, b: a >= b, ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b}


def _evaluate(node) -> int:
    """Only integer literals and the operators above: nothing in an expression can call or name anything."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return -_evaluate(node.operand) if isinstance(node.op, ast.USub) else _evaluate(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        return int(_COMPARE[type(node.ops[0])](_evaluate(node.left), _evaluate(node.comparators[0])))
    raise ValueError("not arithmetic")


def _discard(_: bytes) -> None:
    pass


def _why(exc: OSError) -> str:
    return {FileNotFoundError: "No such file or directory",
            IsADirectoryError: "Is a directory", PermissionError: "Permission denied"}.get(type(exc), str(exc))


def _open_quote(text: str) -> bool:
    try:
        shlex.split(text, comments=True)
    except ValueError:
        return True
    return False


def _open_loop(text: str) -> bool:
    with contextlib.suppress(ShellSyntaxError):
        parse(text)
        return False
    words = text.replace(";", " ").split()
    return words.count("do") > words.count("done") or words.count("if") > words.count("fi")
