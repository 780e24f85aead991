"""The article's exercise and three harder follow-ups, declared as data.

`MultiHost` is the article's closing exercise: `www.mysite.com` → `site-svc`, `forums.mysite.com` → `forums-svc`.
The follow-ups keep its shape and apps: `WildcardHost` (`*.mysite.com` with one exception), `PathPrecedence`
(`/forums` on www, but not `/forumsx`) and `DefaultBackend` (a catch-all for unknown hosts). Each declares the
requests a right answer must route (`_expected`), a hint that names the idea, and one solution; `routing.py`
does the checking. The apps are `manifests/mysite.yaml` (and `mysite-notfound.yaml` for the catch-all).
"""
from __future__ import annotations

from ingresslab.i18n import N_

from .routing import Expect, RoutingExercise

SITE, FORUMS, NOTFOUND = "site-svc", "forums-svc", "notfound-svc"


class MultiHost(RoutingExercise):
    name = "multihost"
    variable = "ex"
    title = N_("Two hosts, two Services")
    _task = N_("`site` and `forums` run in the cluster behind the Services `site-svc` and `forums-svc` (port 80, "
             "named `http`). Write an Ingress — or only its `rules` — so that `www.mysite.com` reaches `site-svc` "
             "and `forums.mysite.com` reaches `forums-svc`, whatever the path.")
    _expected = (
        Expect("www.mysite.com", "/", SITE),
        Expect("www.mysite.com", "/about", SITE),
        Expect("forums.mysite.com", "/", FORUMS),
        Expect("forums.mysite.com", "/t/42", FORUMS),
        Expect("blog.mysite.com", "/", None),
    )
    _hint = N_("One rule per host: a rule's `host` is matched against the request's Host header, and its "
             "`http.paths` send paths to a Service. Which pathType makes one path cover every path below it?")
    _solution = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: mysite
spec:
  rules:
  - host: www.mysite.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: site-svc
            port:
              number: 80
  - host: forums.mysite.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: forums-svc
            port:
              number: 80
"""
    _solution_note = N_("`Prefix /` matches every path. `port: {name: http}` works as well as `number: 80`, and so "
                      "do two Ingresses, one per host: the controller merges them into one nginx.conf.")
    _praise = N_("A host that no rule names (blog.mysite.com) got nginx's 404, as it should.")


class WildcardHost(RoutingExercise):
    name = "wildcard"
    variable = "wildcard"
    title = N_("A wildcard host with one exception")
    _task = N_("Every name directly under `mysite.com` (`www.mysite.com`, `shop.mysite.com`, …) should reach "
             "`site-svc` — except `forums.mysite.com`, which keeps going to `forums-svc`.")
    _expected = (
        Expect("www.mysite.com", "/", SITE),
        Expect("shop.mysite.com", "/cart", SITE),
        Expect("forums.mysite.com", "/", FORUMS),
        Expect("forums.mysite.com", "/t/42", FORUMS),
        Expect("mysite.com", "/", None),
        Expect("a.b.mysite.com", "/", None),
    )
    _hint = N_("A host may start with `*.`, standing for exactly one label. When a request's host matches both an "
             "exact rule and a wildcard rule, which one does the controller pick?")
    _solution = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: mysite-wildcard
spec:
  rules:
  - host: "*.mysite.com"
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: site-svc
            port:
              name: http
  - host: forums.mysite.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: forums-svc
            port:
              name: http
"""
    _solution_note = N_("An exact host beats a wildcard, so the order of the rules does not matter. Quote the "
                      "wildcard in YAML: a value starting with `*` is an alias otherwise. `*.mysite.com` matches "
                      "one label only: neither `mysite.com` nor `a.b.mysite.com`.")
    _praise = N_("mysite.com and a.b.mysite.com got 404: a wildcard stands for exactly one label.")


class PathPrecedence(RoutingExercise):
    name = "paths"
    variable = "precedence"
    title = N_("One host, two Services by path")
    _task = N_("On `www.mysite.com`, send `/forums` and everything below it (`/forums/new`) to `forums-svc`, and "
             "every other path to `site-svc` — including `/forumsx`, which is not below `/forums`.")
    _expected = (
        Expect("www.mysite.com", "/", SITE),
        Expect("www.mysite.com", "/about", SITE),
        Expect("www.mysite.com", "/forums", FORUMS),
        Expect("www.mysite.com", "/forums/new", FORUMS),
        Expect("www.mysite.com", "/forumsx", SITE),
    )
    _hint = N_("Two paths under one host. When several paths match a request, which one wins? And does "
             "`Prefix` compare characters or whole path elements between the slashes?")
    _solution = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: mysite-paths
spec:
  rules:
  - host: www.mysite.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: site-svc
            port:
              number: 80
      - path: /forums
        pathType: Prefix
        backend:
          service:
            name: forums-svc
            port:
              number: 80
"""
    _solution_note = N_("The longest matching path wins, whatever the order in the list; `Prefix` matches whole "
                      "elements, so `/forums` covers `/forums/new` but not `/forumsx`.")
    _praise = N_("/forumsx stayed on site-svc: Prefix matches whole path elements.")


class DefaultBackend(RoutingExercise):
    name = "default"
    variable = "catch_all"
    title = N_("A catch-all for unknown hosts")
    _task = N_("Keep `www.mysite.com` → `site-svc` and `forums.mysite.com` → `forums-svc`, and send requests for "
             "every other host to your own not-found page, the Service `notfound-svc` (the article's custom 404 "
             "pod). You may answer with more than one Ingress (YAML documents separated by `---`).")
    _apps = ("mysite.yaml", "mysite-notfound.yaml")
    _uses_catch_all = True
    _expected = (
        Expect("www.mysite.com", "/", SITE),
        Expect("forums.mysite.com", "/t/42", FORUMS),
        Expect("blog.mysite.com", "/", NOTFOUND),
        Expect("unknown.example.org", "/anything", NOTFOUND),
    )
    _hint = N_("`spec.defaultBackend` answers requests that match no rule — but which Ingress's defaultBackend "
             "serves hosts that no rule names at all? Notebook 06, section \"Your own 404 page: the default "
             "backend\", shows who answers such hosts; notebook 08, section \"An IP address instead of a host "
             "name\", shows another way: a rule without `host`.")
    _solution = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: mysite
spec:
  rules:
  - host: www.mysite.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: site-svc
            port:
              number: 80
  - host: forums.mysite.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: forums-svc
            port:
              number: 80
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: catch-all
spec:
  defaultBackend:
    service:
      name: notfound-svc
      port:
        number: 80
"""
    _solution_note = N_("ingress-nginx gives the cluster's catch-all server to an Ingress that has a "
                      "`defaultBackend` and no rules; on an Ingress with rules, `defaultBackend` only answers that "
                      "Ingress's own hosts. A rule without `host` (path `/` → `notfound-svc`) works too. On a real "
                      "controller, `--default-backend-service` does the same for the whole cluster.")
    _praise = N_("Unknown hosts reached notfound-svc; the two sites kept their own Services.")


EXERCISES = (MultiHost, WildcardHost, PathPrecedence, DefaultBackend)
