"""Hypothesis strategies for the proof suites: valid Ingress sets, the cluster objects behind them, requests.

`ingress_sets()` draws what a learner could apply and the API accepts: hosts with and without wildcards and rules
without a host, Exact/Prefix/ImplementationSpecific paths built from a small alphabet of segments (so paths share
prefixes, end in `/` or not, and collide across Ingresses), several Ingresses per host with tied or different
`creationTimestamp`s, `defaultBackend`s (also on Ingresses without rules), two namespaces, Service ports by number
and by name, and now and then an Ingress of another class. `requests()` draws what a browser could send for them:
known, wildcard-matched and unknown hosts (upper case, with a port, with a final dot), and paths with `//`, `/./`,
queries, percent-encoding and case changes.

`accepted_inputs()` widens the same generator with everything else that reaches nginx.conf — every supported
annotation (valid values and random text), ImplementationSpecific paths of random printable text, TLS sections and
Secrets, the controller ConfigMap and the TCP services ConfigMap — and keeps only what admission accepts: the
property is that every accepted input renders to a file `nginx -t` accepts.

`PROOF` is the settings profile every property here runs with: CI by default (300 examples), long when
`INGRESSLAB_PROOF=long` (2,000). Reproduce a run with `pytest --hypothesis-seed=N tests/proof` or
`HYPOTHESIS_SEED=N pytest tests/proof`; a failure prints the falsifying example and a `@reproduce_failure` blob.
"""
from __future__ import annotations

import base64
import os
import string

from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st

from ingresslab.ingress import annotations as ann

LONG = os.environ.get("INGRESSLAB_PROOF") == "long"
settings.register_profile(
    "ingresslab-proof-ci", max_examples=300, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture])
settings.register_profile("ingresslab-proof-long", settings.get_profile("ingresslab-proof-ci"), max_examples=2000)
_PROFILE = settings(settings.get_profile("ingresslab-proof-long" if LONG else "ingresslab-proof-ci"))
_SEED = os.environ.get("HYPOTHESIS_SEED")


def PROOF(test):
    """Decorate a @given test with this: the CI or the long profile, as INGRESSLAB_PROOF says, and the seed in
    $HYPOTHESIS_SEED when set (same as `pytest --hypothesis-seed=N`)."""
    test = _PROFILE(test)
    return seed(int(_SEED))(test) if _SEED else test

# --- the universe the generator draws from --------------------------------------------------------------------------

NAMESPACES = ("default", "team")
SERVICES = ("s0", "s1", "s2")
SERVICE_PORTS = ((80, "http"), (8080, "alt"))
"""Every Service has these two ports; each (namespace, service, port) is served by a backend of its own."""
PORT_NUMBER = {80: 80, "http": 80, 8080: 8080, "alt": 8080}

RULE_HOSTS = ("a.test", "b.test", "x.a.test", "*.a.test", "*.x.a.test", "")
REQUEST_HOSTS = ("a.test", "b.test", "x.a.test", "y.a.test", "y.x.a.test", "z.y.x.a.test", "deep.y.a.test",
                 "c.test", "a.test.example", "test")
SEGMENTS = ("a", "aa", "ab", "b", "a.b", "a-b", "_x", "A")
TIMESTAMPS = tuple(f"2024-01-01T00:00:0{n}Z" for n in range(4))
INGRESS_NAMES = tuple(f"ing-{n}" for n in range(6))


def backend_name(namespace: str, service: str, port: int | str) -> str:
    """What the backend for this Service port answers: `namespace/service:port-number`."""
    return f"{namespace}/{service}:{PORT_NUMBER[port]}"


# --- Ingresses ----------------------------------------------------------------------------------------------------

@st.composite
def rule_paths(draw) -> str:
    segments = draw(st.lists(st.sampled_from(SEGMENTS), max_size=3))
    path = "/" + "/".join(segments)
    if segments and draw(st.booleans()):
        path += "/"
    return path


def service_backends():
    port = st.one_of(st.sampled_from([80, 8080]).map(lambda n: {"number": n}),
                     st.sampled_from(["http", "alt"]).map(lambda n: {"name": n}))
    return st.builds(lambda name, port: {"service": {"name": name, "port": port}}, st.sampled_from(SERVICES), port)


@st.composite
def http_paths(draw, path=None) -> dict:
    """One path entry; `path`, when given, draws ImplementationSpecific paths (and, rarely, Exact/Prefix ones)."""
    path_type = draw(st.sampled_from(["Exact", "Prefix", "ImplementationSpecific"]))
    wide = path is not None and (path_type == "ImplementationSpecific" or draw(st.integers(0, 9)) == 0)
    return {"path": draw(path if wide else rule_paths()), "pathType": path_type, "backend": draw(service_backends())}


@st.composite
def rules(draw, path=None) -> dict:
    rule: dict = {}
    host = draw(st.sampled_from(RULE_HOSTS))
    if host:
        rule["host"] = host
    if not host or draw(st.integers(0, 9)):   # now and then a host with no http section at all
        rule["http"] = {"paths": draw(st.lists(http_paths(path), min_size=1, max_size=4))}
    return rule


REGEX_PATHS = ("/a.*", "/a/(.*)", "/(a|b)/(.*)", "/a[b-z]+", "/b[a-b]*", "/A", "/ab?", "/(aa)/?(.*)")
"""ImplementationSpecific paths as a learner writes them for `use-regex`: a host in regex mode tries its paths as
case-insensitive regexes, longest first, so these overlap one another and the segment paths in every order."""
REWRITE_TARGETS = ("/", "/$1", "/x/$1", "/$2", "/$1b")
ROUTING_ANNOTATIONS = (None,) * 5 + ("use-regex", "rewrite-target", "use-regex-false")


@st.composite
def routing_annotations(draw) -> dict:
    """What changes routing itself: nothing (mostly), `use-regex: "true"`, or a `rewrite-target`."""
    kind = draw(st.sampled_from(ROUTING_ANNOTATIONS))
    if kind == "use-regex":
        return {ann.PREFIX + "use-regex": "true"}
    if kind == "use-regex-false":
        return {ann.PREFIX + "use-regex": "false"}
    if kind == "rewrite-target":
        return {ann.PREFIX + "rewrite-target": draw(st.sampled_from(REWRITE_TARGETS))}
    return {}


def _regex_paths(rule_list: list[dict], draw) -> None:
    """On an Ingress in regex mode, turn some ImplementationSpecific paths into regular expressions."""
    for rule in rule_list:
        for p in (rule.get("http") or {}).get("paths") or []:
            if p["pathType"] == "ImplementationSpecific" and draw(st.booleans()):
                p["path"] = draw(st.sampled_from(REGEX_PATHS))


@st.composite
def ingresses(draw, name: str, namespace: str, *, path=None, annotations=None, tls: bool = False,
              routing: bool = False) -> dict:
    """One Ingress. `routing`: also draw use-regex/rewrite-target (with regex paths) and TLS sections whose
    Secret is good for every host or missing — what changes where a request goes, for the differential."""
    spec: dict = {}
    rule_list = draw(st.lists(rules(path), max_size=3))
    if rule_list:
        spec["rules"] = rule_list
    if not rule_list or draw(st.integers(0, 3)) == 0:
        spec["defaultBackend"] = draw(service_backends())
    meta: dict = {"name": name, "namespace": namespace, "creationTimestamp": draw(st.sampled_from(TIMESTAMPS))}
    klass = draw(st.sampled_from([None] * 8 + ["nginx", "other", "legacy-nginx", "legacy-other"]))
    if klass in ("nginx", "other"):
        spec["ingressClassName"] = klass
    elif klass:
        meta["annotations"] = {"kubernetes.io/ingress.class": klass.split("-", 1)[1]}
    if annotations is not None:
        meta.setdefault("annotations", {}).update(draw(annotations))
    if routing:
        chosen = draw(routing_annotations())
        if chosen:
            meta.setdefault("annotations", {}).update(chosen)
        if chosen.get(ann.PREFIX + "use-regex", "true") == "true" and chosen:
            _regex_paths(rule_list, draw)
    if tls or routing:
        hosts = sorted({r["host"] for r in rule_list if r.get("host")})
        secrets = ["tls-good", "tls-missing"] if routing else ["tls-good", "tls-wrong-host", "tls-missing",
                                                                "tls-opaque"]
        if hosts and draw(st.booleans()):
            spec["tls"] = [{"hosts": draw(st.lists(st.sampled_from(hosts), min_size=1, unique=True)),
                            "secretName": draw(st.sampled_from(secrets))}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


@st.composite
def ingress_sets(draw, *, path=None, annotations=None, tls: bool = False, routing: bool = False) -> list[dict]:
    """One to four Ingresses, unique by namespace/name (several may share hosts and paths)."""
    keys = draw(st.lists(st.tuples(st.sampled_from(NAMESPACES), st.sampled_from(INGRESS_NAMES)),
                         min_size=1, max_size=4, unique=True))
    return [draw(ingresses(name, namespace, path=path, annotations=annotations, tls=tls, routing=routing))
            for namespace, name in keys]


# --- requests -----------------------------------------------------------------------------------------------------

def _percent(char: str) -> str:
    return "%" + format(ord(char), "02X")


@st.composite
def request_paths(draw) -> str:
    segments = draw(st.lists(st.sampled_from(SEGMENTS + ("abc", "bb", "x")), max_size=4))
    path = "/" + "/".join(segments)
    if segments and draw(st.booleans()):
        path += "/"
    mutation = draw(st.sampled_from(["none"] * 6 + ["double-slash", "dot", "query", "percent", "upper"]))
    if mutation == "double-slash":
        path = path.replace("/", "//", 1)
    elif mutation == "dot":
        path = "/." + path
    elif mutation == "query":
        path += "?q=/a/b&x=1"
    elif mutation == "percent" and len(path) > 1:
        i = draw(st.integers(1, len(path) - 1))
        if path[i] != "/":
            path = path[:i] + _percent(path[i]) + path[i + 1:]
    elif mutation == "upper":
        path = path.upper()
    return path


@st.composite
def request_hosts(draw) -> str:
    host = draw(st.sampled_from(REQUEST_HOSTS))
    variant = draw(st.sampled_from(["plain"] * 5 + ["port", "upper", "dot"]))
    return {"plain": host, "port": host + ":8080", "upper": host.upper(), "dot": host + "."}[variant]


def requests():
    return st.lists(st.tuples(request_hosts(), request_paths()), max_size=12)


def concrete_hosts(rule_host: str) -> list[str]:
    """Hosts a request can use to reach a rule's host: itself, or one label for a wildcard, or any for ``."""
    if not rule_host:
        return ["c.test"]
    if rule_host.startswith("*."):
        return ["w" + rule_host[1:]]
    return [rule_host]


def probes(ingress_list: list[dict]) -> list[tuple[str, str]]:
    """Requests aimed at every rule's edges: the path, with and without `/`, one element deeper, a longer name."""
    out = set()
    for ingress in ingress_list:
        for rule in (ingress.get("spec") or {}).get("rules") or []:
            for host in concrete_hosts(rule.get("host") or ""):
                out.add((host, "/"))
                out.add((host, "/zzz"))
                for p in ((rule.get("http") or {}).get("paths")) or []:
                    base = p["path"].rstrip("/")
                    for variant in (p["path"], base or "/", base + "/", (base or "/") + "x", base + "/z",
                                    base + "/z/"):
                        out.add((host, variant))
    return sorted(out)


# --- the cluster behind the Ingresses ---------------------------------------------------------------------------------

INGRESS_CLASSES = [
    {"metadata": {"name": "nginx", "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
     "spec": {"controller": "k8s.io/ingress-nginx"}},
    {"metadata": {"name": "other"}, "spec": {"controller": "example.com/other"}},
]


def services() -> list[dict]:
    return [{"metadata": {"namespace": ns, "name": name},
             "spec": {"type": "ClusterIP", "clusterIP": "127.96.0.1",
                      "ports": [{"name": pname, "port": port, "targetPort": port, "protocol": "TCP"}
                                for port, pname in SERVICE_PORTS]}}
            for ns in NAMESPACES for name in SERVICES]


def endpoint_slices(addresses: dict[str, tuple[str, int]], *, unready: frozenset = frozenset()) -> list[dict]:
    """One slice per Service port, so each port reaches a backend of its own: `addresses[backend_name]`. The
    Services named in `unready` ((namespace, name) pairs) have their endpoint not ready: nginx answers 503."""
    slices = []
    for ns in NAMESPACES:
        for name in SERVICES:
            for port, pname in SERVICE_PORTS:
                ip, number = addresses[backend_name(ns, name, port)]
                slices.append({"metadata": {"namespace": ns, "name": f"{name}-{pname}",
                                            "labels": {"kubernetes.io/service-name": name}},
                               "addressType": "IPv4", "ports": [{"name": pname, "port": number, "protocol": "TCP"}],
                               "endpoints": [{"addresses": [ip], "conditions": {"ready": (ns, name) not in unready}}]})
    return slices


# --- everything else that reaches nginx.conf, for the `nginx -t` property ------------------------------------------

NASTY = string.printable + "；｛｝＂\u200b\u202e\u0430é\x00\x7f"
"""Printable ASCII (quotes, `;`, braces, `$`, `#`, `\\`, newline, tab), and the look-alikes and invisibles the
injection classes of REFERENCE.md name: fullwidth `;{}"`, a zero-width space, an RTL override, a Cyrillic а."""


def nasty_text(max_size: int = 24):
    return st.text(alphabet=NASTY, max_size=max_size)


def overlong(unit: str, start: str = ""):
    """`start`, then `unit` repeated to around and beyond nginx's 4 KiB limit for one configuration value."""
    return st.sampled_from([500, 1000, 1024, 1025, 2000, 2100, 5000]).map(
        lambda n: start + unit * max(1, (n - len(start)) // len(unit)))


def annotation_values():
    """For each supported annotation: one of its valid values, or random text (admission decides)."""
    valid = {
        "rewrite-target": st.one_of(st.sampled_from(["/", "/$1", "/$2", "/api/$1", "/a-b/c_d.e~f:g"]),
                                    overlong("ab.$1/", "/")),
        "use-regex": st.sampled_from(["true", "false", "1", "0"]),
        "ssl-redirect": st.sampled_from(["true", "false"]),
        "force-ssl-redirect": st.sampled_from(["true", "false"]),
        "backend-protocol": st.sampled_from(["HTTP", "https", " GRPC ", "grpcs"]),
        "service-upstream": st.sampled_from(["true", "false"]),
        "proxy-body-size": st.sampled_from(["0", "1k", "8m", "1g", "123456789"]),
    }
    keys = st.sampled_from([a.key for a in ann.ANNOTATIONS] + [ann.PREFIX + "auth-url", ann.PREFIX + "mirror-target"])

    @st.composite
    def one(draw):
        key = draw(keys)
        short = key[len(ann.PREFIX):]
        nasty = short not in valid or draw(st.integers(0, 3)) == 0
        value = draw(nasty_text() if nasty else valid[short])
        return key, value
    return st.lists(one(), max_size=3).map(dict)


_ATOMS = ("a", "b", "/", "-", "_", "~", ".", "[a-z]", "[^/]", "[[:alpha:]]", "[[:word:]]", "[[:foo:]]", "%2F", "$",
          "\\d", "{2}", "#", "(?#x)")
_QUANTIFIERS = ("", "", "", "*", "+", "?", "*?", "++", "*+")
_GROUPS = ("(", "(?:", "(?i:", "(?-i:", "(?s:", "(?a:", "(?u:", "(?=", "(?!", "(?>", "(?P<n>", "(?<=a)(")
"""Pieces of regular expressions as a learner writes ImplementationSpecific paths for `use-regex`: some valid in
both Python's `re` (what admission compiles) and nginx's PCRE, some in only one dialect, some in neither."""


def regexes():
    atoms = st.builds(lambda a, q: a + q, st.sampled_from(_ATOMS), st.sampled_from(_QUANTIFIERS))
    return st.recursive(atoms.map(lambda a: [a]), lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda parts: [p for part in parts for p in part]),
        st.builds(lambda g, body, q: [g, *body, ")" + q], st.sampled_from(_GROUPS), inner,
                  st.sampled_from(_QUANTIFIERS)),
        st.builds(lambda a, b: [*a, "|", *b], inner, inner)), max_leaves=6).map("".join)


@st.composite
def implementation_specific_paths(draw) -> str:
    """A path of segments, random text after a `/`, a regular expression, or an overlong path."""
    kind = draw(st.sampled_from(["segments", "text", "regex", "regex", "regex", "long"]))
    if kind == "segments":
        return draw(rule_paths())
    if kind == "text":
        return "/" + draw(st.text(alphabet=string.printable + "；\u200b", max_size=20))
    if kind == "long":
        return "/" + "a/." * draw(st.sampled_from([300, 341, 342, 1400, 3000]))
    return "/" + draw(regexes())


LOG_FORMAT_PIECES = ("${remote_addr}", "${status}", "${request}", " ", '"', "\\", ";", "{", "}", "#", "'", "x", "[",
                     "]", "return 200 PWNED;")


def configmap_data():
    """Controller ConfigMap keys with random values. `log-format-upstream` draws only nginx variables nginx knows:
    which `$names` exist is nginx's to say (an unknown one fails `nginx -t`, and the controller then keeps the last
    good config with a Warning — test_controller proves that path), so it is outside this property."""
    values = st.one_of(nasty_text(), st.sampled_from(["0", "1", "2", "true", "false", "8m", "16", "1024", "60"]))
    log_format = st.one_of(st.lists(st.sampled_from(LOG_FORMAT_PIECES), max_size=12).map("".join),
                           overlong('$status "x\\" '))
    keys = st.sampled_from(sorted(set(ann.CONFIGMAP_KEYS) - {"log-format-upstream"})
                           + ["server-snippet", "http-snippet", "main-snippet"])
    return st.tuples(st.dictionaries(keys, values, max_size=4), st.one_of(st.none(), log_format)).map(
        lambda kv: {**kv[0], **({"log-format-upstream": kv[1]} if kv[1] is not None else {})})


def tcp_services_data():
    key = st.one_of(st.sampled_from(["9000", "9001", "0", "70000", "80"]), nasty_text(6))
    value = st.one_of(st.builds(lambda ns, svc, port: f"{ns}/{svc}:{port}", st.sampled_from(NAMESPACES),
                                st.sampled_from(SERVICES), st.sampled_from(["80", "8080", "http", "alt", "81"])),
                      nasty_text())
    return st.dictionaries(key, value, max_size=3)


@st.composite
def accepted_inputs(draw) -> dict:
    """An Ingress set with annotations, odd ImplementationSpecific paths and TLS, plus both ConfigMaps."""
    path = st.one_of(rule_paths(), implementation_specific_paths())
    return {"ingresses": draw(ingress_sets(path=path, annotations=annotation_values(), tls=True)),
            "configmap": draw(configmap_data()), "tcp_services": draw(tcp_services_data())}


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()
