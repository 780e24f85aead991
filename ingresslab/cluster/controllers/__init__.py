"""kube-controller-manager's controllers: what makes the stored objects come true. Each module is one controller
built on `client.controller.Controller`; `components.start_controllers` starts them with the kubelet and kube-proxy.

    nodes.py           node-1, node-2 registered with their addresses
    deployments.py     ReplicaSets per pod template, rollouts, status
    replicasets.py     Pods from a ReplicaSet's template
    services.py        ClusterIP and nodePort allocation (at admission), the `kubernetes` Service
    endpointslices.py  EndpointSlices and Endpoints from ready pods
    namespaces.py      empties a Terminating namespace, then deletes it
"""
