"""A container's filesystem as its commands see it: the image's files, the pod's mounts, and a writable layer.

Files are declared by absolute path: bytes, or a host file read when opened (the Ingress controller's real
nginx.conf), or a function of nothing (a value computed when read). Directories exist wherever a file or an
explicit directory lies below them. Writes (`echo x > /tmp/f`, `tar -x`) land in the container's own writable
layer, as in an overlay filesystem; mounts declared read-only refuse them. The host's files are never written and
no path ever leaves this table: `..` is resolved inside it, there is nothing to follow.
"""
from __future__ import annotations

import errno
import posixpath
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

__all__ = ["Entry", "FileSystem"]

Content = Union[bytes, Path, Callable[[], bytes]]


@dataclass
class Entry:
    content: Content | None       # None: a directory
    mode: int = 0o644
    read_only: bool = False
    mtime: float = 0.0
    owner: str = "root"

    @property
    def is_dir(self) -> bool:
        return self.content is None


def _norm(path: str) -> str:
    """An absolute, normal path (POSIX keeps a leading `//` apart; here it is `/`)."""
    return posixpath.normpath("/" + path.lstrip("/"))


class FileSystem:
    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {"/": Entry(None, 0o755)}
        self.read_only_roots: set[str] = set()
        self.created = time.time()

    # ---------------------------------------------------------------------------------------- building
    def add(self, path: str, content: Content, *, mode: int = 0o644, read_only: bool = False,
            owner: str = "root") -> None:
        path = _norm(path)
        self._parents(path, owner)
        self.entries[path] = Entry(content, mode, read_only, self.created, owner)

    def mkdir(self, path: str, *, mode: int = 0o755, owner: str = "root", read_only: bool = False) -> None:
        path = _norm(path)
        self._parents(path, owner)
        if path not in self.entries:
            self.entries[path] = Entry(None, mode, read_only, self.created, owner)

    def mount_read_only(self, path: str) -> None:
        self.read_only_roots.add(_norm(path))

    def _parents(self, path: str, owner: str) -> None:
        parent = posixpath.dirname(path)
        while parent not in self.entries:
            self.entries[parent] = Entry(None, 0o755, False, self.created, "root")
            parent = posixpath.dirname(parent)

    # ---------------------------------------------------------------------------------------- reading
    @staticmethod
    def absolute(cwd: str, path: str) -> str:
        return _norm(posixpath.join(cwd, path)) if path else cwd

    def entry(self, path: str) -> Entry:
        found = self.entries.get(_norm(path))
        if found is None:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        return found

    def exists(self, path: str) -> bool:
        return _norm(path) in self.entries

    def is_dir(self, path: str) -> bool:
        entry = self.entries.get(_norm(path))
        return entry is not None and entry.is_dir

    def read(self, path: str) -> bytes:
        entry = self.entry(path)
        if entry.is_dir:
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        content = entry.content
        if isinstance(content, Path):
            return content.read_bytes()
        if callable(content):
            return content()
        return content

    def size(self, path: str) -> int:
        entry = self.entry(path)
        if entry.is_dir:
            return 4096
        if isinstance(entry.content, Path):
            try:
                return entry.content.stat().st_size
            except OSError:
                return 0
        return len(self.read(path))

    def listdir(self, path: str) -> list[str]:
        path = _norm(path)
        if not self.entry(path).is_dir:
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory", path)
        prefix = path.rstrip("/") + "/"
        return sorted({p[len(prefix):].split("/", 1)[0] for p in self.entries if p.startswith(prefix) and p != path})

    def walk(self, path: str) -> list[str]:
        """`path` and everything below it, parents first."""
        path = _norm(path)
        prefix = path.rstrip("/") + "/"
        return [path] + sorted(p for p in self.entries if p.startswith(prefix))

    # ---------------------------------------------------------------------------------------- writing
    def _check_writable(self, path: str) -> None:
        for root in self.read_only_roots:
            if path == root or path.startswith(root.rstrip("/") + "/"):
                raise OSError(errno.EROFS, "Read-only file system", path)
        entry = self.entries.get(path)
        if entry is not None and entry.read_only:
            raise OSError(errno.EROFS, "Read-only file system", path)

    def write(self, path: str, data: bytes, *, append: bool = False, mode: int = 0o644) -> None:
        path = _norm(path)
        self._check_writable(path)
        parent = posixpath.dirname(path)
        if not self.is_dir(parent):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        old = self.entries.get(path)
        if old is not None and old.is_dir:
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        if append and old is not None:
            data = self.read(path) + data
        self.entries[path] = Entry(bytes(data), old.mode if old else mode, False, time.time())

    def make_dir(self, path: str, *, parents: bool = False) -> None:
        path = _norm(path)
        self._check_writable(path)
        if path in self.entries:
            if parents and self.entries[path].is_dir:
                return
            raise FileExistsError(errno.EEXIST, "File exists", path)
        if not self.is_dir(posixpath.dirname(path)):
            if not parents:
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
            self.make_dir(posixpath.dirname(path), parents=True)
        self.entries[path] = Entry(None, 0o755, False, time.time())

    def remove(self, path: str, *, recursive: bool = False) -> None:
        path = _norm(path)
        self._check_writable(path)
        entry = self.entry(path)
        if entry.is_dir:
            if not recursive:
                raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
            for below in self.walk(path)[1:]:
                self._check_writable(below)
        for below in reversed(self.walk(path)):
            self.entries.pop(below, None)
