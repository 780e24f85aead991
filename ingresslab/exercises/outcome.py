"""What a learner sees after `check()`: an `Outcome`, shown as short, colour-coded rich text.

The exercises decide (`routing.py`); this module only shows. As in Kaggle's learntools, the decision raises
(`Incorrect`, carrying the outcome) and the view turns it into friendly text: green for right, red for a wrong
route, amber when Kubernetes itself would refuse the answer, grey when the lab could not run the check.
`Hint` and `Solution` are the two other things an exercise shows. Messages are written with `backticks` for
names; HTML turns them into <code>, Markdown keeps them, plain text (outside a notebook) prints them as they are.

Neighbours: `routing.py` builds outcomes; nothing here talks to the lab.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

from ingresslab.i18n import N_, _

KINDS = {
    # kind: (label, border colour, background); the label is shown through _()
    "correct": (N_("Correct"), "#2e7d32", "#edf7ed"),
    "incorrect": (N_("Not yet"), "#c62828", "#fdecea"),
    "invalid": (N_("Not yet"), "#b26a00", "#fff4e5"),
    "error": (N_("Could not check"), "#616161", "#f5f5f5"),
}

ENTRY = N_("the Ingress controller")


def _html_text(text: str) -> str:
    """Escape, then `name` → <code>name</code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


@dataclass(frozen=True)
class Finding:
    """One thing to say: `text` in the learner's terms, `detail` in small print (e.g. the API's own message)."""

    text: str
    detail: str = ""


@dataclass(frozen=True)
class Request:
    """One real request of the check: where it should have gone and where it went."""

    url: str
    expected: str          # "site-svc", or "404 (no rule)"
    answered: str          # "site-svc (pod site-7d…)", "404 Not Found", …
    ok: bool


@dataclass(frozen=True)
class Outcome:
    """The result of one check. `passed` is what tests and notebooks read; the reprs are what learners read."""

    passed: bool
    kind: str                                   # one of KINDS
    title: str
    findings: tuple[Finding, ...] = ()
    requests: tuple[Request, ...] = ()
    notes: tuple[str, ...] = ()
    exercise: str = ""
    entry: str = ENTRY                           # what the requests went through (the HTTPRoute exercise: a Gateway);
                                                 # English, marked with N_(), shown through _()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown outcome kind {self.kind!r}")

    @property
    def messages(self) -> list[str]:
        """Every sentence shown, in order (handy in tests and in plain-text logs)."""
        return [self.title, *(f.text for f in self.findings), *self.notes]

    # ---- views ----------------------------------------------------------------------------------------------------

    def __str__(self) -> str:
        label = _(KINDS[self.kind][0])
        mark = "✓" if self.passed else "✗"
        lines = [_("{mark} {label}: {title}").format(mark=mark, label=label, title=self.title)]
        lines += [f"  - {f.text}" + (f"\n      ({f.detail})" if f.detail else "") for f in self.findings]
        if self.requests:
            lines.append("  " + _("Requests sent through {entry}:").format(entry=_(self.entry)))
            lines += [f"    {'✓' if r.ok else '✗'} GET {r.url} → {r.answered}"
                      + ("" if r.ok else " " + _("(expected {expected})").format(expected=r.expected))
                      for r in self.requests]
        lines += ["  " + _("Note: {note}").format(note=n) for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_markdown_(self) -> str:
        label = _(KINDS[self.kind][0])
        icon = "✅" if self.passed else ("⚠️" if self.kind in ("invalid", "error") else "❌")
        out = [_("{icon} **{label}:** {title}").format(icon=icon, label=label, title=self.title), ""]
        out += [f"- {f.text}" + (f"  \n  <small>{html.escape(f.detail)}</small>" if f.detail else "")
                for f in self.findings]
        if self.requests:
            out += ["", _("| | request | answered by | expected |"), "|---|---|---|---|"]
            out += [f"| {'✓' if r.ok else '✗'} | `GET {r.url}` | {r.answered} | {r.expected} |" for r in self.requests]
        if self.notes:
            out += [""] + [f"*{n}*  " for n in self.notes]
        return "\n".join(out)

    def _repr_html_(self) -> str:
        label, border, background = KINDS[self.kind]
        label = html.escape(_("{label}:").format(label=_(label)))
        parts = [f'<div class="ingresslab-outcome ingresslab-{self.kind}" style="border-left:5px solid {border};'
                 f'background:{background};padding:6px 10px;margin:4px 0;font-size:0.95em">',
                 f'<b style="color:{border}">{label}</b> {_html_text(self.title)}']
        if self.findings:
            parts.append('<ul style="margin:4px 0 4px 1.2em;padding:0">')
            for f in self.findings:
                small = f'<br><small style="color:#666">{html.escape(f.detail)}</small>' if f.detail else ""
                parts.append(f"<li>{_html_text(f.text)}{small}</li>")
            parts.append("</ul>")
        if self.requests:
            heads = [html.escape(h) for h in (_("request"), _("answered by"), _("expected"))]
            parts.append('<table style="font-size:0.9em;margin:4px 0"><tr><th></th>'
                         + "".join(f'<th style="text-align:left">{h}</th>' for h in heads) + "</tr>")
            for r in self.requests:
                mark = '<span style="color:#2e7d32">✓</span>' if r.ok else '<span style="color:#c62828">✗</span>'
                pad = ' style="padding:0 14px 0 0"'
                parts.append(f"<tr><td>{mark}</td><td{pad}><code>GET {html.escape(r.url)}</code></td>"
                             f"<td{pad}>{html.escape(r.answered)}</td><td>{html.escape(r.expected)}</td></tr>")
            parts.append("</table>")
        parts += [f'<div><small style="color:#555">{_html_text(n)}</small></div>' for n in self.notes]
        parts.append("</div>")
        return "".join(parts)


class Incorrect(AssertionError):
    """Raised by `Exercise.verify()` for any answer that is not right; `.outcome` says why."""

    def __init__(self, outcome: Outcome):
        super().__init__(str(outcome))
        self.outcome = outcome


@dataclass(frozen=True)
class Hint:
    """A nudge that names the idea, not the answer."""

    text: str
    exercise: str = ""

    def __str__(self) -> str:
        return _("Hint: {text}").format(text=self.text)

    __repr__ = __str__

    def _repr_markdown_(self) -> str:
        return _("💡 **Hint:** {text}").format(text=self.text)

    def _repr_html_(self) -> str:
        label = html.escape(_("Hint:"))
        return (f'<div style="border-left:5px solid #1565c0;background:#e8f0fe;padding:6px 10px;margin:4px 0">'
                f'<b style="color:#1565c0">{label}</b> {_html_text(self.text)}</div>')


@dataclass(frozen=True)
class Solution:
    """One correct answer (there are others: `check()` accepts every answer that routes right)."""

    yaml: str
    explanation: str = ""
    exercise: str = ""

    def __str__(self) -> str:
        text = _("Solution:") + f"\n{self.yaml}"
        return text + (f"\n{self.explanation}" if self.explanation else "")

    __repr__ = __str__

    def _repr_markdown_(self) -> str:
        out = "**" + _("Solution:") + f"**\n\n```yaml\n{self.yaml.rstrip()}\n```\n"
        return out + (f"\n{self.explanation}\n" if self.explanation else "")

    def _repr_html_(self) -> str:
        label = html.escape(_("Solution:"))
        out = (f'<div style="border-left:5px solid #6a1b9a;background:#f6effa;padding:6px 10px;margin:4px 0">'
               f'<b style="color:#6a1b9a">{label}</b><pre style="margin:4px 0">{html.escape(self.yaml.rstrip())}'
               f'</pre>')
        if self.explanation:
            out += f"<div>{_html_text(self.explanation)}</div>"
        return out + "</div>"
