"""The whole nginx.conf, readable in a notebook: scrollable, one collapsible section per `server` block.

`nginx_conf(text, highlight_host="cafe.example.com")` returns a `ConfView`: Jupyter shows it as HTML — the file in
a scrolling box, each `server { … }` (with the comments the controller writes above it) folded into a `<details>`
whose summary names its host, the chosen host's block open and marked, the rest of the file (the `http` settings,
the upstreams, the Lua balancer) as plain text around them. Its caption names `ingresslab conf`, which prints the
same file in a terminal. The text form is one line (what it shows), so a notebook's stored output stays short.

Blocks are found by the shape the controller's renderer writes (`ingress.render`: one directive per line, a
`server {` line closed by a `}` at the same indentation), not by parsing nginx's grammar: any other text still
shows whole, as plain lines. Neighbours: `viz` re-exports `nginx_conf` / `nginx_conf_of`; `lab.IngressView.conf`
supplies the text.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from .i18n import _, ngettext

__all__ = ["ConfView", "ServerBlock", "nginx_conf", "nginx_conf_of", "server_blocks"]

_SERVER = re.compile(r"^(\s*)server \{\s*$")
_HOST_COMMENT = re.compile(r"^\s*# Host (\S+)")
_SERVER_NAME = re.compile(r"^\s*server_name\s+([^;]+);")
MARK = "#fff2cc"          # the nginx colour of `viz.COLOURS`: the highlighted block


@dataclass(frozen=True)
class ServerBlock:
    """Lines `start`..`end` (0-based, `end` exclusive) of the file: one server block and the comments above it."""

    host: str                 # the host it serves, "(catch-all)" for the default server
    start: int
    end: int


def server_blocks(lines: list[str]) -> list[ServerBlock]:
    blocks: list[ServerBlock] = []
    i = 0
    while i < len(lines):
        m = _SERVER.match(lines[i])
        if not m:
            i += 1
            continue
        close = m.group(1) + "}"
        end = next((j for j in range(i + 1, len(lines)) if lines[j].rstrip() == close), None)
        if end is None:
            break                                   # not the renderer's shape: leave the rest as plain lines
        start = i
        while start > 0 and lines[start - 1].strip().startswith("#") and (not blocks or start > blocks[-1].end):
            start -= 1
        body = lines[start:end + 1]
        host = next((m.group(1) for line in body for m in [_HOST_COMMENT.match(line)] if m), None)
        if host is None:
            name = next((m.group(1).strip() for line in body for m in [_SERVER_NAME.match(line)] if m), "")
            host = "(catch-all)" if any("default_server" in line for line in body) else name or "(no name)"
        blocks.append(ServerBlock(host, start, end + 1))
        i = end + 1
    return blocks


@dataclass(frozen=True)
class ConfView:
    """The file and where its server blocks are; `_repr_html_` draws it (see the module docstring)."""

    text: str
    highlight_host: str | None = None

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    @property
    def blocks(self) -> list[ServerBlock]:
        return server_blocks(self.lines)

    @property
    def highlighted(self) -> ServerBlock | None:
        return next((b for b in self.blocks if self.highlight_host and b.host == self.highlight_host), None)

    def caption(self) -> str:
        chosen = self.highlighted
        mark = (_("; the server block for {host} is open and marked").format(host=chosen.host) if chosen else
                _("; no server block for {host}").format(host=self.highlight_host) if self.highlight_host else "")
        lines = ngettext("{n} line", "{n} lines", len(self.lines)).format(n=len(self.lines))
        blocks = ngettext("{n} server block", "{n} server blocks", len(self.blocks)).format(n=len(self.blocks))
        return _("The whole nginx.conf the controller runs now: {lines}, {blocks} (click one to open it){mark}. "
                 "In a terminal, `ingresslab conf` prints the same file.").format(lines=lines, blocks=blocks,
                                                                                   mark=mark)

    def __repr__(self) -> str:
        return "nginx.conf — " + self.caption()

    def _repr_html_(self) -> str:
        lines, out, at, chosen = self.lines, [], 0, self.highlighted
        pre = '<pre style="margin:0;font-size:0.82em;line-height:1.3">{}</pre>'
        for block in server_blocks(lines):
            if block.start > at:
                out.append(pre.format(html.escape("\n".join(lines[at:block.start]))))
            on = block == chosen
            style = f"background:{MARK};border-left:4px solid #d62728;" if on else "border-left:4px solid #ddd;"
            size = ngettext("{n} line", "{n} lines", block.end - block.start).format(n=block.end - block.start)
            summary = (f"server — {html.escape(block.host)} ({size})" + (_(" ◀ this one") if on else ""))
            out.append(f'<details{" open" if on else ""} style="{style}padding-left:4px;margin:1px 0">'
                       f'<summary style="cursor:pointer;font-family:monospace;font-size:0.85em">{summary}</summary>'
                       + pre.format(html.escape("\n".join(lines[block.start:block.end]))) + "</details>")
            at = block.end
        if at < len(lines):
            out.append(pre.format(html.escape("\n".join(lines[at:]))))
        caption = html.escape(self.caption()).replace("`ingresslab conf`", "<code>ingresslab conf</code>")
        return (f'<div><div style="font-size:0.9em;color:#555;margin-bottom:3px">{caption}</div>'
                f'<div style="max-height:32em;overflow:auto;border:1px solid #ccc;padding:4px;background:#fafafa">'
                f'{"".join(out)}</div></div>')


def nginx_conf(text: str, *, highlight_host: str | None = None) -> ConfView:
    """The whole file, readable (see the module docstring); `highlight_host` opens and marks that host's block."""
    if not isinstance(text, str):
        raise TypeError("nginx_conf takes the file's text, e.g. lab.ingress.conf()")
    return ConfView(text, highlight_host)


def nginx_conf_of(lab: Any, *, highlight_host: str | None = None) -> ConfView:
    """`nginx_conf(lab.ingress.conf(), …)`: the file the lab's controller runs now."""
    return nginx_conf(lab.ingress.conf(), highlight_host=highlight_host)
