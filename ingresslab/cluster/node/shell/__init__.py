"""What runs inside a pod when a learner types `kubectl exec`, `kubectl run -i` or `kubectl cp`.

    parser.py    the shell's grammar (lists, pipes, quotes, expansions, redirections, `for`)
    interp.py    the shell: expands, pipes, runs commands; interactive sessions, direct exec
    builtins.py  cd, exit, export, read, echo…
    commands.py  env, hostname, ps, cat, ls, grep, sleep, nginx… — each tells the container's truth
    net.py       curl, wget, nslookup: real requests from the pod's own address
    tar.py       tar, for `kubectl cp`
    resolver.py  name resolution behind one function (search path, hosts, cluster DNS)
    rootfs.py    what each image holds: programs, user, files, processes
    fs.py        the container's filesystem view with its writable layer
    context.py   one container as the commands see it
    tty.py       a pty's line discipline for `-it`

Neighbours: `node/streams.py` builds a `Container` from the pod and runs the shell for the API server's exec and
attach; `node/commandimages.py` runs a container's own command with it.
"""
from ingresslab.cluster.node.shell import builtins, commands, net, tar  # noqa: F401 — they register programs
from ingresslab.cluster.node.shell.context import Container, NginxInstance, ProcessTable
from ingresslab.cluster.node.shell.interp import ExecNotFound, Shell, eof_reader
from ingresslab.cluster.node.shell.tty import Terminal

__all__ = ["Container", "ExecNotFound", "NginxInstance", "ProcessTable", "Shell", "Terminal", "eof_reader"]
