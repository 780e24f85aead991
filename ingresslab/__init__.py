"""ingresslab: teaching Kubernetes Service, NodePort and Ingress on a small but real embedded cluster.

Layers, top to bottom: notebooks → widgets → viz, trace, exercises → lab (this facade) → ingress (the Ingress
controller) → cluster (the embedded Kubernetes). Lower layers never import higher ones.

The facade is imported on first use, so the lab process (which needs only `ingresslab.cluster`) does not pay for
importing the `kubernetes` client when it starts.
"""

__all__ = ["Lab", "LabError", "load_documents"]


def __getattr__(name: str):
    if name in __all__:
        from . import lab
        return getattr(lab, name)
    raise AttributeError(f"module 'ingresslab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
