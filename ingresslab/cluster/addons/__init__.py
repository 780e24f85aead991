"""Cluster add-ons: what a cluster installer (kubeadm, kind) deploys into kube-system after the control plane is up.

Today one: cluster DNS, as CoreDNS — the `kube-dns` Service and the `coredns` Deployment whose pods answer DNS for
Services and pods (`dns.py` answers, `coredns.py` is the image and its manifests). Add-ons run as ordinary pods
through the kubelet (`node/`), so `kubectl get pods -n kube-system` lists them; `cluster.py` installs them.
"""
