"""The Gateway API controller: Gateway + HTTPRoute → the same model → render → nginx pipeline as Ingress.

Rooms, in the order a change flows through them:
  * `objects` — small pure helpers on the plain dicts a watch delivers (names, hostnames and their
    intersection, ReferenceGrants, status conditions);
  * `translate` (listeners, Gateway status) and `routes` (HTTPRoute attachment, rules → matches, route status)
    turn GatewayClass, Gateway, HTTPRoute, ReferenceGrant, Service, EndpointSlice and Secret dicts into one
    `model.GatewayConfiguration` plus the status each object should carry; `layout` decides which nginx server
    (port, hostname) holds which matches, in which order;
  * `precedence` — the spec's match precedence as a sort key, and reference matchers (what request goes where)
    that the tests and the differential proof compare with the real nginx;
  * `render` — the configuration as nginx.conf text, through `ingresslab.ingress.syntax` (every string a
    checked token or quoted); request matching and filters run in `lua/gateway.lua`, backends and weights in
    the Ingress controller's Lua balancer, so endpoint and weight changes need no reload;
  * `ingress2gateway` — Ingress objects → Gateway API YAML and plain notes on what has no equivalent;
  * `controller` — the watch loop (CustomObjectsApi) driving the pipeline for each Gateway of our class.

This package sits beside `ingresslab.ingress` (whose model, syntax, render and nginx modules it reuses) and above
`ingresslab.cluster`; it never imports the layers above it.
"""
