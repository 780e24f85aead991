"""The routing exercise: declared data, a real check, and explanations in the learner's terms.

An exercise subclass declares only data, as Kaggle's learntools does: the apps it needs (`_apps`), the routes a
right answer produces (`_expected`, a table of `Expect(host, path, service)`), a hint and a solution. The check
is the same for all of them and never compares text: an answer is right when real requests go where the table
says. So every correct shape passes — one Ingress or several, `Prefix` or `ImplementationSpecific`, port by number
or by name, extra harmless paths, with or without `ingressClassName`.

`verify(answer)` decides and raises `Incorrect`; `check(answer)` is the view's call and returns the `Outcome`
either way. The steps:
  1. read the answer (`answers.py`) and run the API's own validation; refusals are explained in plain words
     (`plainwords.py`) and no request is sent;
  2. apply it in a scratch namespace with the exercise's apps (`scratch.py`) and wait for the controller;
  3. send every request of the table through the controller's NodePort (`probe.py`) and see which pod answers;
  4. explain each wrong answer with the spec's reference matcher (`ingress.reference.route`): which rule of the
     learner's sent the request where, or why none matched;
  5. delete the scratch namespace.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import ClassVar

from kubernetes.client.rest import ApiException

from ingresslab.i18n import _, ngettext
from ingresslab.ingress import reference
from ingresslab.lab import Lab, LabError

from .answers import Answer, NotAnAnswer, read_answer
from .outcome import Finding, Hint, Incorrect, Outcome, Request, Solution
from .plainwords import api_error_findings, explain_causes
from .probe import Entry, Reply, send
from .scratch import Scratch, catch_all_claims


@dataclass(frozen=True)
class Expect:
    """One row of an exercise's table: a request for `host` + `path` must reach `service` (None: 404, no rule)."""

    host: str
    path: str
    service: str | None

    @property
    def url(self) -> str:
        return f"http://{self.host}{self.path}"

    @property
    def shown(self) -> str:
        return self.service or _("404 (no rule)")


@dataclass(frozen=True)
class Seen:
    """What a request met: the reply, and the Service and app of the pod that answered (None: nginx did)."""

    reply: Reply
    service: str | None
    app: str | None
    outside: bool = False        # answered by a pod that is not part of the check

    @classmethod
    def of(cls, reply: Reply, labels: dict[str, dict], services: list[dict]) -> "Seen":
        """Which Service and app the answering pod belongs to (`labels`: pod → labels; `services`: name, selector)."""
        if reply.pod is None:
            return cls(reply, None, None)
        pod_labels = labels.get(reply.pod)
        if pod_labels is None:
            return cls(reply, None, None, outside=True)
        service = next((s["name"] for s in services
                        if s["selector"] and all(pod_labels.get(k) == v for k, v in s["selector"].items())), None)
        return cls(reply, service, pod_labels.get("app"))

    def ok_for(self, expect: Expect) -> bool:
        if expect.service is None:
            return self.reply.pod is None and self.reply.status == 404
        return self.service == expect.service and 200 <= self.reply.status < 300

    @property
    def shown(self) -> str:
        if self.reply.pod is None:
            return self.reply.status_line if self.reply.status else self.reply.reason
        if self.outside:
            return _("pod {pod} (outside this check)").format(pod=self.reply.pod)
        return f"{self.service or self.app} ({self.reply.pod})"


# --- explanations ----------------------------------------------------------------------------------------------

def _rule_words(route: reference.Route, ingresses: list[dict], *, port: bool = False) -> str:
    """"your rule for host `h` sends `/` (Prefix) to `site-svc`" — the rule the reference says matched."""
    target = (_("`{service}` port `{port}`").format(service=route.service, port=route.port) if port
              else f"`{route.service}`")
    if route.is_default_backend:
        owner = next((i for i in ingresses if reference.ingress_key(i) == route.ingress), {})
        if (owner.get("spec") or {}).get("rules"):
            return _("no path of your rule for this host matches, so your Ingress's `defaultBackend` sends it to "
                     "{target}").format(target=target)
        return _("your Ingress without rules has a `defaultBackend`, which catches every host no rule names: "
                 "{target}").format(target=target)
    words = dict(path=route.path, path_type=route.path_type, target=target)
    if not route.host:
        return _("your rule without a host (it matches every host that no rule names) sends `{path}` ({path_type}) "
                 "to {target}").format(**words)
    if route.host.startswith("*."):
        return _("your rule for host `{host}` (a wildcard: any one label in front of `{domain}`) sends `{path}` "
                 "({path_type}) to {target}").format(host=route.host, domain=route.host[2:], **words)
    return _("your rule for host `{host}` sends `{path}` ({path_type}) to {target}").format(host=route.host, **words)


def _listed(paths: list[dict]) -> str:
    """"`/` (Exact), `/forums` (Prefix)": paths as the learner wrote them."""
    return _(", ").join(_("`{path}` ({path_type})").format(path=p.get("path") or "/", path_type=p.get("pathType"))
                        for p in paths)


def _and(items: list[str]) -> str:
    """"a, b and c" in the learner's language."""
    if len(items) == 1:
        return items[0]
    return _("{items} and {last}").format(items=_(", ").join(items[:-1]), last=items[-1])


def _why_no_rule(expect: Expect, ingresses: list[dict]) -> tuple[str, str]:
    """Why no rule matched: the reason for this request, and the same without its host (for grouping)."""
    selected = [i for i in ingresses if reference.is_selected(i)]
    if not selected:
        names = sorted({reference.ingress_class_of(i) or "" for i in ingresses})
        text = _("the controller ignored your Ingress: it asks for `ingressClassName: {name}`, a class no "
                 "controller here serves (the lab's IngressClass is `nginx`, the default; leave the field out or "
                 "write `nginx`)").format(name=names[0])
        return text, text
    rules = [(r or {}) for i in selected for r in (i.get("spec") or {}).get("rules") or []]
    named = [r for r in rules if r.get("host") and reference.host_matches(r["host"], expect.host)]
    if named:
        paths = [p for r in named for p in (r.get("http") or {}).get("paths") or []]
        words = dict(host=named[0]["host"], path=expect.path, listed=_listed(paths) or _("none"))
        if any(p.get("pathType") == "Exact" and expect.path.startswith((p.get("path") or "/").rstrip("/"))
               for p in paths):
            text = _("your rule for host `{host}` has no path that matches `{path}` (its paths: {listed}); `Exact` "
                     "matches that one path only, while `Prefix` also matches every path below it, so nginx "
                     "answered 404").format(**words)
        else:
            text = _("your rule for host `{host}` has no path that matches `{path}` (its paths: {listed}), so nginx "
                     "answered 404").format(**words)
        return text, text
    hosts = sorted({r["host"] for r in rules if r.get("host")})
    close = difflib.get_close_matches(expect.host, hosts, n=1, cutoff=0.8)
    if close:
        text = general = _("none of your rules names host `{host}` (there is a rule for `{close}` — a typo?)").format(
            host=expect.host, close=close[0])
    else:
        text, general = (_("none of your rules names host `{host}`").format(host=expect.host),
                         _("none of your rules names these hosts"))
    if any((i.get("spec") or {}).get("defaultBackend") and (i.get("spec") or {}).get("rules") for i in selected):
        tail = _("{reason}, so nginx's default server answered 404. Your Ingress has a `defaultBackend`, but "
                 "ingress-nginx (this lab's controller) uses it only for unmatched paths on that Ingress's own hosts; "
                 "a `defaultBackend` catches unknown hosts only on an Ingress that has no rules at all")
    else:
        tail = _("{reason}, so nginx's default server answered 404")
    return tail.format(reason=text), tail.format(reason=general)


def _backend_trouble(route: reference.Route, services: list[dict]) -> str:
    by_name = {s["name"]: s for s in services}
    service = by_name.get(route.service)
    names = _(", ").join(f"`{n}`" for n in sorted(by_name))
    if service is None:
        if any(s["selector"].get("app") == route.service for s in services):
            return _("there is no Service named `{service}` (the Services are {names}); `{service}` is the "
                     "Deployment's name — an Ingress names a Service").format(service=route.service, names=names)
        return _("there is no Service named `{service}` (the Services are {names})").format(service=route.service,
                                                                                           names=names)
    ports = service["ports"]
    shown = _(", ").join(_("{port} (named `{name}`)").format(port=p["port"], name=p["name"]) if p["name"]
                         else f"{p['port']}" for p in ports)
    if not any(route.port in (p["port"], p["name"]) for p in ports):
        if any(str(route.port) == str(p["targetPort"]) for p in ports):
            return _("Service `{service}` has no port {port}: {port} is the pods' port (the Service's "
                     "`targetPort`), while an Ingress names the Service's own port: {ports}").format(
                service=service["name"], port=route.port, ports=shown)
        return _("Service `{service}` has no port `{port}` (its ports: {ports})").format(
            service=service["name"], port=route.port, ports=shown)
    return _("Service `{service}` has no ready endpoints").format(service=service["name"])


@dataclass(frozen=True)
class Why:
    """A wrong request's story: what happened to it (`verb`, and `verbs` for several requests at once) and which
    part of the answer made it so."""

    verb: str
    verbs: str
    reason: str
    general: str = ""        # the reason without the request's own host, for telling several requests at once


def _precedence_words(expect: Expect, route: reference.Route, ingresses: list[dict]) -> str:
    """When a shorter path caught the request, name the learner's path for the expected Service that missed it."""
    if route.is_default_backend:
        return ""
    mine = [p for i in ingresses for r in (i.get("spec") or {}).get("rules") or []
            if (r or {}).get("host") == route.host for p in ((r or {}).get("http") or {}).get("paths") or []
            if ((p.get("backend") or {}).get("service") or {}).get("name") == expect.service]
    if not mine:
        return ""
    words = dict(listed=_listed(mine), service=expect.service, path=expect.path)
    if any(p.get("pathType") == "Exact" for p in mine):
        return _("your path {listed} for `{service}` does not match `{path}` (`Exact` matches that one path "
                 "only)").format(**words)
    return _("your path {listed} for `{service}` does not match `{path}`").format(**words)


def explain(expect: Expect, seen: Seen, ingresses: list[dict], services: list[dict]) -> Why:
    """One wrong request, in the learner's terms."""
    route = reference.route(ingresses, expect.host, expect.path)
    reply = seen.reply
    if seen.outside:
        return Why(_("was answered by a pod outside this check"), _("were answered by a pod outside this check"),
                   _("an older Ingress elsewhere in the cluster claims this request first (the oldest claim wins)"))
    if reply.pod is not None:
        answered = (_("was answered by a {app} pod").format(app=seen.app),
                    _("were answered by a {app} pod").format(app=seen.app))
        if route is None:
            return Why(*answered, _("the reference matcher expected no rule to match"))
        if expect.service is None:
            return Why(_("should match no rule and get 404, but was answered by a {app} pod").format(app=seen.app),
                       _("should match no rule and get 404, but were answered by a {app} pod").format(app=seen.app),
                       _rule_words(route, ingresses))
        reason, more = _rule_words(route, ingresses), _precedence_words(expect, route, ingresses)
        return Why(*answered, _("{reason}; {more}").format(reason=reason, more=more) if more else reason)
    got = _("got {status}").format(status=reply.status_line or reply.reason)
    if reply.status == 404:
        got = _("got 404 Not Found")
        if route is not None:
            return Why(got, got, _("although {rule}").format(rule=_rule_words(route, ingresses)))
        return Why(got, got, *_why_no_rule(expect, ingresses))
    if reply.status in (502, 503) and route is not None:
        return Why(got, got, _("{rule}, and {trouble}").format(rule=_rule_words(route, ingresses, port=True),
                                                              trouble=_backend_trouble(route, services)))
    if 300 <= reply.status < 400:
        return Why(_("was redirected ({status})").format(status=reply.status_line),
                   _("were redirected ({status})").format(status=reply.status_line),
                   _("to `{location}`").format(location=reply.headers.get("location", "?")))
    return Why(got, got, _rule_words(route, ingresses) if route else _("no rule of yours matches it"))


def sentences(wrong: list[tuple[Expect, Why]]) -> list[str]:
    """Requests that went wrong for the same reason are told once: "`GET a` and `GET b` were answered by …"."""
    groups: dict[tuple[str, str], list[tuple[str, Why]]] = {}
    for expect, why in wrong:
        groups.setdefault((why.verb, why.general or why.reason), []).append((f"`GET {expect.url}`", why))
    out = []
    for (verb, general), members in groups.items():
        if len(members) == 1:
            out.append(_("{requests} {verb}: {reason}").format(requests=members[0][0], verb=verb,
                                                               reason=members[0][1].reason))
            continue
        urls = [m[0] for m in members]
        reasons = {m[1].reason for m in members}
        reason = reasons.pop() if len(reasons) == 1 else general
        out.append(_("{requests} {verb}: {reason}").format(requests=_and(urls), verb=members[0][1].verbs,
                                                           reason=reason))
    return out


# --- the exercise ----------------------------------------------------------------------------------------------

class RoutingExercise:
    """Base of the mysite exercises: subclasses declare data only (see the module docstring). Their prose (title,
    task, hint, solution note, praise) is marked with `N_()` and shown through `_()`, in the language of the moment."""

    name: ClassVar[str] = "routing"
    title: ClassVar[str] = ""
    _task: ClassVar[str] = ""
    _apps: ClassVar[tuple[str, ...]] = ("mysite.yaml",)
    _expected: ClassVar[tuple[Expect, ...]] = ()
    _hint: ClassVar[str] = ""
    _solution: ClassVar[str] = ""
    _solution_note: ClassVar[str] = ""
    _praise: ClassVar[str] = ""
    _uses_catch_all: ClassVar[bool] = False

    variable: ClassVar[str] = "ex"     # the name notebooks bind this exercise to; cards tell learners to use it

    def __init__(self, lab: Lab, *, variable: str | None = None, timeout: float = 30.0):
        """`variable`: the name the notebook binds this exercise to (`wildcard = WildcardHost(lab)`), shown on its
        card so learners call `wildcard.check(…)` on the right exercise; each class has its own default."""
        name = type(self).variable if variable is None else variable
        if not (isinstance(name, str) and name.isidentifier()):
            raise ValueError(f"variable must be a Python name such as 'wildcard', not {name!r}")
        self.variable = name
        self.lab = lab
        self.timeout = timeout
        self.last_namespace: str | None = None

    # ---- what notebooks call ---------------------------------------------------------------------------------------

    def check(self, answer) -> Outcome:
        """Check an answer for real and return what to show (an `Outcome`; `.passed` says whether it is right)."""
        try:
            return self.verify(answer)
        except Incorrect as wrong:
            return wrong.outcome
        except (LabError, ApiException, OSError) as err:
            reason = getattr(err, "reason", None) or str(err)
            return Outcome(False, "error", _("the lab could not run the check: {reason}").format(reason=reason),
                           exercise=self.name,
                           notes=(_("Is the lab running? `lab.status()` tells; `Lab.up()` starts it."),))

    @property
    def shown_title(self) -> str:
        """The title in the learner's language (`title` is the English, as declared)."""
        return _(self.title)

    def hint(self) -> Hint:
        return Hint(_(self._hint), exercise=self.name)

    def solution(self) -> Solution:
        return Solution(self._solution, _(self._solution_note) if self._solution_note else "", exercise=self.name)

    def expected(self) -> list[Expect]:
        return list(self._expected)

    # ---- the decision --------------------------------------------------------------------------------------------

    def _wrong(self, kind: str, title: str, findings, notes=(), requests=()) -> Incorrect:
        return Incorrect(Outcome(False, kind, title, tuple(findings), tuple(requests), tuple(notes), self.name))

    def read(self, answer) -> Answer:
        """Read and validate; raises `Incorrect` (kind "invalid") for what the API would refuse."""
        try:
            read = read_answer(answer)
        except NotAnAnswer as err:
            raise self._wrong("invalid", _("this cannot be read as an Ingress yet (no request was sent)."),
                              err.findings) from None
        findings: list[Finding] = []
        for ingress in read.ingresses:
            findings += explain_causes(ingress)
        if findings:
            raise self._wrong("invalid", _("Kubernetes would refuse this Ingress (no request was sent)."), findings,
                              read.notes)
        return read

    def verify(self, answer) -> Outcome:
        """The passing `Outcome`, or raise `Incorrect` whose `.outcome` explains what went where."""
        read = self.read(answer)
        if self._uses_catch_all:
            claims = catch_all_claims(self.lab)
            if claims:
                raise self._wrong("error", _("another Ingress already answers unknown hosts, so this check cannot "
                                             "see yours."),
                                  [Finding(_("`{ingress}` claims the catch-all (a rule without host, or a "
                                             "`defaultBackend` on an Ingress without rules); the oldest claim wins. "
                                             "Delete it and check again.").format(ingress=c)) for c in claims])
        with Scratch(self.lab, purpose=self.name, apps=self._apps, timeout=self.timeout) as scratch:
            self.last_namespace = scratch.namespace
            try:
                scratch.apply(read.ingresses)
            except ApiException as err:
                raise self._wrong("invalid", _("the API refused the Ingress."),
                                  api_error_findings(err, read.ingresses[0])) from None
            entry = Entry.of(self.lab)
            services = scratch.services()
            labels = scratch.pod_labels()
            seen = [self._observe(scratch, entry, e, labels, services) for e in self._expected]
        ingresses = list(read.ingresses)
        requests = tuple(Request(e.url, e.shown, s.shown, s.ok_for(e)) for e, s in zip(self._expected, seen))
        wrong = [(e, explain(e, s, ingresses, services)) for e, s in zip(self._expected, seen) if not s.ok_for(e)]
        if wrong:
            raise self._wrong("incorrect", wrong_title(len(wrong), len(seen)), [Finding(w) for w in sentences(wrong)],
                              read.notes, requests)
        notes = read.notes + ((_(self._praise),) if self._praise else ())
        return Outcome(True, "correct", right_title(len(seen)), (), requests, notes, self.name)

    def _observe(self, scratch: Scratch, entry: Entry, expect: Expect, labels: dict[str, dict],
                 services: list[dict]) -> Seen:
        reply = send(self.lab, scratch.isolated(expect.host), expect.path, entry=entry, follow_https_redirect=True)
        reply = Reply(reply.scheme, expect.host, reply.path, reply.status, reply.reason, reply.body, reply.headers,
                      reply.seconds, reply.entry)                                  # the learner's host again
        return Seen.of(reply, labels, services)

    # ---- how the exercise shows itself ----------------------------------------------------------------------------

    def _repr_markdown_(self) -> str:
        return self._card(_("The check sends these requests through the Ingress controller:"))

    def _card(self, how: str) -> str:
        rows = "\n".join(f"| `{e.url}` | {e.shown} |" for e in self._expected)
        task, head = _(self._task), _("| request | must reach |")
        return (f"### {self.shown_title}\n\n{task}\n\n{how}\n\n{head}\n|---|---|\n{rows}\n\n"
                f"`{self.variable}.check(answer)` · `{self.variable}.hint()` · `{self.variable}.solution()`")

    def __repr__(self) -> str:
        v = self.variable
        return f"<{type(self).__name__}: {self.shown_title} — {v}.check(answer), {v}.hint(), {v}.solution()>"


def wrong_title(count: int, total: int) -> str:
    """"2 of 5 requests were not answered where they should be." """
    return ngettext("{count} of {total} requests was not answered where it should be.",
                    "{count} of {total} requests were not answered where they should be.", count).format(
        count=count, total=total)


def right_title(total: int) -> str:
    return _("all {total} requests went where they should.").format(total=total)
