"""The shell's own commands, which change the shell itself or need no program: cd, exit, export, unset, set, read,
echo, true, false, pwd, type/command -v, exec, `:`."""
from __future__ import annotations

from ingresslab.cluster.node.shell.interp import ExitShell, Shell, Sink


async def run(shell: Shell, words: list[str], assigned: dict[str, str], stdin, stdout: Sink, stderr: Sink) -> int:
    name, args = words[0], words[1:]
    prefix = shell._prefix()
    if name in (":", "true"):
        return 0
    if name == "false":
        return 1
    if name == "echo":
        newline = True
        if args[:1] == ["-n"]:
            newline, args = False, args[1:]
        stdout((" ".join(args) + ("\n" if newline else "")).encode())
        return 0
    if name == "pwd":
        stdout(f"{shell.cwd}\n".encode())
        return 0
    if name == "cd":
        target = args[0] if args else shell.vars.get("HOME", "/")
        path = shell.container.fs.absolute(shell.cwd, target)
        if not shell.container.fs.exists(path):
            stderr(f"{prefix}cd: can't cd to {target}: No such file or directory\n".encode())
            return 2
        if not shell.container.fs.is_dir(path):
            stderr(f"{prefix}cd: can't cd to {target}: Not a directory\n".encode())
            return 2
        shell.cwd = path
        shell.vars["PWD"] = path
        return 0
    if name == "exit":
        try:
            code = int(args[0]) & 0xFF if args else shell.status
        except ValueError:
            stderr(f"{prefix}exit: Illegal number: {args[0]}\n".encode())
            code = 2
        raise ExitShell(code)
    if name == "export":
        if not args:
            for key in sorted(shell.exported):
                if key in shell.vars:
                    stdout(f"export {key}='{shell.vars[key]}'\n".encode())
            return 0
        for arg in args:
            key, eq, value = arg.partition("=")
            if eq:
                shell.vars[key] = value
            shell.exported.add(key)
        return 0
    if name == "unset":
        for key in args:
            shell.vars.pop(key, None)
            shell.exported.discard(key)
        return 0
    if name == "set":
        if not args:
            for key in sorted(shell.vars):
                stdout(f"{key}='{shell.vars[key]}'\n".encode())
        return 0
    if name == "read":
        line = (await stdin.readline()).decode(errors="replace")
        if not line:
            return 1
        names = [a for a in args if not a.startswith("-")] or ["REPLY"]
        values = line.rstrip("\n").split(None, len(names) - 1)
        for i, key in enumerate(names):
            shell.vars[key] = values[i] if i < len(values) else ""
        return 0
    if name in ("type", "command"):
        if name == "command" and args[:1] != ["-v"]:
            return await shell._simple(args, assigned, stdin, stdout, stderr) if args else 0
        names = [a for a in args if a != "-v"]
        code = 0
        for key in names:
            program = shell.resolve(key)
            if key in ("cd", "exit", "export", "unset", "set", "read", "echo", "pwd", "type", "command"):
                stdout((f"{key}\n" if name == "command" else f"{key} is a shell builtin\n").encode())
            elif program is not None:
                stdout((f"/bin/{program}\n" if name == "command" else f"{key} is /bin/{program}\n").encode())
            else:
                code = 127 if name == "type" else 1
                if name == "type":
                    stdout(f"{key}: not found\n".encode())
        return code
    if name == "exec":
        if not args:
            return 0
        raise ExitShell(await shell._simple(args, assigned, stdin, stdout, stderr))
    return 0
