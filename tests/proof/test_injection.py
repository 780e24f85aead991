"""Injection proof: every config-injection class of REFERENCE.md, in every field that reaches nginx.conf, through the
real API of a real lab, is either refused with 422 naming the field or rendered inert — and nginx never stops
serving the last good configuration meanwhile.

Classes: newline (and CR), `;`, `{`, `}`, `"`, `'`, `\\`, `$`, `#`, `../`, overlong values, NUL, tab and space,
unicode look-alikes (fullwidth `;{}"`, a Cyrillic а), zero-width and RTL-override characters — bare, and as
exploits that would make a canary live (`return 200 "PWNED"`, `add_header X-Pwned 1`). Add your own with
`INGRESSLAB_PAYLOADS=payloads.json` (a JSON object of label → payload): they go into every field and test here.

Fields: Ingress hosts, TLS hosts and secretName, paths of each pathType, Ingress/Service/Namespace/Secret names,
ingressClassName, backend Service names and port names, uids, the value of every supported annotation, snippet
annotations, annotations the lab ignores (`auth-url`, `permanent-redirect`, …), annotation keys, every key of the
controller ConfigMap (and snippet keys there), TCP services ConfigMap keys and entries, TLS Secret contents.

"Refused" means HTTP 422 `Invalid` with `details.causes[].field` naming the field (fields marked `must_reject`
may not be accepted at all). "Inert" means accepted *and served clean*: each payload's attempts run in a sync of
their own, and that sync must succeed — a candidate nginx.conf that `nginx -t` refuses is a failure of the proof
(admission should have refused the object; the batch is then bisected so the culprit is named and the rest still
proven). Then, in the running nginx.conf — tokenised the way nginx's own parser reads it — every token holding the
payload's marker holds the whole payload inside a quoted, escaped string (a token cut short means the rest became
syntax), no directive carries the canary, no response through the NodePort carries it, and stored server-owned
values (uid) are not the payload. ConfigMap payloads must leave nginx.conf's shape (its directives) unchanged.
Throughout the module a poller requests the cafe through NodePort → kube-proxy → nginx → pod and must never fail;
nginx is never restarted and reloads stay within the number of writes.
"""
from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import kubernetes
import pytest
from kubernetes.client.rest import ApiException

from ingresslab.ingress import annotations as ann
from ingresslab.ingress.nginx import lua_available

from polling import eventually

from .conftest import (CANARY, ROOT, http_get, ingress_entry, live_canaries, nginx_directives, nginx_tokens, own_lab,
                       ready_endpoints)
from .injection_cases import (CAFE, CONFIG_PREFIX, EXPLOIT, PAIR, PAYLOADS, Attempt, attempts_for, ingress, marker,
                              tls_secret)

pytestmark = pytest.mark.skipif(not lua_available(), reason="needs nginx with libnginx-mod-http-lua")

# --- the lab, the cafe, and a poller that must never see a failure ---------------------------------------------------

@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with own_lab(tmp_path_factory, "injection-lab") as the_lab:
        the_lab.apply(ROOT / "manifests" / "cafe.yaml")
        the_lab.apply(ingress("cafe", host=CAFE, path="/coffee"))
        eventually(lambda: ready_endpoints(the_lab, "coffee-svc") == 2, what="coffee pods ready")
        entry = ingress_entry(the_lab)
        eventually(lambda: http_get(*entry, "/coffee", CAFE).status == 200, what="cafe routed")
        yield the_lab


@dataclass
class Poller:
    """Requests the cafe every 20 ms through the NodePort; every answer must come from a coffee pod."""

    entry: tuple[str, int]
    requests: int = 0
    failures: list = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="proof-injection-poller", daemon=True)

    def _run(self):
        while not self._stop.wait(0.02):
            reply = http_get(*self.entry, "/coffee", CAFE)
            self.requests += 1
            if reply.status != 200 or "Server name: coffee-" not in reply.text or CANARY in reply.text:
                self.failures.append((time.strftime("%H:%M:%S"), reply.status, reply.text[:120], reply.error))

    def stop(self):
        self._stop.set()
        self.thread.join()


@pytest.fixture(scope="module")
def poller(lab):
    running = Poller(ingress_entry(lab))
    running.thread.start()
    before = lab.ingress.status()
    yield running
    running.stop()
    after = lab.ingress.status()
    assert running.failures == [], f"the known-good Ingress failed during the injections: {running.failures[:10]}"
    assert running.requests > 50
    assert (after["nginx_pid"], after["restarts"]) == (before["nginx_pid"], before["restarts"]), \
        "nginx was restarted during the injections"
    print(f"\ninjection: the cafe answered all {running.requests} polls while payloads were applied")


# --- helpers ---------------------------------------------------------------------------------------------------------

def create(lab, attempt: Attempt) -> None:
    """Send the attempt; record what the API stored, or check its 422 names the field."""
    core, net = kubernetes.client.CoreV1Api(lab.api), kubernetes.client.NetworkingV1Api(lab.api)
    send = {"ingress": lambda b: net.create_namespaced_ingress(attempt.namespace, b, _preload_content=False),
            "service": lambda b: core.create_namespaced_service(attempt.namespace, b, _preload_content=False),
            "secret": lambda b: core.create_namespaced_secret(attempt.namespace, b, _preload_content=False),
            "namespace": lambda b: core.create_namespace(b, _preload_content=False)}[attempt.kind]
    attempt.accepted, attempt.problems, attempt.sent_at = None, [], time.time()
    try:
        response = send(attempt.body)
        attempt.accepted = json.loads(response.data)
    except ApiException as error:
        check_refusal(attempt, error)
        return
    if attempt.must_reject:
        attempt.problems.append(f"{attempt.label}: accepted, but must be refused with 422 on {attempt.field}")


def check_refusal(attempt: Attempt, error: ApiException) -> None:
    try:
        status = json.loads(error.body)
    except (TypeError, ValueError):
        attempt.problems.append(f"{attempt.label}: {error.status} without a Status body: {error.body!r:.200}")
        return
    fields = [c.get("field", "") for c in (status.get("details") or {}).get("causes") or []]
    if error.status != 422 or status.get("kind") != "Status" or status.get("reason") != "Invalid":
        attempt.problems.append(f"{attempt.label}: expected 422 Invalid, got {error.status} {status.get('reason')}")
    elif not any(f == attempt.field or f.startswith(attempt.field + "[") for f in fields):
        attempt.problems.append(f"{attempt.label}: 422 names {fields}, not {attempt.field}")


def delete(lab, attempt: Attempt) -> None:
    core, net = kubernetes.client.CoreV1Api(lab.api), kubernetes.client.NetworkingV1Api(lab.api)
    name = attempt.accepted["metadata"]["name"]
    remove = {"ingress": lambda: net.delete_namespaced_ingress(name, attempt.namespace),
              "service": lambda: core.delete_namespaced_service(name, attempt.namespace),
              "secret": lambda: core.delete_namespaced_secret(name, attempt.namespace),
              "namespace": lambda: core.delete_namespace(name)}[attempt.kind]
    remove()


def synced_after(lab, moment: float, quiet: float = 0.25) -> dict:
    """Wait until the controller synced after `moment` and then had nothing to do for `quiet` seconds."""
    def settled():
        status = lab.ingress.status()
        at = (status.get("last_sync") or {}).get("at", 0)
        return status if at > moment and time.time() - at > quiet else None
    return eventually(settled, timeout=20, interval=0.05, what="controller synced and quiet")


def inert(lab, hosts: list[str], paths: list[str]) -> list[str]:
    """Problems: a live canary in the running nginx.conf, or in any answer for these hosts and paths."""
    problems = [f"live canary directive in nginx.conf: {' '.join(words)!r}"
                for words in live_canaries(lab.ingress.conf())]
    entry = ingress_entry(lab)
    for host in [CAFE, "unknown.test", *hosts]:
        for path in ["/", "/coffee", "/pwned", "/y", *paths]:
            reply = http_get(*entry, path, host)
            if CANARY in reply.text or "x-pwned" in reply.headers:
                problems.append(f"GET {host}{path} answered with the canary: {reply.status} {reply.text[:80]!r}")
    return problems


def nginx_refusals(lab, moment: float) -> list[str]:
    """What went wrong in the controller's syncs since `moment`: a candidate config `nginx -t` refused, or a reload
    that failed. For an accepted object that is a hole: admission should have refused it."""
    status = lab.ingress.status()
    refused = [f"{e['action']}: {e['error'][:400]}" for e in status["history"] if e["at"] > moment and not e["ok"]]
    action = (status.get("last_sync") or {}).get("action", "")
    if not refused and action.startswith(("rejected", "failed")):
        refused.append(f"the last sync was {action!r}")
    return refused


_REGEX_SPECIAL = set("\\.^$|?*+()[]{}#")
_PLAIN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~/-")


def outside_quotes(conf_text: str, mark: str, payload: str) -> list[str]:
    """Where payload bytes escaped a quoted, escaped string in nginx.conf: every token holding `mark` must hold
    the *whole* payload after it (as written, or regex-escaped) — a token cut short means the rest of the payload
    became syntax — inside quotes, or bare only when the payload is plain text; and never inside a comment."""
    escaped = "".join("\\" + c if c in _REGEX_SPECIAL or c.isspace() else c for c in payload)
    whole = (mark + payload, mark + escaped)
    problems = []
    for kind, text in nginx_tokens(conf_text):
        if mark not in text:
            continue
        if kind == "comment":
            problems.append(f"the payload reached a comment: {text[:120]!r}")
        elif not any(w in text for w in whole):
            problems.append(f"a {kind} token holds only part of the payload (the rest became syntax): {text[:120]!r}")
        elif kind == "word" and not set(payload) <= _PLAIN:
            problems.append(f"the payload stands unquoted: {text[:120]!r}")
    return problems


def url_path(path: str) -> str:
    """A path as a request line can carry it (the canary requests use the ASCII ones only)."""
    return path if path.isascii() and path.isprintable() and " " not in path else "/inj"


# --- the proofs ------------------------------------------------------------------------------------------------------

def test_the_canary_detector_sees_live_directives_and_not_quoted_text():
    """The inert check itself: nginx's tokenisation, so quoted canaries are text and escaped ones are live."""
    live = 'server {\n location "/x" {\n return 200 "PWNED";\n }\n}\n'
    quoted = 'server {\n location "/x\\";return 200 \\"PWNED\\";#" {\n return 404;\n }\n # return 200 "PWNED";\n}\n'
    header = 'location "/a" { proxy_pass http://b; }\nlocation /b { add_header X-Pwned 1; }\n'
    assert live_canaries(live) == [["return", "200", "PWNED"]]
    assert live_canaries(quoted) == []
    assert live_canaries(header) == [["add_header", "X-Pwned", "1"]]
    unescaped = 'server {\n location "/x";return 200 "PWNED";#" {\n }\n}\n'   # what a missing escape would write
    assert live_canaries(unescaped) == [["return", "200", "PWNED"]]


def wait_for_sync(lab, attempts: list[Attempt], started: float) -> float:
    """Wait until the controller synced after the last accepted write; return the moment to judge syncs from."""
    moment = max([a.sent_at for a in attempts if a.accepted is not None], default=started)
    synced_after(lab, moment)
    return started


def prove(lab, attempts: list[Attempt], n: int, payload: str, tally: dict) -> list[str]:
    """One payload's attempts in one sync. If nginx refused that sync, bisect: the attempts are deleted and tried
    again half by half, so the one that broke it is named and every other one is still proven."""
    started = time.time()
    for attempt in attempts:
        create(lab, attempt)
    accepted = [a for a in attempts if a.accepted is not None]
    problems = [p for a in attempts for p in a.problems]
    refusals = nginx_refusals(lab, wait_for_sync(lab, attempts, started)) if accepted else []
    if not refusals:
        problems += [p for a in accepted for p in stored_uid_problems(a)]
        conf = lab.ingress.conf()
        problems += [f"payload {n}: {p}" for p in outside_quotes(conf, marker(n), payload)]
        hosts = sorted({r.get("host") for a in accepted if a.kind == "ingress"
                        for r in a.accepted["spec"].get("rules") or [] if r.get("host")})
        paths = sorted({url_path(p["path"]) for a in accepted if a.kind == "ingress"
                        for r in a.accepted["spec"].get("rules") or [] for p in r["http"]["paths"]})
        problems += inert(lab, hosts, paths)
        tally["refused"] += len(attempts) - len(accepted)
        tally["accepted"] += len(accepted)
    deleted = time.time()
    for a in accepted:
        delete(lab, a)
    if accepted:
        synced_after(lab, deleted)
    if refusals and len(accepted) == 1:
        problems.append(f"{accepted[0].label}: accepted by the API, but nginx refused the config it makes "
                        f"(admission must refuse it): {refusals[0]}")
        tally["bisections"] += 1
    elif refusals:
        tally["bisections"] += 1
        tally["refused"] += len(attempts) - len(accepted)
        half = len(accepted) // 2
        problems += prove(lab, accepted[:half], n, payload, tally) + prove(lab, accepted[half:], n, payload, tally)
    return problems


def stored_uid_problems(attempt: Attempt) -> list[str]:
    """The uid is the server's to set: a client's uid (with the payload) must not be stored."""
    if attempt.kind != "ingress" or attempt.field != "metadata.uid":
        return []
    stored = attempt.accepted["metadata"]["uid"]
    if stored == attempt.body["metadata"]["uid"] or CANARY in stored:
        return [f"{attempt.label}: the API stored the uid the client sent ({stored!r})"]
    return []


def test_every_payload_in_every_object_field_is_refused_or_inert(lab, poller):
    """Each payload in every field, in a sync of its own: refused with 422 naming the field, or accepted and then
    the sync succeeded, the payload sits whole inside a quoted string in nginx.conf, and nothing answers with it."""
    reloads = lab.ingress.reloads
    tally = {"attempts": 0, "refused": 0, "accepted": 0, "bisections": 0}
    problems = []
    for n, (label, payload) in enumerate(PAYLOADS.items()):
        attempts = attempts_for(n, label, payload)
        tally["attempts"] += len(attempts)
        problems += prove(lab, attempts, n, payload, tally)
    grew = lab.ingress.reloads - reloads
    print(f"\ninjection: {tally['attempts']} attempts on {len(PAYLOADS)} payload classes, one sync per class: "
          f"{tally['refused']} refused with 422, {tally['accepted']} accepted and inert, "
          f"{tally['bisections']} bisections; {grew} reloads")
    assert grew <= 2 * (tally["accepted"] + len(PAYLOADS)) + 2, f"{grew} reloads for {tally['accepted']} objects"
    assert problems == [], "\n".join(problems)


def skeleton(conf_text: str) -> list[tuple[int, str]]:
    """nginx.conf's shape: every directive's depth and name (no argument), in order."""
    return [(depth, words[0]) for depth, words in nginx_directives(conf_text)]


def log_format(conf_text: str) -> str | None:
    return next((words[2] for _, words in nginx_directives(conf_text)
                 if words[:2] == ["log_format", "upstreaminfo"] and len(words) > 2), None)


def test_every_payload_in_the_controller_configmap_is_ignored_or_inert(lab, poller):
    """Every key at once, one payload per write: the sync succeeds, nginx.conf keeps its shape (no directive added
    or lost), a custom log format holds the whole payload inside its quotes, nothing answers with the canary."""
    core = kubernetes.client.CoreV1Api(lab.api)
    keys = sorted(ann.CONFIGMAP_KEYS) + ["server-snippet", "http-snippet", "main-snippet", "location-snippet"]
    problems, writes, reloads = [], 0, lab.ingress.reloads
    base = lab.ingress.conf()
    try:
        for label, payload in PAYLOADS.items():
            data = {key: CONFIG_PREFIX.get(key, "1") + payload for key in keys}
            moment = time.time()
            core.patch_namespaced_config_map("nginx-configuration", "ingress-nginx", {"data": data})
            writes += 1
            synced_after(lab, moment, quiet=0.05)
            problems += [f"{label}: nginx refused the config: {r}" for r in nginx_refusals(lab, moment)]
            conf = lab.ingress.conf()
            if skeleton(conf) != skeleton(base):
                problems.append(f"{label}: nginx.conf changed shape (directives added or lost)")
            written = log_format(conf)
            if written != log_format(base) and CONFIG_PREFIX["log-format-upstream"] + payload not in written:
                problems.append(f"{label}: the log format holds only part of the payload: {written!r:.120}")
            problems += [f"{label}: {p}" for p in inert(lab, [], [])]
            try:
                core.patch_namespaced_config_map("nginx-configuration", "ingress-nginx",
                                                 {"data": {"x" + payload: "1"}})
                problems.append(f"{label}: a ConfigMap key with the payload was accepted")
            except ApiException as error:
                fields = [c.get("field") for c in json.loads(error.body)["details"]["causes"]]
                if error.status != 422 or not any(str(f).startswith("data[") for f in fields):
                    problems.append(f"{label} in a ConfigMap key: {error.status} naming {fields}")
    finally:
        core.replace_namespaced_config_map("nginx-configuration", "ingress-nginx", {
            "metadata": {"name": "nginx-configuration", "namespace": "ingress-nginx"}, "data": {}})
    synced_after(lab, time.time())
    grew = lab.ingress.reloads - reloads
    print(f"\ninjection: {writes} controller ConfigMap writes ({len(keys)} keys each), {grew} reloads")
    assert grew <= 2 * writes + 2
    assert problems == [], "\n".join(problems)


def test_every_payload_in_the_tcp_services_configmap_is_refused_or_skipped(lab, poller):
    core = kubernetes.client.CoreV1Api(lab.api)
    problems, writes = [], 0
    try:
        for label, payload in PAYLOADS.items():
            moment = time.time()
            try:
                core.patch_namespaced_config_map("tcp-services", "ingress-nginx", {"data": {
                    "9000": "default/coffee-svc:80" + payload, "9001" + payload: "default/coffee-svc:80",
                    "9002": payload + "/coffee-svc:80"}})
                writes += 1
            except ApiException as error:   # a key with the payload is not a valid ConfigMap key
                fields = [c.get("field") for c in json.loads(error.body)["details"]["causes"]]
                if error.status != 422 or fields != [f"data[9001{payload}]"]:
                    problems.append(f"{label}: {error.status} naming {fields}")
                core.patch_namespaced_config_map("tcp-services", "ingress-nginx", {"data": {
                    "9000": "default/coffee-svc:80" + payload, "9002": payload + "/coffee-svc:80"}})
                writes += 1
            synced_after(lab, moment, quiet=0.05)
            problems += [f"{label}: nginx refused the config: {r}" for r in nginx_refusals(lab, moment)]
            problems += [f"{label}: {p}" for p in inert(lab, [], [])]
            if "stream {" in lab.ingress.conf():
                problems.append(f"{label}: a TCP service with the payload became a stream server")
    finally:
        core.replace_namespaced_config_map("tcp-services", "ingress-nginx", {
            "metadata": {"name": "tcp-services", "namespace": "ingress-nginx"}, "data": {}})
    synced_after(lab, time.time())
    assert problems == [], "\n".join(problems)


def test_tls_secret_contents_with_payloads_are_stored_and_inert(lab, poller):
    """kube-apiserver checks only that tls.crt and tls.key exist (REFERENCE.md), so every one of these is stored, as
    there; the Ingress controller then decides: only parsed PEM blocks may reach nginx, garbage falls back to the
    default certificate, and the host keeps being served over HTTPS."""
    core, net = kubernetes.client.CoreV1Api(lab.api), kubernetes.client.NetworkingV1Api(lab.api)
    crt, key = PAIR
    block = "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n"
    cases = {
        "garbage certificate": (f"{EXPLOIT}\n}}\n", key, "data[tls.crt]"),
        "garbage key": (crt, "-----BEGIN PRIVATE KEY-----\nPWNED\n-----END PRIVATE KEY-----\n", "data[tls.key]"),
        "payload in a PEM block": (block.format(base64.b64encode(EXPLOIT.encode()).decode()), key, "data[tls.crt]"),
        "payload after the certificate": (crt + "\n}\n" + EXPLOIT + "\n", key, None),
        "payload before the certificate": (EXPLOIT + "\n" + crt, key, "data[tls.crt]"),
        "payload after the key": (crt, key + "\n" + EXPLOIT + "\nssl_certificate /etc/passwd;\n", None),
        "a second, broken certificate": (crt + block.format("UFdORUQ="), key, "data[tls.crt]"),
    }
    problems = []
    for n, (label, (cert_text, key_text, _)) in enumerate(cases.items()):
        name, host = f"tls-inj-{n}", "tls.inj.test"
        moment = time.time()
        try:
            core.create_namespaced_secret("default", tls_secret(name, cert_text, key_text))
        except ApiException as error:
            problems.append(f"{label}: refused with {error.status} ({error.body[:200]}); a real API server stores "
                            f"it (the content of a TLS secret is the controller's business)")
            continue
        net.create_namespaced_ingress("default", ingress(name, host=host, path="/coffee", tls={
            "hosts": [host], "secretName": name}))
        try:
            synced_after(lab, moment)
            entry = ingress_entry(lab)
            problems += [f"{label}: {p}" for p in inert(lab, [host], ["/coffee"])]
            status = lab.ingress.status()
            ssl_dir = Path(status["conf_path"]).parent / "ssl"
            odd = [f.name for f in ssl_dir.iterdir() if not re.fullmatch(r"[0-9a-f]{64}-[0-9a-f]{16}\.pem|"
                                                                         r"default\.pem", f.name)]
            if odd:
                problems.append(f"{label}: files in nginx's ssl directory not named by hash: {odd}")
            if any(CANARY in f.read_text() for f in ssl_dir.iterdir() if f.is_file()):
                problems.append(f"{label}: the payload text reached a certificate file nginx loads")
            last = status["history"][-1]
            if not last["ok"]:
                problems.append(f"{label}: nginx refused the config ({last['action']}: {last['error'][:200]})")
            # HTTP → HTTPS redirect proves the host is live with its certificate (or the default one)
            reply = http_get(*entry, "/coffee", host)
            if reply.status not in (200, 308):
                problems.append(f"{label}: {host}/coffee answered {reply.status}")
        finally:
            net.delete_namespaced_ingress(name, "default")
            core.delete_namespaced_secret(name, "default")
    synced_after(lab, time.time())
    assert problems == [], "\n".join(problems)
