"""The controller's Warning events about one object, in plain words a learner can act on.

When something surprising happens to an Ingress — its `service-upstream` annotation is overruled by another
Ingress (`ServiceUpstreamShared`), the controller ignores it (`Rejected`), its TLS Secret is missing
(`TLSDefaultCertificate`), its Service has no ready endpoints (`BackendUnavailable`) — the controller posts a
core/v1 `Warning` Event on it, as ingress-nginx does, and `kubectl describe` lists it. Notebooks and widgets read
the same Events here: `warnings_for(api, kind, name, namespace=…)` returns the Warnings on the object *as it
exists now* (Events about an earlier object of the same name are left out by uid), one per reason, each with a
sentence in plain words (`plain_words`) beside Kubernetes' own message.

Neighbours: `lab.Lab.warnings_for` (the facade notebooks call), `widgets` (Apply and Send show these),
`ingress.translate` / `ingress.controller` (who posts the Events). Imports only the official client.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from .i18n import _

__all__ = ["LabWarning", "Warnings", "plain_words", "warnings_for"]


@dataclass(frozen=True)
class LabWarning:
    """One Warning Event on one object: Kubernetes' `reason` and `message`, and `plain`, the same in plain words."""

    kind: str
    namespace: str
    name: str
    reason: str
    message: str
    plain: str

    def __str__(self) -> str:
        return self.plain


class Warnings(list):
    """`LabWarning`s about one object; prints one sentence a line, or says plainly that there are none."""

    def __init__(self, items=(), *, about: str = ""):
        super().__init__(items)
        self.about = about

    def text(self) -> str:
        if not self:
            return _("no warnings for {what}").format(what=self.about) if self.about else _("no warnings")
        return "\n".join(f"⚠ {w.reason}: {w.plain}" for w in self)

    def __repr__(self) -> str:
        return self.text()

    def __str__(self) -> str:
        return self.text()

    def html(self) -> str:
        import html as h
        if not self:
            return ""
        items = "".join(f"<li><b>{h.escape(w.reason)}</b>: {h.escape(w.plain)}</li>" for w in self)
        title = h.escape(_("The controller warns:"))
        return f'<div style="color:#b26a00"><b>{title}</b><ul style="margin:2px 0">{items}</ul></div>'


    def _repr_html_(self) -> str:
        return self.html() or f"<i>{self.text()}</i>"


# --- plain words ---------------------------------------------------------------------------------------------------
# The controller's own message (English, as Kubernetes events are) is quoted inside each sentence as {message}.

_SHARED = re.compile(r"upstream (?P<upstream>\S+) is shared with Ingress (?P<first>\S+), which names it first, so its "
                     r"service-upstream \((?P<applied>\w+)\) applies here too, not this Ingress's \((?P<wanted>\w+)\)")


def _service_upstream_shared(message: str) -> str:
    m = _SHARED.search(message)
    if not m:
        return _("this Ingress's service-upstream annotation has no effect: another Ingress names the same Service "
                 "port first and decides it for both. {message}").format(message=message)
    if m["wanted"] == "true":
        text = _("this Ingress's service-upstream annotation (true) has no effect: its requests still go straight "
                 "to the pods. nginx keeps one upstream per Service port ({upstream}), and Ingress {first} named "
                 "it first, so its setting (service-upstream {applied}) applies to both. Give this Ingress a "
                 "Service of its own (same selector, another name) to keep them apart.")
    else:
        text = _("this Ingress does not ask for service-upstream, yet its requests go through the Service's "
                 "ClusterIP (one hop more). nginx keeps one upstream per Service port ({upstream}), and Ingress "
                 "{first} named it first, so its setting (service-upstream {applied}) applies to both. Give this "
                 "Ingress a Service of its own (same selector, another name) to keep them apart.")
    return text.format(upstream=m["upstream"], first=m["first"], applied=m["applied"])


def _backend_unavailable(message: str) -> str:
    problem = message.split(": requests for it get 503", 1)[0]
    if "no ready endpoints" in problem:
        why = _("no pod behind it is ready, so nginx has nowhere to send the request")
    elif "not found" in problem:
        why = _("the Service does not exist (yet) in that namespace")
    elif "has no port" in problem:
        why = _("the Ingress names a port the Service does not have")
    else:
        why = problem
    return _("requests for this backend get 503 Service Unavailable: {problem} — {why}.").format(problem=problem,
                                                                                                  why=why)


def _tls_default(message: str) -> str:
    problem, _sep, rest = message.partition(": host ")
    if rest:
        return _("{problem}, so nginx answers HTTPS for {host} with its default self-signed certificate: browsers "
                 "and curl without --insecure refuse it until the Secret exists (kubectl get secret).").format(
            problem=problem, host=rest.split(" ", 1)[0])
    return _("{problem}, so nginx answers HTTPS for this host with its default self-signed certificate: browsers "
             "and curl without --insecure refuse it until the Secret exists (kubectl get secret).").format(
        problem=problem)


_PLAIN: dict[str, Callable[[str], str]] = {
    "ServiceUpstreamShared": _service_upstream_shared,
    "Rejected": lambda m: _("the controller ignores this Ingress, so nginx does not serve it: {message}.").format(
        message=m.removeprefix("the controller ignores this Ingress until it is fixed: ")),
    "BackendUnavailable": _backend_unavailable,
    "TLSDefaultCertificate": _tls_default,
    "PathConflict": lambda m: _("one of its paths does nothing: {message} (the oldest Ingress keeps a path).").format(
        message=m),
    "BackendIgnored": lambda m: _("one of its paths does nothing: {message}.").format(message=m),
    "RELOAD": lambda m: _("nginx refused the new configuration and keeps serving the previous one: {message}").format(
        message=m),
    "DefaultBackendUnavailable": lambda m: _("the default backend cannot answer: {message}.").format(message=m),
    "ConfigInvalid": lambda m: _("a ConfigMap setting is ignored: {message}.").format(message=m),
    "TCPServiceSkipped": lambda m: _("a TCP service is not served: {message}.").format(message=m),
    "ErrImagePull": lambda m: _("the pod cannot start: {message}").format(message=m),
}


def plain_words(reason: str, message: str) -> str:
    """A learner's sentence for one Warning: what it means for their requests and what to do about it."""
    explain = _PLAIN.get(reason)
    return explain(message) if explain else f"{message}"


# --- reading -------------------------------------------------------------------------------------------------------

def _current_uid(api: Any, kind: str, name: str, namespace: str) -> str | None:
    """The uid of the object as it exists now; None when it does not exist (or the kind is not one we read)."""
    import kubernetes
    readers = {"Ingress": lambda: kubernetes.client.NetworkingV1Api(api).read_namespaced_ingress(name, namespace),
               "Service": lambda: kubernetes.client.CoreV1Api(api).read_namespaced_service(name, namespace),
               "Pod": lambda: kubernetes.client.CoreV1Api(api).read_namespaced_pod(name, namespace),
               "ConfigMap": lambda: kubernetes.client.CoreV1Api(api).read_namespaced_config_map(name, namespace)}
    read = readers.get(kind)
    if read is None:
        return None
    try:
        return read().metadata.uid
    except kubernetes.client.rest.ApiException as err:
        if err.status == 404:
            return None
        raise


def warnings_for(api: Any, kind: str, name: str, *, namespace: str = "default") -> Warnings:
    """The Warning Events on `kind` `namespace/name` as it exists now, one per reason (the newest), oldest first."""
    import kubernetes
    core = kubernetes.client.CoreV1Api(api)
    selector = f"involvedObject.kind={kind},involvedObject.name={name}"
    events = core.list_namespaced_event(namespace, field_selector=selector).items
    uid = _current_uid(api, kind, name, namespace)
    newest: dict[str, Any] = {}
    for e in events:
        involved = e.involved_object
        if e.type != "Warning" or involved.kind != kind or involved.name != name:
            continue          # a server that ignores field selectors still gets the right answer
        if uid and involved.uid and involved.uid != uid:
            continue          # about an earlier object of the same name
        when = e.last_timestamp or e.event_time or e.first_timestamp
        seen = newest.get(e.reason)
        if seen is None or (when and (seen[0] is None or when >= seen[0])):
            newest[e.reason] = (when, e)
    ordered = sorted(newest.values(), key=lambda pair: (pair[0] is None, pair[0], pair[1].reason))
    items = [LabWarning(kind, namespace, name, e.reason, e.message or "", plain_words(e.reason, e.message or ""))
             for _, e in ordered]
    return Warnings(items, about=f"{kind} {namespace}/{name}")
