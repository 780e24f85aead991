"""The programs a pod's image has (which image has which: `rootfs.py`): each tells the container's own truth.

`env`/`printenv` print the container's environment (the kubelet's: the pod's env, Downward API values, Service
variables, the image's ENV), `hostname` the pod's name, `ps` the image's processes and the ones exec'd, `cat`/`ls`
read the container's filesystem (`fs.py`), `sh -c` and an interactive `sh` run the shell (`interp.py`), `nginx`
acts on the container's real nginx when it has one (the Ingress controller). Network programs are in `net.py`.
"""
from __future__ import annotations

import asyncio
import fnmatch
import posixpath
import re
import stat
import time

from ingresslab.cluster.node.shell.interp import Proc, Shell, command

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _errno_text(exc: OSError) -> str:
    return exc.strerror or str(exc)


@command("sh", "ash", "dash", "bash")
async def sh(p: Proc) -> int:
    shell = Shell(p.container, {**p.shell.vars, **p.env}, set(p.shell.exported) | set(p.env), p.shell.cwd,
                  name=p.args[0])
    args = p.args[1:]
    while args and args[0].startswith("-") and args[0] not in ("-c",):
        args = args[1:]          # -i, -l, -e, -x: accepted, no effect here
    if args[:1] == ["-c"]:
        if len(args) < 2:
            return p.fail("-c requires an argument", 2)
        if len(args) > 2:
            shell.name = args[2]
        return await shell.run_script(args[1], p.stdin, p.stdout, p.stderr)
    if args:
        path = p.container.fs.absolute(p.shell.cwd, args[0])
        try:
            script = p.container.fs.read(path).decode(errors="replace")
        except OSError:
            p.err(f"{p.args[0]}: can't open '{args[0]}': No such file or directory\n")
            return 2
        return await shell.run_script(script, p.stdin, p.stdout, p.stderr)
    terminal = getattr(p.stdin, "terminal", False)
    return await shell.interactive(p.stdin, p.stdout, p.stderr, prompt=terminal)


@command("env", "printenv")
async def env(p: Proc) -> int:
    args = p.args[1:]
    if p.args[0] == "printenv" and args:
        code = 0
        for name in args:
            if name in p.env:
                p.out(p.env[name] + "\n")
            else:
                code = 1
        return code
    variables = dict(p.env)
    while args and "=" in args[0]:
        key, _, value = args.pop(0).partition("=")
        variables[key] = value
    if args:
        program = p.shell.resolve(args[0])
        if program is None:
            return p.fail(f"can't execute '{args[0]}': No such file or directory", 127)
        return await p.shell._run_program(program, args, variables, p.stdin, p.stdout, p.stderr)
    p.out("".join(f"{k}={v}\n" for k, v in variables.items()))
    return 0


@command("hostname")
async def hostname(p: Proc) -> int:
    if "-i" in p.args[1:]:
        p.out(p.container.ip + "\n")
    else:
        p.out(p.container.hostname + "\n")
    return 0


@command("id")
async def id_(p: Proc) -> int:
    user = p.container.rootfs.user
    flags = p.args[1:]
    if "-u" in flags:
        p.out((user.name if "-n" in flags else str(user.uid)) + "\n")
    elif "-g" in flags:
        p.out((user.group if "-n" in flags else str(user.gid)) + "\n")
    else:
        p.out(user.id_line() + "\n")
    return 0


@command("whoami")
async def whoami(p: Proc) -> int:
    p.out(p.container.rootfs.user.name + "\n")
    return 0


@command("uname")
async def uname(p: Proc) -> int:
    flags = "".join(a.lstrip("-") for a in p.args[1:])
    if "a" in flags:
        p.out(f"Linux {p.container.hostname} 6.1.0 #1 SMP x86_64 Linux\n")
    else:
        p.out("Linux\n")
    return 0


@command("date")
async def date(p: Proc) -> int:
    p.out(time.strftime("%a %b %e %H:%M:%S UTC %Y", time.gmtime()) + "\n")
    return 0


@command("sleep")
async def sleep(p: Proc) -> int:
    if len(p.args) < 2:
        return p.fail("missing operand" if p.container.rootfs.shell == "dash" else "usage: sleep N", 1)
    total = 0.0
    for arg in p.args[1:]:
        match = re.fullmatch(r"(\d+(?:\.\d*)?)([smhd]?)", arg)
        if match is None:
            return p.fail(f"invalid number '{arg}'")
        total += float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    await asyncio.sleep(total)
    return 0


@command("seq")
async def seq(p: Proc) -> int:
    try:
        nums = [int(a) for a in p.args[1:]]
    except ValueError:
        return p.fail(f"invalid number '{p.args[1]}'")
    first, step, last = {1: (1, 1, nums[0] if nums else 0), 2: (nums[0], 1, nums[-1]),
                         3: (nums[0], nums[1], nums[-1])}.get(len(nums), (1, 1, 0))
    if step == 0:
        return p.fail("invalid increment")
    p.out("".join(f"{n}\n" for n in range(first, last + (1 if step > 0 else -1), step)))
    return 0


@command("test", "[")
async def test(p: Proc) -> int:
    args = p.args[1:]
    if p.args[0] == "[":
        if args[-1:] != ["]"]:
            return p.fail("missing ]", 2)
        args = args[:-1]
    negate = False
    if args[:1] == ["!"]:
        negate, args = True, args[1:]
    fs = p.container.fs
    try:
        if not args:
            result = False
        elif len(args) == 1:
            result = args[0] != ""
        elif len(args) == 2:
            op, arg = args
            path = fs.absolute(p.shell.cwd, arg)
            result = {"-z": lambda: arg == "", "-n": lambda: arg != "", "-e": lambda: fs.exists(path),
                      "-f": lambda: fs.exists(path) and not fs.is_dir(path), "-d": lambda: fs.is_dir(path),
                      "-s": lambda: fs.exists(path) and fs.size(path) > 0}[op]()
        else:
            left, op, right = args[:3]
            numeric = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-le": int.__le__,
                       "-gt": int.__gt__, "-ge": int.__ge__}
            if op in numeric:
                result = numeric[op](int(left), int(right))
            else:
                result = {"=": left == right, "==": left == right, "!=": left != right}[op]
    except KeyError:
        return p.fail(f"unknown operand {args[1] if len(args) > 1 else args[0]}", 2)
    except ValueError:
        return p.fail("bad number", 2)
    return 0 if result != negate else 1


@command("which")
async def which(p: Proc) -> int:
    code = 0
    for name in p.args[1:]:
        if p.shell.resolve(name):
            p.out(f"{_where(name)}\n")
        else:
            code = 1
    return code


def _where(program: str) -> str:
    if program in ("curl", "env", "id", "whoami", "head", "tail", "wc", "sort", "seq", "which"):
        return f"/usr/bin/{program}"
    return f"/usr/sbin/{program}" if program == "nginx" else f"/bin/{program}"


# ------------------------------------------------------------------------------------------------ processes
@command("ps")
async def ps(p: Proc) -> int:
    p.out("PID   USER     TIME  COMMAND\n")
    now = time.time()
    for pid, user, started, cmd in p.container.processes.rows():
        minutes = int((now - started) // 60) if pid > len(p.container.processes.main) else 0
        p.out(f"{pid:5d} {user:<8.8} {minutes // 60 if minutes >= 60 else 0:d}:{minutes % 60:02d} {cmd}\n")
    return 0


# ------------------------------------------------------------------------------------------------ files
async def _inputs(p: Proc, names: list[str]):
    """(name, bytes) for each file argument, or stdin when there are none (`-` too)."""
    if not names:
        yield "-", await p.stdin.read()
        return
    for name in names:
        if name == "-":
            yield name, await p.stdin.read()
            continue
        try:
            yield name, p.container.fs.read(p.container.fs.absolute(p.shell.cwd, name))
        except OSError as exc:
            p.err(f"{p.args[0]}: {'read error: ' if isinstance(exc, IsADirectoryError) else ''}"
                  f"{'' if isinstance(exc, IsADirectoryError) else name + ': '}{_errno_text(exc)}\n")
            yield name, None


@command("cat")
async def cat(p: Proc) -> int:
    names = [a for a in p.args[1:] if a != "-n" and a != "-u"]
    if not names or names == ["-"]:      # stdin as it comes, as cat passes on each read
        while chunk := await p.stdin.read(65536):
            p.stdout(chunk)
        return 0
    code = 0
    async for _, data in _inputs(p, names):
        if data is None:
            code = 1
        else:
            p.stdout(data)
    return code


@command("head", "tail")
async def head_tail(p: Proc) -> int:
    count, names, args = 10, [], p.args[1:]
    while args:
        arg = args.pop(0)
        if arg == "-n" and args:
            count = int(args.pop(0).lstrip("+-") or 10)
        elif re.fullmatch(r"-n?\d+", arg):
            count = int(arg.lstrip("-n"))
        elif arg in ("-f", "-F"):
            continue
        else:
            names.append(arg)
    code = 0
    async for _, data in _inputs(p, names):
        if data is None:
            code = 1
            continue
        lines = data.splitlines(keepends=True)
        p.stdout(b"".join(lines[:count] if p.args[0] == "head" else lines[-count:] if count else []))
    return code


@command("wc")
async def wc(p: Proc) -> int:
    flags = "".join(a[1:] for a in p.args[1:] if a.startswith("-"))
    names = [a for a in p.args[1:] if not a.startswith("-")]
    code = 0
    async for name, data in _inputs(p, names):
        if data is None:
            code = 1
            continue
        counts = {"l": data.count(b"\n"), "w": len(data.split()), "c": len(data)}
        shown = [counts[f] for f in "lwc" if f in flags] or [counts["l"], counts["w"], counts["c"]]
        suffix = f" {name}" if name != "-" else ""
        p.out(" ".join(f"{n:>7}" if len(shown) > 1 else str(n) for n in shown) + suffix + "\n")
    return code


@command("sort")
async def sort(p: Proc) -> int:
    reverse = any(a.startswith("-") and "r" in a for a in p.args[1:])
    unique = any(a.startswith("-") and "u" in a for a in p.args[1:])
    names = [a for a in p.args[1:] if not a.startswith("-")]
    lines: list[bytes] = []
    async for _, data in _inputs(p, names):
        lines.extend((data or b"").splitlines())
    if unique:
        lines = list(dict.fromkeys(lines))
    p.stdout(b"".join(line + b"\n" for line in sorted(lines, reverse=reverse)))
    return 0


@command("grep")
async def grep(p: Proc) -> int:
    args, flags, pattern, names = p.args[1:], set(), None, []
    while args:
        arg = args.pop(0)
        if arg == "-e" and args:
            pattern = args.pop(0)
        elif arg.startswith("-") and len(arg) > 1 and pattern is None and not names:
            flags.update(arg[1:])
        elif pattern is None:
            pattern = arg
        else:
            names.append(arg)
    if pattern is None:
        p.err("Usage: grep [-ivcqnE] PATTERN [FILE]...\n")
        return 2
    text = re.escape(pattern) if "F" in flags else pattern if "E" in flags else _basic_regex(pattern)
    try:
        regex = re.compile(text.encode(), re.IGNORECASE if "i" in flags else 0)
    except re.error:
        return p.fail(f"bad regex '{pattern}'", 2)
    found = 0
    many = len(names) > 1
    async for name, data in _inputs(p, names):
        if data is None:
            continue
        count = 0
        for number, line in enumerate(data.splitlines(), 1):
            if bool(regex.search(line)) != ("v" in flags):
                count += 1
                if "q" in flags or "c" in flags:
                    continue
                prefix = (f"{name}:" if many else "") + (f"{number}:" if "n" in flags else "")
                p.stdout(prefix.encode() + line + b"\n")
        if "c" in flags:
            p.out((f"{name}:" if many else "") + f"{count}\n")
        found += count
    return 0 if found else 1


def _basic_regex(pattern: str) -> str:
    """POSIX basic regex → Python's: `\\|`, `\\(`, `\\)`, `\\+`, `\\?` are operators, bare ones are literal."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out += nxt if nxt in "|()+?{}" else "\\" + nxt
            i += 2
            continue
        out += "\\" + c if c in "|()+?{}" else c
        i += 1
    return out


def _mode_text(mode: int, is_dir: bool) -> str:
    return ("d" if is_dir else "-") + stat.filemode(mode)[1:]


@command("ls")
async def ls(p: Proc) -> int:
    flags = "".join(a[1:] for a in p.args[1:] if a.startswith("-") and len(a) > 1)
    names = [a for a in p.args[1:] if not a.startswith("-") or a == "-"] or ["."]
    fs, code = p.container.fs, 0
    for index, name in enumerate(names):
        path = fs.absolute(p.shell.cwd, name)
        if not fs.exists(path):
            p.err(f"ls: {name}: No such file or directory\n" if p.container.rootfs.shell != "dash"
                  else f"ls: cannot access '{name}': No such file or directory\n")
            code = 1 if p.container.rootfs.shell != "dash" else 2
            continue
        if fs.is_dir(path) and "d" not in flags:
            entries = fs.listdir(path)
            if "a" in flags:
                entries = [".", "..", *entries]
            elif "A" not in flags:
                entries = [e for e in entries if not e.startswith(".")]
            if len(names) > 1:
                p.out(("\n" if index else "") + f"{name}:\n")
            if "l" in flags:
                p.out(f"total {len(entries) * 4}\n")
            for entry in entries:
                _ls_line(p, posixpath.normpath(posixpath.join(path, entry)), entry, "l" in flags)
        else:
            _ls_line(p, path, name, "l" in flags)
    return code


def _ls_line(p: Proc, path: str, shown: str, long: bool) -> None:
    if not long:
        p.out(shown + "\n")
        return
    fs = p.container.fs
    entry = fs.entries.get(path) or fs.entries["/"]
    t = time.gmtime(entry.mtime or time.time())
    when = f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}"
    owner = entry.owner
    p.out(f"{_mode_text(entry.mode, entry.is_dir)}    1 {owner:<8} {owner:<8} {fs.size(path):>9} {when} {shown}\n")


@command("mkdir")
async def mkdir(p: Proc) -> int:
    parents = "-p" in p.args
    code = 0
    for name in [a for a in p.args[1:] if not a.startswith("-")]:
        try:
            p.container.fs.make_dir(p.container.fs.absolute(p.shell.cwd, name), parents=parents)
        except OSError as exc:
            code = p.fail(f"can't create directory '{name}': {_errno_text(exc)}")
    return code


@command("touch")
async def touch(p: Proc) -> int:
    code = 0
    for name in [a for a in p.args[1:] if not a.startswith("-")]:
        path = p.container.fs.absolute(p.shell.cwd, name)
        try:
            if not p.container.fs.exists(path):
                p.container.fs.write(path, b"")
        except OSError as exc:
            code = p.fail(f"{name}: {_errno_text(exc)}")
    return code


@command("rm")
async def rm(p: Proc) -> int:
    flags = "".join(a[1:] for a in p.args[1:] if a.startswith("-"))
    code = 0
    for name in [a for a in p.args[1:] if not a.startswith("-")]:
        path = p.container.fs.absolute(p.shell.cwd, name)
        try:
            p.container.fs.remove(path, recursive="r" in flags or "R" in flags)
        except FileNotFoundError:
            if "f" not in flags:
                code = p.fail(f"can't remove '{name}': No such file or directory")
        except OSError as exc:
            code = p.fail(f"can't remove '{name}': {_errno_text(exc)}")
    return code


# ------------------------------------------------------------------------------------------------ nginx
@command("nginx")
async def nginx(p: Proc) -> int:
    real = p.container.nginx
    args = p.args[1:]
    if real is not None:
        argv = [real.binary, "-p", f"{real.prefix}/", "-c", str(real.conf), "-e", str(real.error_log)]
        passthrough = [a for a in args if a in ("-t", "-T", "-q", "-v", "-V")]
        if "-s" in args:
            i = args.index("-s")
            passthrough += ["-s", args[i + 1] if i + 1 < len(args) else ""]
        if not passthrough:
            return p.fail("nginx is already running in this container (pid 1's child); "
                          "use nginx -t, -T or -s reload")
        proc = await asyncio.create_subprocess_exec(*argv, *passthrough, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        # nginx names its file by the path on the lab's disk; inside the container that file is this one
        on_disk = str(real.conf).encode()
        p.stdout(out.replace(on_disk, b"/etc/nginx/nginx.conf"))
        p.stderr(err.replace(on_disk, b"/etc/nginx/nginx.conf"))
        return proc.returncode or 0
    version = p.container.rootfs.nginx_version or "1.27.0"
    conf = "/etc/nginx/nginx.conf"
    if "-v" in args or "-V" in args:
        p.err(f"nginx version: nginx/{version}\n")
        return 0
    if "-s" in args:
        return 0
    if "-t" in args or "-T" in args:
        p.err(f"nginx: the configuration file {conf} syntax is ok\n"
              f"nginx: configuration file {conf} test is successful\n")
        if "-T" in args:
            fs = p.container.fs
            for path in [conf] + [f for f in fs.walk("/etc/nginx") if fnmatch.fnmatch(f, "/etc/nginx/conf.d/*.conf")]:
                p.out(f"# configuration file {path}:\n")
                p.stdout(fs.read(path))
                p.out("\n")
        return 0
    return p.fail("[emerg] bind() to 0.0.0.0:80 failed (98: Address in use)")
