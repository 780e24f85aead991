"""The embedded cluster: a small Kubernetes that speaks the real API, on loopback addresses, in a few processes.

Laid out as Kubernetes itself is, so each file sits where its component lives:

    apimachinery/  the API's vocabulary: resources and kinds (`resources`), errors as Status (`errors`), label and
                   field selectors (`selectors`)                                  ~ k8s.io/apimachinery, k8s.io/api
    storage/       versioned objects and watches in SQLite (`store`)            ~ etcd and the apiserver's storage
    apiserver/     Kubernetes REST over HTTP (`server`), with `discovery` and OpenAPI, `tables`, `patch`,
                   `defaults`, `validation`, `conversion`, protobuf (`protobuf`, `wiretypes`), serving certs (`pki`)
                                                                                    ~ kube-apiserver
    client/        what every controller builds on: the watch-driven work loop (`controller`) and the event
                   recorder (`record`)                                             ~ client-go
    controllers/   Deployments → ReplicaSets → Pods, Service IPs and ports, EndpointSlices, nodes, namespaces
                                                                                    ~ kube-controller-manager
    node/          the kubelet (`kubelet`), the images pods run (`images`), process containers (`runtime`,
                   `warmstart`, `children`), addresses (`network`), and kube-proxy with its data plane (`proxy/`)
                                                                                    ~ kubelet, container runtime,
                                                                                      kube-proxy
    components.py  every part beside the API server started together (`start_controllers`)
    cluster.py     `Cluster`: the store, the API server and the components, on one loop

Nothing here knows about the Ingress controller: it plugs into the API through `apiserver.server.Admission`.
`.importlinter` keeps these layers.
"""
