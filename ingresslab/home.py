"""The lab's state directory: where a running lab keeps its kubeconfig, token, database, logs and pid.

    <home>/state.json     pid, API URL, slot, phase ("starting" → "ready") of the running lab process
    <home>/last.json      the slot and API port the last run used (taken again when free)
    <home>/token          the bearer token (0600), kept across restarts so open clients keep working
    <home>/kubeconfig     for kubectl and the kubernetes client (0600)
    <home>/cluster.db     every object (SQLite)
    <home>/logs/          lab process, kube-proxy connections, pods, nginx

The home is `--home`, else `$INGRESSLAB_HOME`, else `~/.ingresslab`.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import string
from pathlib import Path

import yaml

CONTEXT = "ingresslab"


def resolve_home(home: str | os.PathLike | None = None) -> Path:
    if home:
        return Path(home).expanduser().resolve()
    env = os.environ.get("INGRESSLAB_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return (Path.home() / ".ingresslab").resolve()


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def token(home: Path) -> str:
    path = home / "token"
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    value = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    home.mkdir(parents=True, exist_ok=True)
    _write_private(path, value + "\n")
    return value


def write_kubeconfig(home: Path, api_url: str, bearer: str, ca_cert: Path) -> Path:
    ca_data = base64.b64encode(Path(ca_cert).read_bytes()).decode()
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": CONTEXT, "cluster": {"server": api_url, "certificate-authority-data": ca_data}}],
        "users": [{"name": "learner", "user": {"token": bearer}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": "learner", "namespace": "default"}}],
        "current-context": CONTEXT,
    }
    path = home / "kubeconfig"
    _write_private(path, yaml.safe_dump(config, sort_keys=False))
    return path


def read_state(home: Path) -> dict | None:
    try:
        return json.loads((home / "state.json").read_text())
    except (OSError, ValueError):
        return None


def write_state(home: Path, state: dict) -> None:
    _write_private(home / "state.json", json.dumps(state, indent=2) + "\n")


def read_last(home: Path) -> dict:
    """What the previous run of this home used (slot, API port): a restarted lab takes them again if free, so
    addresses and the kubeconfig stay the same across `down`/`up` and crashes."""
    try:
        return json.loads((home / "last.json").read_text())
    except (OSError, ValueError):
        return {}


def write_last(home: Path, last: dict) -> None:
    _write_private(home / "last.json", json.dumps(last) + "\n")


def clear_state(home: Path) -> None:
    try:
        (home / "state.json").unlink()
    except FileNotFoundError:
        pass


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:   # a zombie is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
