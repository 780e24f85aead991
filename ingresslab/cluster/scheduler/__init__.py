"""kube-scheduler: binds each new pod to a node, or says in an event why no node fits.

A component of its own, as in Kubernetes: it watches pods without `spec.nodeName` and the Node objects, runs the
default profile's filters in their order (`plugins.py`: NodeUnschedulable, TaintToleration, NodeAffinity with
nodeSelector, NodeResourcesFit), picks among the nodes that fit (`scheduler.py`) and binds. When none fits, the pod
stays Pending with `PodScheduled=False` and a `FailedScheduling` event in the real scheduler's words; any Node or pod
change tries again. Neighbours: the kubelet (`node/kubelet.py`) runs what is bound to its node; the node controller
(`controllers/nodes.py`) keeps the Nodes' capacity, taints and Leases.
"""
from ingresslab.cluster.scheduler.scheduler import Scheduler

__all__ = ["Scheduler"]
