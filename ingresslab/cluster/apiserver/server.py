"""The Kubernetes REST API over HTTP, on a loopback port: what `kubectl` and the `kubernetes` client talk to.

One tornado handler parses every URL into (resource, namespace, name, subresource) and dispatches on the verb. The
write path mirrors a real API server's: decode → field validation (unknown/duplicate fields by `fieldValidation`) →
convert (old Ingress versions) → defaults → built-in mutating admission (DefaultIngressClass, ServiceAccount) →
validation → admission hooks (validators and mutators registered by the layers above, e.g. the Ingress controller's
checks and the Service IP allocator) → managedFields → store. Every failure is an `ApiError`, answered as a Status.

Neighbours: `store.py` (objects and watches), `discovery.py` (discovery and OpenAPI), `schemas.py` (every kind's
schema), `fieldvalidation.py`, `tables.py` (`kubectl get` columns), `patch.py` (the three patch types),
`managedfields.py` (field ownership, server-side apply), `admission.py`, `auth.py` (whoami, can-i),
`graceful.py` (pods' graceful deletion), `eviction.py` (pods/eviction: kubectl drain),
`pagination.py` (limit/continue), `defaults.py`/`validation.py` (built-in rules), `conversion.py`;
`crds.py`/`crdviews.py` for CustomResourceDefinitions and their kinds (the lines marked "CRD hook").
"""
from __future__ import annotations

import asyncio
import copy
import hmac
import json
import math
import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import AsyncIterator, Callable, Protocol

import tornado.web
import yaml
from tornado.iostream import StreamClosedError

from ingresslab.cluster.apiserver import admission as builtin_admission
from ingresslab.cluster.apiserver import auth
from ingresslab.cluster.apiserver import conversion
from ingresslab.cluster.apiserver import crds
from ingresslab.cluster.apiserver import crdviews
from ingresslab.cluster.apiserver import defaults
from ingresslab.cluster.apiserver import discovery
from ingresslab.cluster.apiserver import eviction
from ingresslab.cluster.apiserver import fieldvalidation
from ingresslab.cluster.apiserver import managedfields
from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.apiserver import graceful
from ingresslab.cluster.apiserver import pagination
from ingresslab.cluster.apiserver import patch
from ingresslab.cluster.apiserver import protobuf
from ingresslab.cluster.apiserver import streaming
from ingresslab.cluster.apiserver import tables
from ingresslab.cluster.apiserver import validation
from ingresslab.cluster.apiserver import wiretypes
from ingresslab.cluster.apimachinery.errors import ApiError, Cause
from ingresslab.cluster.apimachinery.resources import RESOURCES, Resource, lookup, storage_resource
from ingresslab.cluster.apimachinery.selectors import FieldSelector, LabelSelector
from ingresslab.cluster.storage.store import Store

MAX_BODY = 3 * 1024 * 1024
MAX_HEADERS = 1024 * 1024
"""Request line and headers together, as Go's net/http (DefaultMaxHeaderBytes) bounds them for kube-apiserver."""
BODY_DEADLINE = 60.0
"""Seconds a client has to send a body once its headers arrived; then the connection is dropped."""
MAX_SELECTOR = 32 * 1024
"""Longest label or field selector answered; a longer one is refused with 400 (no real selector comes near)."""
JSON = "application/json"
WATCH_DEFAULT_TIMEOUT = 1800


# ----------------------------------------------------------------------------------------------- admission
class Validator(Protocol):
    def __call__(self, operation: str, obj: dict, old: dict | None) -> list[Cause]: ...


class Mutator(Protocol):
    def __call__(self, operation: str, obj: dict, old: dict | None) -> dict: ...


@dataclass
class Admission:
    """Hooks the layers above plug into the write path, by resource key (`services`, `ingresses.networking.k8s.io`).

    Validators return causes (any cause → 422); mutators return the object to store and may raise ApiError.
    The Ingress controller registers its validation here, as ingress-nginx registers its admission webhook."""

    validators: dict[str, list[Validator]] = field(default_factory=dict)
    mutators: dict[str, list[Mutator]] = field(default_factory=dict)
    on_delete: dict[str, list[Callable[[dict], None]]] = field(default_factory=dict)

    def add_validator(self, key: str, fn: Validator) -> None:
        self.validators.setdefault(key, []).append(fn)

    def add_mutator(self, key: str, fn: Mutator) -> None:
        self.mutators.setdefault(key, []).append(fn)

    def add_delete_hook(self, key: str, fn: Callable[[dict], None]) -> None:
        self.on_delete.setdefault(key, []).append(fn)


class PodLogs(Protocol):
    async def sync_logs(self) -> None: ...
    def logs(self, namespace: str, pod: str, *, container: str | None = None, tail: int | None = None,
             since_seconds: int | None = None, timestamps: bool = False) -> list[str]: ...
    def follow(self, namespace: str, pod: str, *, container: str | None = None) -> AsyncIterator[str]: ...


# ----------------------------------------------------------------------------------------------- request parsing
@dataclass(frozen=True)
class Target:
    resource: Resource
    namespace: str | None        # None: all namespaces (lists) or cluster-scoped
    name: str | None
    sub: str | None
    watch_prefix: bool = False


def parse_path(path: str) -> Target | dict | None:
    """A URL → Target, or a discovery document (dict), or None for 404."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"]:
        if len(parts) == 1:
            return {"_doc": "api"}
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"]:
        if len(parts) == 1:
            return {"_doc": "apis"}
        if len(parts) == 2:
            return {"_doc": "group", "group": parts[1]}
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return {"_doc": "resources", "group": group, "version": version}
    watch = False
    if rest[0] == "watch":
        watch, rest = True, rest[1:]
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and lookup(group, version, rest[2]) is not None:
        namespace, rest = rest[1], rest[2:]
    r = lookup(group, version, rest[0]) if rest else None
    if r is None or len(rest) > 3:
        return None
    if r.namespaced is False and namespace is not None:
        return None
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub is not None and sub not in r.subresources:
        return None
    return Target(r, namespace, name, sub, watch)


def _rand5(n: int = 5) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(secrets.choice(alphabet) for _ in range(n))


# ----------------------------------------------------------------------------------------------- the server
class ApiServer:
    def __init__(self, store: Store, *, token: str, admission: Admission | None = None,
                 pod_logs: PodLogs | None = None, server_address: str = "127.0.0.1:0"):
        self.store = store
        # the garbage collector's deletes of pods are graceful too (graceful.py)
        store.graceful_dependent = lambda key, obj: graceful.graceful_deadline(obj, {}) if key == "pods" else None
        self.token = token
        self.admission = admission or Admission()
        self.pod_logs = pod_logs
        self.pod_streams: streaming.PodStreams | None = None     # exec/attach/portforward: set from the kubelet
        self.server_address = server_address
        self.requests = 0
        crds.sync(store)   # CRD hook: serve the kinds of the CRDs this store holds (after a restart too)

    def app(self) -> tornado.web.Application:
        return tornado.web.Application([*streaming.routes(self), (r"/.*", Handler, {"server": self})],
                                       compress_response=False)

    # --------------------------------------------------------------------------------------- write pipeline
    def prepare(self, r: Resource, op: str, obj: dict, old: dict | None) -> dict:
        """defaults → built-in mutating admission → validation → admission hooks, as a real API server runs them
        before storing (the hooks of the layers above stand for webhooks, which run after the built-in plugins)."""
        obj = defaults.apply_defaults(r.key, obj)
        if r.key == crds.CRD_KEY:   # CRD hook: a CRD's own defaults; a custom object's schema defaults
            obj = crds.default_crd(obj)
        obj = crds.admit_defaults(r, op, obj)
        obj = builtin_admission.admit(self.store, r.key, op, obj)
        causes = list(validation.validate(r.key, obj, old))
        causes += crds.validate_crd(obj, old) if r.key == crds.CRD_KEY else crds.validate(r, obj, old)
        if not causes:
            for fn in self.admission.validators.get(r.key, []):
                causes.extend(fn(op, obj, old))
        if causes:
            raise errors.invalid(r.kind, obj.get("metadata", {}).get("name", ""), causes, r.group)
        for fn in self.admission.mutators.get(r.key, []):
            obj = fn(op, obj, old)
        return obj

    def create(self, r: Resource, namespace: str | None, body: dict, *, dry_run: bool = False,
               field_validation: str = "Warn", decoded: Decoded | None = None,
               manager: str = "") -> tuple[dict, list[str]]:
        warnings: list[str] = []
        obj, r, warnings = self._decode_for(r, body, warnings, field_validation, decoded)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if r.namespaced:
            body_ns = meta.get("namespace")
            if namespace is None:
                namespace = body_ns or "default"
            if body_ns and body_ns != namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent "
                                         "on the request")
            meta["namespace"] = namespace
            owner = self.store.get("namespaces", "", namespace)
            if owner is None:
                raise errors.not_found("namespaces", "", namespace)
            if owner["metadata"].get("deletionTimestamp"):   # as the NamespaceLifecycle admission plugin
                raise ApiError(403, "Forbidden", f"{r.plural} \"{meta.get('name') or ''}\" is forbidden: unable "
                               f"to create new content in namespace {namespace} because it is being terminated")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + _rand5()
        for server_owned in ("uid", "resourceVersion", "creationTimestamp", "generation", "deletionTimestamp"):
            meta.pop(server_owned, None)
        obj = self.prepare(r, "CREATE", obj, None)
        if manager:
            obj = managedfields.record(r.group, r.version, r.kind, None, obj, manager)
        if dry_run:
            return obj, warnings
        stored = self.store.create(r.key, obj)
        if r.key == crds.CRD_KEY:   # CRD hook: accept its names and serve its kind
            stored = crds.establish(self.store, stored)
            warnings.extend(crds.crd_warnings(stored))
        return stored, warnings

    def _decode_for(self, r: Resource, body: dict, warnings: list[str], field_validation: str = "Warn",
                    decoded: Decoded | None = None) -> tuple[dict, Resource, list[str]]:
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request was in an unknown format: expected an object")
        expected = r.api_version
        sent_version, sent_kind = body.get("apiVersion"), body.get("kind")
        if sent_version and sent_version != expected:
            raise errors.bad_request(
                f"the API version in the data ({sent_version}) does not match the expected API version ({expected})")
        if sent_kind and sent_kind != r.kind:
            raise errors.bad_request(f"the kind in the data ({sent_kind}) does not match the expected kind ({r.kind})")
        # Unknown and duplicate fields: refused (Strict), or dropped with a warning (Warn) or silently (Ignore).
        warnings.extend(fieldvalidation.check(
            r.group, r.version, r.kind, body, decoded.duplicates if decoded else None, field_validation,
            yaml_body=bool(decoded and decoded.yaml)))
        obj = copy.deepcopy(body)
        problem = None if r.custom else wiretypes.decode(r.kind, r.version, obj)
        warnings.extend(crds.decode(r, obj, field_validation))   # CRD hook: prune what the schema does not declare
        if not problem and r.key in ("secrets", "configmaps"):
            problem = validation.bytes_problem(obj, "data" if r.key == "secrets" else "binaryData")
        if problem:
            raise errors.bad_request(f'{r.kind} in version "{r.version}" cannot be handled as a {r.kind}: {problem}')
        if r.served_only:
            obj, more = conversion.ingress_v1beta1_to_v1(obj)
            warnings.extend(more)
            r = storage_resource(r)
        obj["apiVersion"], obj["kind"] = r.api_version, r.kind
        return obj, r, warnings

    def update(self, r: Resource, namespace: str | None, name: str, body: dict, *, sub: str | None = None,
               dry_run: bool = False, field_validation: str = "Warn",
               decoded: Decoded | None = None, manager: str = "") -> tuple[dict, list[str]]:
        warnings: list[str] = []
        obj, sr, warnings = self._decode_for(r, body, warnings, field_validation, decoded)
        meta = obj.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                                     % (meta["name"], name))
        meta["name"] = name
        if sr.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent "
                                         "on the request")
            meta["namespace"] = namespace
        old = self.store.require(sr.key, namespace or "", name)
        graceful.keep_deletion_fields(obj, old)
        obj = self._scope_to_subresource(sr, obj, old, sub)
        obj = self.prepare(r if r.custom else sr, "UPDATE", obj, old)
        if manager:
            obj.setdefault("metadata", {})["managedFields"] = copy.deepcopy(old["metadata"].get("managedFields"))
            obj = managedfields.record(sr.group, sr.version, sr.kind, old, obj, manager, subresource=sub)
        if dry_run:
            return obj, warnings
        stored = self.store.update(sr.key, obj)
        if sr.key == crds.CRD_KEY:   # CRD hook: new versions, schemas or names are served at once
            stored = crds.establish(self.store, stored)
            warnings.extend(crds.crd_warnings(stored))
        return stored, warnings

    @staticmethod
    def _scope_to_subresource(r: Resource, obj: dict, old: dict, sub: str | None) -> dict:
        """Writes to the main resource keep the stored status; writes to /status change only the status."""
        if "status" not in r.subresources:
            return obj
        if sub == "status":
            merged = copy.deepcopy(old)
            merged["status"] = obj.get("status", {})
            merged["metadata"]["resourceVersion"] = obj.get("metadata", {}).get(
                "resourceVersion", old["metadata"]["resourceVersion"])
            return merged
        obj = copy.deepcopy(obj)
        if "status" in old:
            obj["status"] = old["status"]
        else:
            obj.pop("status", None)
        return obj

    def patch(self, r: Resource, namespace: str | None, name: str, body: bytes, content_type: str, *,
              sub: str | None = None, dry_run: bool = False, field_validation: str = "Warn",
              manager: str = "") -> tuple[dict, list[str]]:
        sr = storage_resource(r)
        old = self.store.require(sr.key, namespace or "", name)
        current = conversion.ingress_v1_to_v1beta1(old) if r.served_only else old
        if r.custom:   # CRD hook: patched as the version asked for; no strategic merge for custom kinds
            current = crds.present(r, old)
            if content_type.split(";")[0].strip() == "application/strategic-merge-patch+json":
                raise crds.strategic_merge_refused(r)
        doc = _decode_json(body, "patch")
        ctype = content_type.split(";")[0].strip()
        if ctype == "application/merge-patch+json":
            patched = patch.apply_merge_patch(current, doc)
        elif ctype == "application/json-patch+json":
            patched = patch.apply_json_patch(current, doc)
        elif ctype == "application/strategic-merge-patch+json":
            patched = patch.apply_strategic_merge_patch(current, doc, sr.key)
        else:
            raise ApiError(415, "UnsupportedMediaType",
                           f'the body of the request was in an unknown format - accepted media types include: '
                           f'application/json-patch+json, application/merge-patch+json, '
                           f'application/strategic-merge-patch+json, application/apply-patch+yaml, '
                           f'application/apply-patch+cbor (got "{ctype}")')
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch produced something that is not an object")
        if not isinstance(patched.get("metadata", {}), dict):
            raise errors.bad_request("the patch produced an object whose metadata is not an object")
        patched.setdefault("metadata", {})["resourceVersion"] = patched.get("metadata", {}).get(
            "resourceVersion") or old["metadata"]["resourceVersion"]
        return self.update(r, namespace, name, patched, sub=sub, dry_run=dry_run, field_validation=field_validation,
                           manager=manager)

    def apply(self, r: Resource, namespace: str | None, name: str, body: bytes, *, manager: str | None,
              force: bool, dry_run: bool = False, field_validation: str = "Warn") -> tuple[dict, list[str], bool]:
        """Server-side apply (`application/apply-patch+yaml`): creates the object or merges the applied
        configuration into it, by field ownership (`managedfields.py`). Returns (object, warnings, created)."""
        if r.served_only:
            raise ApiError(415, "UnsupportedMediaType", f"server-side apply is served for {storage_resource(r).api_version}"
                           f" Ingresses; send {r.api_version} objects with another patch type")
        if not manager:
            raise errors.invalid("PatchOptions", "", [Cause.required("fieldManager", "is required for apply patch")],
                                 "meta.k8s.io")
        decoded = Decoded(yaml=True)
        applied = decode_body(body, "application/yaml", decoded)
        for what in ("kind", "apiVersion"):      # in the order apimachinery's decoder checks them
            if not applied.get(what):
                raise errors.bad_request(f"Object '{'Kind' if what == 'kind' else what}' is missing in "
                                         f"'{body.decode('utf-8', 'replace')[:200]}'")
        warnings: list[str] = []
        self._decode_for(r, applied, warnings, field_validation, decoded)    # version, kind and unknown fields
        meta = applied.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                                     % (meta["name"], name))
        meta["name"] = name
        if r.namespaced:
            meta["namespace"] = namespace
        live = self.store.get(r.key, namespace or "", name)
        result = managedfields.apply(r.group, r.version, r.kind, live, applied, manager, force=force, name=name)
        if live is None:
            obj, more = self.create(r, namespace, result, dry_run=dry_run, field_validation="Ignore")
            return obj, warnings + more, True
        result["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        obj, more = self.update(r, namespace, name, result, dry_run=dry_run, field_validation="Ignore")
        return obj, warnings + more, False

    def delete(self, r: Resource, namespace: str | None, name: str, options: dict | None = None) -> dict:
        sr = storage_resource(r)
        if sr.key == crds.CRD_KEY:   # CRD hook: its objects go first, then its kind is no longer served
            self.store.require(sr.key, "", name)
            crds.remove(self.store, name)
        if sr.key == "pods":
            marked = graceful.graceful_deadline(self.store.require("pods", namespace or "", name), options or {})
            if marked is not None:      # the kubelet stops the containers, then deletes the pod
                return self.store.update("pods", marked, check_version=False)
        if graceful.propagation(options or {}) == "Orphan":
            owner = self.store.require(sr.key, namespace or "", name)
            self.store.orphan_dependents(owner["metadata"]["uid"], namespace or "")
            gone = self.store.delete(sr.key, namespace or "", name, cascade=False)
        else:
            gone = self.store.delete(sr.key, namespace or "", name)
        for fn in self.admission.on_delete.get(sr.key, []):
            fn(gone)
        return gone


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text} is out of range")
    return value


def _not_json(constant: str):
    raise ValueError(f"{constant} is not valid JSON")


_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}|\\U0000[dD][89a-fA-F]")


@dataclass
class Decoded:
    """What decoding a body found beside the document: keys given twice (for field validation), YAML or JSON."""
    duplicates: fieldvalidation.Duplicates = field(default_factory=fieldvalidation.Duplicates)
    yaml: bool = False


def _strict_json(body: bytes, decoded: Decoded | None = None):
    """json.loads as Go reads JSON: no NaN/Infinity, no numbers beyond float64; too deep is an error, not a crash."""
    try:
        doc, dups = fieldvalidation.parse_json(body, parse_float=_finite, parse_constant=_not_json)
        if decoded is not None:
            decoded.duplicates = dups
        return doc
    except RecursionError:
        raise ValueError(f"the document nests deeper than {wiretypes.MAX_DEPTH} levels") from None


def _check_text(doc, body: bytes) -> None:
    """No lone UTF-16 surrogate (`"\\ud800"`, JSON or YAML escapes): it is not a character, and no UTF-8 text (the
    database, the response, nginx.conf) can hold it. The walk runs only when the raw body holds such an escape,
    and after `_check_complexity` bounded the depth."""
    if not _SURROGATE.search(body):
        return
    where = _lone_surrogate(doc, "")
    if where is not None:
        where = where.encode("utf-8", "backslashreplace").decode()
        raise errors.bad_request(f"the body of the request could not be decoded: {where} holds a lone UTF-16 "
                                 f"surrogate (\\ud800-\\udfff), which is not valid Unicode text")


def _lone_surrogate(value, path: str) -> str | None:
    """The path of the first string (key or value) holding an unpaired surrogate, or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "the document"
        return None
    if isinstance(value, dict):
        children = [(f"{path}.{k}" if path else str(k), k, v) for k, v in value.items()]
    elif isinstance(value, list):
        children = [(f"{path}[{i}]", None, v) for i, v in enumerate(value)]
    else:
        return None
    for inner, key, item in children:
        found = (_lone_surrogate(key, inner) if key is not None else None) or _lone_surrogate(item, inner)
        if found is not None:
            return found
    return None


def _check_complexity(doc, body: bytes) -> None:
    problem = wiretypes.too_complex(doc, budget=len(body) + 10_000)
    if problem:
        raise errors.bad_request(f"the body of the request could not be decoded: {problem}")


def _decode_json(body: bytes, what: str):
    if not body:
        raise errors.bad_request(f"the {what} body is empty")
    try:
        doc = _strict_json(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"the {what} body is not valid JSON: {exc}") from None
    _check_complexity(doc, body)
    _check_text(doc, body)
    return doc


def decode_body(body: bytes, content_type: str, decoded: Decoded | None = None) -> dict:
    """JSON (also when no Content-Type is sent, as kubernetes-client does) or YAML. `decoded` (if given) learns
    which keys were repeated, for field validation."""
    if len(body) > MAX_BODY:
        raise ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_BODY}")
    if not body.strip():
        raise errors.bad_request("the body of the request is empty: expected a Kubernetes object")
    ctype = (content_type or "").split(";")[0].strip()
    if ctype == "application/vnd.kubernetes.protobuf":
        try:
            return protobuf.decode_k8s_protobuf(body)
        except ValueError as exc:
            raise errors.bad_request(f"the protobuf body of the request could not be decoded: {exc}") from None
    if ctype == "application/cbor":
        raise ApiError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - accepted '
                       f'media types include: application/json, application/yaml (got "{ctype}")')
    try:
        if ctype in ("application/yaml", "application/x-yaml", "text/yaml"):
            doc = yaml.safe_load(body)
            if decoded is not None:
                decoded.yaml = True
        else:
            doc = _strict_json(body, decoded)
    except RecursionError:
        raise errors.bad_request(f"the body of the request could not be decoded: the document nests deeper than "
                                 f"{wiretypes.MAX_DEPTH} levels") from None
    except (ValueError, yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise errors.bad_request(f"the body of the request could not be decoded ({ctype or 'application/json'}): "
                                 f"{first}") from None
    if not isinstance(doc, dict):
        raise errors.bad_request("the body of the request must be a JSON object")
    _check_complexity(doc, body)
    _check_text(doc, body)
    return doc


def _list_kind(r: Resource) -> str:
    return f"{r.kind}List"


# ----------------------------------------------------------------------------------------------- the handler
UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized",
                "reason": "Unauthorized", "code": 401}
TOO_LARGE = ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_BODY}").status()
OPEN_PATHS = ("/healthz", "/readyz", "/livez")
DRAIN_LIMIT = 4 * 1024 * 1024
"""A refused request's body up to this size is read and thrown away before the answer, so clients that send the
whole body before reading (Python's http.client) see it; a longer one gets its answer at once, then the connection
is closed. Either way, not a byte of it is kept."""


def http_server_options() -> dict:
    """What the HTTP server itself bounds, before any handler runs: header size, how long a body may take, and a
    last-resort body limit far above `MAX_BODY` (the handler refuses bodies over MAX_BODY itself, with a Status)."""
    return {"max_header_size": MAX_HEADERS, "body_timeout": BODY_DEADLINE, "max_body_size": 1 << 30,
            "idle_connection_timeout": 3600}


@tornado.web.stream_request_body
class Handler(tornado.web.RequestHandler):
    """Bounded before authenticated, as kube-apiserver's filter chain: the token is checked as soon as the headers
    are in, before a byte of body is read; an authenticated body is taken up to MAX_BODY, not one byte more."""

    SUPPORTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

    def initialize(self, server: ApiServer) -> None:
        self.server = server
        self.store = server.store
        self._waiter: asyncio.Queue | None = None
        self._warnings: list[str] = []
        self._chunks: list[bytes] = []
        self._received = 0
        self._refusal: tuple[int, dict] | None = None

    def prepare(self) -> None:
        if self.request.path in OPEN_PATHS:
            return
        if not self._authorized():
            return self._refuse(401, UNAUTHORIZED)
        length = self._declared_length()
        if length is not None and length > MAX_BODY:
            return self._refuse(413, TOO_LARGE)

    def data_received(self, chunk: bytes) -> None:
        if self._finished:
            return
        self._received += len(chunk)
        if self._refusal is not None:         # thrown away, never kept
            if self._received > DRAIN_LIMIT:
                self._send(*self._refusal)
            return
        if self._received > MAX_BODY:         # a chunked body that never said its length
            self._chunks = []
            return self._refuse(413, TOO_LARGE)
        self._chunks.append(chunk)

    def _declared_length(self) -> int | None:
        length = self.request.headers.get("Content-Length", "").strip()
        return int(length) if length.isdigit() else None

    def _refuse(self, code: int, status: dict) -> None:
        """Answer `status` without keeping the body: at once (tornado then drops the rest and closes) when the body
        is bigger than DRAIN_LIMIT, else once the body has been read and thrown away."""
        self._refusal = (code, status)
        length = self._declared_length()
        if (length or 0) > DRAIN_LIMIT or self._received > DRAIN_LIMIT:
            self._send(code, status)

    def compute_etag(self):
        return None

    def on_connection_close(self) -> None:
        if self._waiter is not None:
            self._waiter.put_nowait(None)

    # ------------------------------------------------------------------------ helpers
    def _send(self, code: int, body: dict | str, content_type: str = JSON) -> None:
        self.set_status(code)
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "no-cache, private")
        for text in self._warnings:
            # RFC 7234 quoted-string, as kube-apiserver writes it: client-go unquotes it, and kubectl prints
            # `Warning: unknown field "spec.bogus"`.
            quoted = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ").replace("\r", " ")
            self.add_header("Warning", '299 - "%s"' % quoted)
        self.finish(body if isinstance(body, str) else json.dumps(body, separators=(",", ":")))

    def _error(self, exc: ApiError) -> None:
        self._send(exc.code, exc.status())

    def _authorized(self) -> bool:
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.server.token.encode())

    def _arg(self, name: str, default: str | None = None) -> str | None:
        return self.get_query_argument(name, default)

    def _manager(self) -> str:
        return managedfields.manager_from(self._arg("fieldManager"), self.request.headers.get("User-Agent", ""))

    def _wants_table(self) -> bool:
        return "as=Table" in self.request.headers.get("Accept", "")

    async def _dispatch(self, method: str) -> None:
        self.server.requests += 1
        path = self.request.path
        self.request.body = b"".join(self._chunks)
        self._chunks = []
        if self._refusal is not None:
            return self._send(*self._refusal)
        if path in OPEN_PATHS:
            return self._send(200, "ok", "text/plain")
        try:
            self._check_query()
            if path in ("/version", "/version/"):
                return self._send(200, discovery.KUBE_VERSION)
            if path.startswith("/openapi/"):
                return self._openapi(path)
            target = parse_path(path)
            if target is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
            if isinstance(target, dict):
                return self._discovery(target)
            await self._resource(method, target)
        except ApiError as exc:
            self._error(exc)

    def _openapi(self, path: str) -> None:
        if path.rstrip("/") == "/openapi/v2":
            self.set_status(200)
            self.set_header("Content-Type", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
            return self.finish(discovery.openapi_v2_protobuf())
        if path.rstrip("/") == "/openapi/v3":
            return self._send(200, crdviews.add_to_index(discovery.openapi_v3_index()))   # CRD hook
        rel = path[len("/openapi/v3/"):]
        parts = rel.split("/")
        if len(parts) == 3 and parts[0] == "apis":   # CRD hook: a CRD's group-version (with any built-in kinds of it)
            body = crdviews.openapi_group_version(parts[1], parts[2])
            if body is not None:
                return self._send(200, body)
        for r in RESOURCES:
            gv = f"apis/{r.group}/{r.version}" if r.group else f"api/{r.version}"
            if rel == gv:
                return self._send(200, discovery.openapi_v3_group_version(r.group, r.version))
        raise ApiError(404, "NotFound", "the server could not find the requested resource", {})

    def _discovery(self, doc: dict) -> None:
        what = doc["_doc"]
        if what == "api":
            body = discovery.api_versions(self.server.server_address)
        elif what == "apis":
            body = crdviews.add_groups(discovery.api_group_list())   # CRD hook (also below)
        elif what == "group":
            body = crdviews.api_group(doc["group"], discovery.api_group(doc["group"]))
        else:
            body = crdviews.api_resource_list(doc["group"], doc["version"],
                                              discovery.api_resource_list(doc["group"], doc["version"]))
        if body is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        self._send(200, body)

    # ------------------------------------------------------------------------ resources
    async def _resource(self, method: str, t: Target) -> None:
        r, sr = t.resource, storage_resource(t.resource)
        dry_run = self._arg("dryRun") == "All"
        validation_mode = fieldvalidation.mode_of(self._arg("fieldValidation")) if method in (
            "POST", "PUT", "PATCH") else "Warn"
        if t.sub == "eviction":     # create is its only verb (kubectl drain); see eviction.py
            if method != "POST":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            body = decode_body(self.request.body, self.request.headers.get("Content-Type", ""))
            return self._send(201, eviction.evict(self.server, r, t.namespace or "", t.name, body,
                                                  dry_run_query=self._arg("dryRun")))
        if method in ("GET", "HEAD"):
            if t.name is None:
                if t.watch_prefix or self._arg("watch") in ("true", "1"):
                    return await self._watch(t)
                return self._list(t)
            if t.sub == "log":
                return await self._pod_log(t)
            obj = self.store.require(sr.key, t.namespace or "", t.name)
            if t.sub == "scale":
                return self._send(200, crds.scale_of(r, obj) if r.custom else _scale_of(obj))
            return self._send_object(r, obj)
        if method == "POST" and r.key in auth.REVIEWS and t.name is None:
            body = decode_body(self.request.body, self.request.headers.get("Content-Type", ""))
            return self._send(201, auth.review(r, body))
        if r.key in auth.REVIEWS:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if method == "POST":
            if t.name is not None:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            decoded = Decoded()
            body = decode_body(self.request.body, self.request.headers.get("Content-Type", ""), decoded)
            obj, self._warnings = self.server.create(r, t.namespace, body, dry_run=dry_run,
                                                     field_validation=validation_mode, decoded=decoded,
                                                     manager=self._manager())
            return self._send_object(r, obj, 201)
        if method == "PUT":
            if t.name is None:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            decoded = Decoded()
            body = decode_body(self.request.body, self.request.headers.get("Content-Type", ""), decoded)
            if t.sub == "scale":
                return self._put_scale(t, body)
            obj, self._warnings = self.server.update(r, t.namespace, t.name, body, sub=t.sub, dry_run=dry_run,
                                                     field_validation=validation_mode, decoded=decoded,
                                                     manager=self._manager())
            return self._send_object(r, obj)
        if method == "PATCH":
            if t.name is None:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            if len(self.request.body) > MAX_BODY:
                raise ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_BODY}")
            ctype = self.request.headers.get("Content-Type", "")
            if t.sub == "scale":
                return self._patch_scale(t, ctype)
            if ctype.split(";")[0].strip() == "application/apply-patch+yaml" and t.sub is None:
                obj, self._warnings, created = self.server.apply(
                    r, t.namespace, t.name, self.request.body, manager=self._arg("fieldManager"),
                    force=self._arg("force") == "true", dry_run=dry_run,
                    field_validation=fieldvalidation.mode_of(self._arg("fieldValidation")))
                return self._send_object(r, obj, 201 if created else 200)
            obj, self._warnings = self.server.patch(r, t.namespace, t.name, self.request.body, ctype, sub=t.sub,
                                                    dry_run=dry_run, field_validation=validation_mode,
                                                    manager=self._manager())
            return self._send_object(r, obj)
        if method == "DELETE":
            if t.name is None:
                return self._delete_collection(t)
            if dry_run:
                return self._send_object(r, self.store.require(sr.key, t.namespace or "", t.name))
            body = decode_body(self.request.body, self.request.headers.get("Content-Type", "")) \
                if self.request.body.strip() else None
            options = graceful.delete_options(body, self._arg("gracePeriodSeconds"),
                                              query_policy=self._arg("propagationPolicy"),
                                              query_orphan=self._arg("orphanDependents"))
            return self._send_object(r, self.server.delete(r, t.namespace, t.name, options))
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _present(self, r: Resource, obj: dict) -> dict:
        if r.custom:   # CRD hook: served in the version asked for
            return crds.present(r, obj)
        return conversion.ingress_v1_to_v1beta1(obj) if r.served_only else obj

    def _send_object(self, r: Resource, obj: dict, code: int = 200) -> None:
        if self._wants_table() and code == 200 and self.request.method == "GET":
            return self._send(200, self._table(r, [obj]))
        self._send(code, self._present(r, obj))

    def _table(self, r: Resource, objs: list[dict]) -> dict:
        include = self._arg("includeObject", "Metadata") or "Metadata"
        if r.custom or r.key == crds.CRD_KEY:   # CRD hook: printer columns
            return crdviews.to_table(r, [self._present(r, o) for o in objs], now=datetime.now(timezone.utc),
                                     include_object=include, resource_version=str(self.store.resource_version))
        return tables.to_table(storage_resource(r).key, [self._present(r, o) for o in objs],
                               now=datetime.now(timezone.utc), include_object=include,
                               resource_version=str(self.store.resource_version))

    def _check_query(self) -> None:
        """Query parameters a handler would choke on, refused up front with a Status."""
        for name in ("labelSelector", "fieldSelector"):
            try:
                values = self.get_query_arguments(name)
            except tornado.web.HTTPError:
                raise errors.bad_request(f"{name} is not valid UTF-8 text") from None
            for value in values:
                if len(value) > MAX_SELECTOR:
                    raise errors.bad_request(f"{name} is {len(value)} characters long; this server accepts at most "
                                             f"{MAX_SELECTOR}")

    def _selectors(self) -> tuple[LabelSelector | None, FieldSelector | None]:
        return LabelSelector.parse(self._arg("labelSelector")), FieldSelector.parse(self._arg("fieldSelector"))

    def _list(self, t: Target) -> None:
        labels, fields = self._selectors()
        sr = storage_resource(t.resource)
        items = self.store.list(sr.key, t.namespace if sr.namespaced else None, labels=labels, fields=fields)
        items, list_meta = pagination.page(
            items, limit=pagination.parse_limit(self._arg("limit")), token=self._arg("continue"),
            current_rv=int(self.store.resource_version), oldest_rv=self.store.oldest_version(),
            filtered=labels is not None or fields is not None)
        if self._wants_table():
            table = self._table(t.resource, items)
            table["metadata"] = list_meta
            return self._send(200, table)
        self._send(200, {"kind": _list_kind(t.resource), "apiVersion": t.resource.api_version,
                         "metadata": list_meta, "items": [self._present(t.resource, o) for o in items]})

    def _delete_collection(self, t: Target) -> None:
        labels, fields = self._selectors()
        sr = storage_resource(t.resource)
        gone = [self.server.delete(t.resource, o["metadata"].get("namespace"), o["metadata"]["name"])
                for o in self.store.list(sr.key, t.namespace, labels=labels, fields=fields)]
        self._send(200, {"kind": _list_kind(t.resource), "apiVersion": t.resource.api_version,
                         "metadata": {"resourceVersion": str(self.store.resource_version)}, "items": gone})

    async def _watch(self, t: Target) -> None:
        labels, fields = self._selectors()
        sr = storage_resource(t.resource)
        table = self._wants_table()
        try:
            timeout = float(self._arg("timeoutSeconds") or WATCH_DEFAULT_TIMEOUT)
            if not math.isfinite(timeout):
                raise ValueError
        except ValueError:
            raise errors.bad_request("timeoutSeconds must be a number") from None
        self.set_status(200)
        self.set_header("Content-Type", JSON)
        self.set_header("Cache-Control", "no-cache, private")
        # The watch-list protocol (kubectl's reflectors use it): the current objects as ADDED events, then a
        # BOOKMARK annotated `k8s.io/initial-events-end` that says the initial state is complete.
        initial = self._arg("sendInitialEvents") == "true"
        since = None if initial else self._arg("resourceVersion")
        try:
            w = self.store.watch(sr.key, t.namespace if sr.namespaced else None, since=since,
                                 labels=labels, fields=fields)
        except ApiError as exc:
            if exc.code != 410:
                raise
            self.write(json.dumps({"type": "ERROR", "object": exc.status()}) + "\n")
            return self.finish()
        self._waiter = w.queue
        # Send the headers now, as kube-apiserver flushes them when a watch begins: a client blocked waiting for
        # them could not be stopped (its socket does not exist yet for `Watch.stop()` to shut down).
        await self.flush()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        first = True
        pending_initial = w.queue.qsize() if initial else -1
        try:
            while True:
                if pending_initial == 0:
                    bookmark = {"kind": t.resource.kind, "apiVersion": t.resource.api_version, "metadata": {
                        "resourceVersion": str(self.store.resource_version),
                        "annotations": {"k8s.io/initial-events-end": "true"}}}
                    self.write(json.dumps({"type": "BOOKMARK", "object": bookmark}, separators=(",", ":")) + "\n")
                    await self.flush()
                pending_initial -= 1
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    ev = await asyncio.wait_for(w.queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                if ev is None:
                    return
                obj = self._present(t.resource, ev.object)
                if table:
                    obj = self._table(t.resource, [ev.object])
                    if not first:
                        obj["columnDefinitions"] = []
                first = False
                self.write(json.dumps({"type": ev.type, "object": obj}, separators=(",", ":")) + "\n")
                await self.flush()
            self.finish()
        except StreamClosedError:
            pass
        finally:
            w.close()

    async def _pod_log(self, t: Target) -> None:
        pod = self.store.require("pods", t.namespace or "", t.name)
        container = self._arg("container")
        names = [c.get("name") for c in pod.get("spec", {}).get("containers", [])]
        if container and container not in names:
            raise errors.bad_request(f"container {container} is not valid for pod {t.name}")
        if self.server.pod_logs is None:
            raise errors.bad_request("this cluster has no kubelet to read logs from")
        tail = self._arg("tailLines")
        since = self._arg("sinceSeconds")
        previous = self._arg("previous") in ("true", "1")
        follow = self._arg("follow") in ("true", "1") and not previous   # a previous instance logs no more
        # The follower collects from the moment it is made: make it before reading the past lines.
        agen = self.server.pod_logs.follow(t.namespace or "", t.name, container=container) if follow else None
        await self.server.pod_logs.sync_logs()      # lines still on their way from the pods' process
        lines = self.server.pod_logs.logs(t.namespace or "", t.name, container=container, previous=previous,
                                          tail=int(tail) if tail else None,
                                          since_seconds=int(since) if since else None,
                                          timestamps=self._arg("timestamps") == "true")
        self.set_status(200)
        self.set_header("Content-Type", "text/plain")
        if agen is None:
            return self.finish("".join(line + "\n" for line in lines))
        for line in lines:
            self.write(line + "\n")
        self._waiter = asyncio.Queue()
        closed = asyncio.ensure_future(self._waiter.get())
        try:
            await self.flush()
            while True:
                nxt = asyncio.ensure_future(agen.__anext__())
                done, _ = await asyncio.wait({nxt, closed}, return_when=asyncio.FIRST_COMPLETED)
                if closed in done:
                    nxt.cancel()
                    return
                try:
                    line = nxt.result()
                except StopAsyncIteration:
                    break
                self.write(line + "\n")
                await self.flush()
            self.finish()
        except StreamClosedError:
            pass
        finally:
            closed.cancel()
            await agen.aclose()

    def _put_scale(self, t: Target, body: dict) -> None:
        replicas = (body.get("spec") or {}).get("replicas")
        self._set_replicas(t, replicas, (body.get("metadata") or {}).get("resourceVersion"))

    def _patch_scale(self, t: Target, ctype: str) -> None:
        sr = storage_resource(t.resource)
        obj = self.store.require(sr.key, t.namespace or "", t.name)
        current = crds.scale_of(t.resource, obj) if t.resource.custom else _scale_of(obj)
        doc = _decode_json(self.request.body, "patch")
        kind = ctype.split(";")[0].strip()
        if kind == "application/json-patch+json":
            new = patch.apply_json_patch(current, doc)
        elif kind in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            new = patch.apply_merge_patch(current, doc)
        else:
            raise ApiError(415, "UnsupportedMediaType", f'unsupported patch type "{kind}" for the scale subresource')
        self._set_replicas(t, (new.get("spec") or {}).get("replicas"), None)

    def _set_replicas(self, t: Target, replicas, version: str | None) -> None:
        sr = storage_resource(t.resource)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid("Scale", t.name or "", [Cause.invalid("spec.replicas", replicas,
                                 "must be greater than or equal to 0")], "autoscaling")
        obj = self.store.require(sr.key, t.namespace or "", t.name)
        if version and version != obj["metadata"]["resourceVersion"]:
            raise errors.conflict(sr.plural, sr.group, t.name or "")
        old = self.store.get(sr.key, t.namespace or "", t.name)
        if t.resource.custom:   # CRD hook: the replicas path the CRD names
            obj = crds.set_replicas(t.resource, obj, replicas)
            obj = self.server.prepare(t.resource, "UPDATE", obj, old)
            return self._send(200, crds.scale_of(t.resource, self.store.update(sr.key, obj)))
        obj["spec"]["replicas"] = replicas
        obj = self.server.prepare(sr, "UPDATE", obj, old)
        obj = managedfields.record(sr.group, sr.version, sr.kind, old, obj, self._manager(), subresource="scale")
        self._send(200, _scale_of(self.store.update(sr.key, obj)))

    # ------------------------------------------------------------------------ verbs
    async def get(self, *_):
        await self._dispatch("GET")

    async def head(self, *_):
        await self._dispatch("HEAD")

    async def post(self, *_):
        await self._dispatch("POST")

    async def put(self, *_):
        await self._dispatch("PUT")

    async def patch(self, *_):
        await self._dispatch("PATCH")

    async def delete(self, *_):
        await self._dispatch("DELETE")

    def write_error(self, status_code: int, **kwargs) -> None:
        exc = kwargs.get("exc_info", (None, None))[1]
        message = "an internal error occurred" if status_code >= 500 else (self._reason or "bad request")
        if status_code >= 500 and exc is not None:
            message = f"Internal error occurred: {type(exc).__name__}: {exc}"
        self.set_header("Content-Type", JSON)
        self.finish(json.dumps(ApiError(status_code, "InternalError" if status_code >= 500 else "BadRequest",
                                        message).status()))


def _scale_of(obj: dict) -> dict:
    meta = obj["metadata"]
    selector = (obj.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": meta["name"], "namespace": meta.get("namespace"), "uid": meta["uid"],
                         "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"]},
            "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
            "status": {"replicas": obj.get("status", {}).get("replicas", 0),
                       "selector": ",".join(f"{k}={v}" for k, v in sorted(selector.items()))}}


def new_token() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))

