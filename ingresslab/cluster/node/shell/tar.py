"""`tar` inside a pod, for `kubectl cp`: kubectl runs `tar cf - <path>` to copy out and `tar -xmf - -C <dir>` to
copy in, over exec's stdout and stdin. Archives are real ustar/GNU streams (Python's `tarfile`) read from and
written to the container's filesystem (`fs.py`); extraction lands in the writable layer, and a member name that
would climb out of the target directory loses its leading `/` and `../`, as GNU tar does."""
from __future__ import annotations

import io
import posixpath
import tarfile
import time

from ingresslab.cluster.node.shell.interp import Proc, command


def _options(args: list[str]) -> tuple[str, str | None, str | None, list[str]]:
    """(mode flags, archive, -C directory, members) from `cf - x`, `-xmf - -C d`, `-c -f - x`."""
    flags, archive, directory, members = "", None, None, []
    args = list(args)
    if args and not args[0].startswith("-"):
        args[0] = "-" + args[0]
    while args:
        arg = args.pop(0)
        if arg in ("-C", "--directory"):
            directory = args.pop(0) if args else None
        elif arg.startswith("--"):
            continue
        elif arg.startswith("-") and len(arg) > 1:
            for i, flag in enumerate(arg[1:]):
                if flag == "f":
                    rest = arg[i + 2:]
                    archive = rest if rest else (args.pop(0) if args else None)
                    break
                flags += flag
        else:
            members.append(arg)
    return flags, archive, directory, members


def _inside(name: str) -> tuple[str, str]:
    """(the name without what would climb out: leading `/`, anything up to the last `..`), what was removed)."""
    parts = name.split("/")
    cut = max((i + 1 for i, part in enumerate(parts) if part == ".."), default=0)
    while cut < len(parts) and parts[cut] == "":
        cut += 1
    kept = [part for part in parts[cut:] if part not in ("", ".")]
    return "/".join(kept), ("/".join(parts[:cut]) + "/") if cut else ""


@command("tar")
async def tar(p: Proc) -> int:
    flags, archive, directory, members = _options(p.args[1:])
    fs = p.container.fs
    base = fs.absolute(p.shell.cwd, directory) if directory else p.shell.cwd
    gz = "z" in flags
    if "c" in flags:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w", format=tarfile.GNU_FORMAT) as out:
            for member in members:
                path = fs.absolute(base, member)
                if not fs.exists(path):
                    p.err(f"tar: {member}: Cannot stat: No such file or directory\n")
                    return 2
                name_root = member.lstrip("/")
                if member.startswith("/"):
                    p.err("tar: Removing leading `/' from member names\n")
                for found in fs.walk(path):
                    name = posixpath.normpath(posixpath.join(name_root, posixpath.relpath(found, path)))
                    entry = fs.entry(found)
                    info = tarfile.TarInfo(name)
                    info.mtime = int(entry.mtime or time.time())
                    info.mode = entry.mode
                    if entry.is_dir:
                        info.type = tarfile.DIRTYPE
                        out.addfile(info)
                    else:
                        data = fs.read(found)
                        info.size = len(data)
                        out.addfile(info, io.BytesIO(data))
                    if "v" in flags:
                        p.err(name + "\n")
        data = buffer.getvalue()
        if archive in (None, "-"):
            p.stdout(data)
        else:
            fs.write(fs.absolute(p.shell.cwd, archive), data)
        return 0
    if "x" in flags or "t" in flags:
        raw = await p.stdin.read() if archive in (None, "-") else fs.read(fs.absolute(p.shell.cwd, archive))
        try:
            source = tarfile.open(fileobj=io.BytesIO(raw), mode="r:*")
        except tarfile.TarError:
            p.err("tar: This does not look like a tar archive\n")
            return 2
        code, warned = 0, set()
        with source:
            for info in source:
                if "t" in flags:
                    p.out(info.name + "\n")
                    continue
                name, stripped = _inside(info.name)
                if stripped and stripped not in warned:
                    warned.add(stripped)
                    p.err(f"tar: Removing leading `{stripped}' from member names\n")
                if info.issym() or info.islnk() or not name:
                    p.err(f"tar: {info.name}: links are not extracted in this lab's containers; skipped\n")
                    continue
                target = posixpath.join(base, name)
                try:
                    if info.isdir():
                        fs.make_dir(target, parents=True)
                    elif info.isfile():
                        fs.make_dir(posixpath.dirname(target), parents=True)
                        fs.write(target, source.extractfile(info).read(), mode=info.mode & 0o777)
                except OSError as exc:
                    p.err(f"tar: {info.name}: Cannot open: {exc.strerror}\n")
                    code = 2
                if "v" in flags:
                    p.out(info.name + "\n")
        return code
    p.err("tar: You must specify one of the '-Acdtrux', '--delete' or '--test-label' options\n")
    return 2
