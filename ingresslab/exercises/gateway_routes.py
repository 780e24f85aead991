"""The multi-host exercise again, as Gateway API HTTPRoutes (notebook 09).

`MultiHostRoutes` keeps `mysite.MultiHost`'s task and table (`www.mysite.com` → `site-svc`, `forums.mysite.com`
→ `forums-svc`, another host → 404) and its machinery (`routing.RoutingExercise`: hint, solution, outcome cards;
`scratch.Scratch`: a throw-away namespace with the apps; `probe.send`: real requests). What differs is the answer
and the way in: the learner writes HTTPRoutes (the application developer's part), and the check plays the cluster
operator — it creates a Gateway `mysite` (class `nginx`, one HTTP listener on port 80, routes from its own
namespace) in the scratch namespace, so the lab's Gateway controller starts an nginx for it alone. Requests go
to that Gateway's NodePort with the learner's real host names: no other route can claim them, so no host renaming
is needed. A wrong answer is explained first by what the Gateway controller wrote in the routes' status (not
accepted, a backend not found), then by the hostnames the routes list.

Neighbours: `routing.py` (the base and `Seen`), `ingresslab.gatewaylab` (waits on route status, NodePorts).
"""
from __future__ import annotations

import copy
import dataclasses
import time

import yaml
from kubernetes.client.rest import ApiException

from ingresslab.i18n import N_, _
from ingresslab.lab import LabError

from .mysite import FORUMS, SITE
from .outcome import Finding, Outcome, Request
from .plainwords import api_error_findings
from .probe import Entry, Reply, send
from .routing import Expect, RoutingExercise, Seen, right_title, wrong_title
from .scratch import Scratch

GATEWAY = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "mysite"},
           "spec": {"gatewayClassName": "nginx",
                    "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}}
"""The Gateway the check creates (the cluster operator's part): the learner's routes attach to it by name."""


ENTRY = N_("the Gateway `mysite`")


class MultiHostRoutes(RoutingExercise):
    name = "multihost-routes"
    variable = "routes_ex"
    title = N_("Two hosts, two Services — with HTTPRoutes")
    _task = N_("The same two apps as in notebook 07: `site-svc` and `forums-svc` (port 80). The cluster operator "
             "has made a Gateway called `mysite` (class `nginx`, an HTTP listener on port 80, no hostname). Write "
             "the HTTPRoute(s) — the application developer's part — so that `www.mysite.com` reaches `site-svc` "
             "and `forums.mysite.com` reaches `forums-svc`, whatever the path.")
    _expected = (
        Expect("www.mysite.com", "/", SITE),
        Expect("www.mysite.com", "/about", SITE),
        Expect("forums.mysite.com", "/", FORUMS),
        Expect("forums.mysite.com", "/t/42", FORUMS),
        Expect("blog.mysite.com", "/", None),
    )
    _hint = N_("A route attaches to a Gateway through `spec.parentRefs` (the Gateway's name), and `spec.hostnames` "
             "says which Host headers it takes. A rule without `matches` matches every path. One route per host "
             "is the simplest: each lists one hostname and one `backendRefs` entry (Service name and port).")
    _solution = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: site
spec:
  parentRefs:
  - name: mysite
  hostnames:
  - www.mysite.com
  rules:
  - backendRefs:
    - name: site-svc
      port: 80
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: forums
spec:
  parentRefs:
  - name: mysite
  hostnames:
  - forums.mysite.com
  rules:
  - backendRefs:
    - name: forums-svc
      port: 80
"""
    _solution_note = N_("A rule without `matches` is the same as `path: {type: PathPrefix, value: /}`. Hostnames "
                      "belong to the whole route, not to a rule: two hosts with two different Services make two "
                      "routes. `parentRefs` may also say `sectionName: http` to pick the listener.")
    _praise = N_("blog.mysite.com got the Gateway's 404: no route lists that hostname.")

    def _wrong(self, kind: str, title: str, findings, notes=(), requests=()):
        wrong = super()._wrong(kind, title, findings, notes, requests)
        wrong.outcome = dataclasses.replace(wrong.outcome, entry=ENTRY)
        return wrong

    # ---- reading ------------------------------------------------------------------------------------------------

    def read_routes(self, answer) -> list[dict]:
        """HTTPRoute dicts from YAML text, a dict or a list of dicts; raises `Incorrect` (kind "invalid")."""
        try:
            docs = [d for d in yaml.safe_load_all(answer) if d] if isinstance(answer, str) else \
                [answer] if isinstance(answer, dict) else list(answer or [])
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            problem = getattr(err, "problem", err)
            text = (_("this is not valid YAML at line {line}: {problem}").format(line=mark.line + 1, problem=problem)
                    if mark else _("this is not valid YAML: {problem}").format(problem=problem))
            raise self._wrong("invalid", _("this cannot be read as HTTPRoutes yet (no request was sent)."),
                              [Finding(text)]) from None
        problems = []
        for i, doc in enumerate(docs, 1):
            if not isinstance(doc, dict) or doc.get("kind") != "HTTPRoute":
                kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
                text = (_("document {number} is a {kind}, not an HTTPRoute (the Gateway `mysite` is already there; "
                          "answer with routes only)") if kind else
                        _("document {number} is a document without kind, not an HTTPRoute (the Gateway `mysite` is "
                          "already there; answer with routes only)"))
                problems.append(Finding(text.format(number=i, kind=kind)))
            elif not (doc.get("metadata") or {}).get("name"):
                problems.append(Finding(_("document {number}: an HTTPRoute needs `metadata.name`").format(number=i)))
        if not docs:
            problems.append(Finding(_("the answer is empty: write at least one HTTPRoute")))
        if problems:
            raise self._wrong("invalid", _("this cannot be read as HTTPRoutes yet (no request was sent)."), problems)
        return [copy.deepcopy(d) for d in docs]

    # ---- the decision -------------------------------------------------------------------------------------------

    def verify(self, answer) -> Outcome:
        routes = self.read_routes(answer)
        with Scratch(self.lab, purpose="routes", apps=self._apps, timeout=self.timeout) as scratch:
            self.last_namespace = ns = scratch.namespace
            self.lab.apply(copy.deepcopy(GATEWAY), namespace=ns)
            for route in routes:
                route.setdefault("apiVersion", "gateway.networking.k8s.io/v1")
                route["metadata"]["namespace"] = ns
                try:
                    self.lab.apply(route, namespace=ns)
                except ApiException as err:
                    raise self._wrong("invalid", _("the API refused the HTTPRoute."),
                                      api_error_findings(err, route)) from None
            try:
                self.lab.gateway.wait_programmed("mysite", ns, timeout=self.timeout)
                statuses = {r["metadata"]["name"]: self.lab.gateway.wait_route(r["metadata"]["name"], ns,
                                                                               timeout=self.timeout)
                            for r in routes}
            except RuntimeError as err:
                raise LabError(str(err)) from None
            ports = self.lab.gateway.node_ports("mysite", ns)
            entry = Entry(Entry.of(self.lab).node_ip, int(ports[80]), None)
            # The route's status says its nginx serves it; kube-proxy may take a moment more to forward the new
            # Gateway's NodePort. Wait for any HTTP answer there before judging.
            first = self._expected[0]
            deadline = time.monotonic() + self.timeout
            while send(None, first.host, first.path, entry=entry, timeout=2).status == 0:
                if time.monotonic() > deadline:
                    raise LabError(_("the Gateway's NodePort {port} gave no HTTP answer within {seconds} s").format(
                        port=ports[80], seconds=f"{self.timeout:.0f}"))
                time.sleep(0.05)
            services = scratch.services()
            labels = scratch.pod_labels()
            seen = [Seen.of(send(None, e.host, e.path, entry=entry), labels, services) for e in self._expected]
        requests = tuple(Request(e.url, e.shown, s.shown, s.ok_for(e)) for e, s in zip(self._expected, seen))
        wrong = [(e, s) for e, s in zip(self._expected, seen) if not s.ok_for(e)]
        if wrong:
            raise self._wrong("incorrect", wrong_title(len(wrong), len(seen)), self._explain(wrong, routes, statuses),
                              (), requests)
        return Outcome(True, "correct", right_title(len(seen)), (), requests, (_(self._praise),), self.name,
                       entry=ENTRY)

    @staticmethod
    def _explain(wrong: list[tuple[Expect, Seen]], routes: list[dict],
                 statuses: dict[str, list[dict]]) -> list[Finding]:
        """First what the controller said about the routes (their status), then request by request."""
        found = []
        for name, rows in statuses.items():
            for row in rows:
                if row["status"] != "True":
                    found.append(Finding(_("HTTPRoute `{name}`: {type} is False ({reason}): {message}").format(
                        name=name, type=row["type"], reason=row["reason"], message=row["message"]),
                        f"kubectl describe httproute {name}"))
        if not any(rows for rows in statuses.values()):
            found.append(Finding(_("the Gateway controller reported nothing on your routes: does `parentRefs` name "
                                   "the Gateway `mysite`?")))
        hostnames = {h: (r.get("metadata") or {}).get("name") for r in routes
                     for h in (r.get("spec") or {}).get("hostnames") or []}
        any_host = any(not (r.get("spec") or {}).get("hostnames") for r in routes)
        for expect, seen in wrong:
            words = dict(request=f"`GET {expect.url}`", app=seen.app, expected=expect.shown, host=expect.host,
                         route=hostnames.get(expect.host), status=seen.reply.status_line or seen.reply.reason)
            if seen.reply.pod is not None:
                text = (_("{request} was answered by a {app} pod, not {expected} (route `{route}` lists this "
                          "hostname)") if expect.host in hostnames else
                        _("{request} was answered by a {app} pod, not {expected}"))
            elif expect.host not in hostnames and expect.service is not None:
                text = (_("{request} got {status}: no route lists hostname `{host}` (a route without `hostnames` "
                          "takes every host)") if any_host else
                        _("{request} got {status}: no route lists hostname `{host}`"))
            else:
                text = _("{request} got {status}")
            found.append(Finding(text.format(**words)))
        return found

    def _repr_markdown_(self) -> str:
        return self._card(_("The check creates the Gateway, applies your routes in a scratch namespace and sends "
                            "these requests through the Gateway's NodePort:"))
