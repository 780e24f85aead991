"""The embedded cluster: a small Kubernetes that speaks the real API, on loopback addresses, in one process.

Rooms follow the data flow: `store` (versioned objects and watches) ← `api` (Kubernetes REST over HTTP, with
`discovery`, `tables`, `patch`, `defaults`, `validation`, `conversion`) ← `controllers` (Deployment → ReplicaSet →
Pods, Service IPs and ports, EndpointSlices, events) → `kubelet` (pods as real servers, from `apps`) and
`kubeproxy` (real forwarding through `forwarder`; the iptables view in `iptables`). `cluster.Cluster` puts them
together. Nothing here knows about the Ingress controller: it plugs into the API through `api.Admission`.
"""
