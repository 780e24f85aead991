"""The Ingress controller — the course's subject, built in ingress-nginx's four rooms.

`model` (the typed `Configuration`) ← `translate` (Ingress + Service + EndpointSlice → model, with `validate`
and `annotations` declaring what is allowed) → `render` (model → nginx.conf text; `render_locations` plans the
locations, `syntax` makes every string safe) → `nginx` (run, test and reload the real nginx; push endpoints to
its Lua balancer in `lua/`; OS details in `nginx_os`). `controller` (later) watches the cluster and drives
the pipeline: model → equal? → render → `nginx -t` → swap → reload, or only push endpoints.

This package sits above `ingresslab.cluster` and never imports the layers above it (lab, widgets, notebooks).
"""
