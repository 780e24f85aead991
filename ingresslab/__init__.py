"""ingresslab: teaching Kubernetes Service, NodePort and Ingress on a small but real embedded cluster.

Layers, top to bottom: notebooks → widgets → viz, trace, exercises → lab (this facade) → ingress (the Ingress
controller) → cluster (the embedded Kubernetes). Lower layers never import higher ones.
"""
from .lab import Lab, LabError, load_documents

__all__ = ["Lab", "LabError", "load_documents"]
