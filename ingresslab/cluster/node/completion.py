"""What the kubelet posts when a container's own command ends or starts again (`commandimages.py`).

A container that ended is `terminated` with its exit code (reason Completed for 0, Error otherwise, `startedAt`,
`finishedAt`); one that will restart waits in CrashLoopBackOff with the end in `lastState`. When no container will
run again the pod's phase becomes Succeeded (every exit code 0) or Failed, and it is no longer Ready
(reason PodCompleted), so it leaves its Services' endpoints.
"""
from __future__ import annotations

import secrets

from ingresslab.cluster.client.controller import meta
from ingresslab.cluster.storage.store import Store, now_rfc3339

__all__ = ["reporter"]


def reporter(store: Store, recorder, pod: dict, host: dict):
    """A `PodContext.report` for one pod: (container, "running"|"terminated", exit code, will restart)."""
    key = (meta(pod).get("namespace", ""), meta(pod)["name"])
    uid = meta(pod)["uid"]

    def report(cname: str, what: str, code: int | None, restarting: bool) -> None:
        current = store.get("pods", *key)
        if current is None or meta(current)["uid"] != uid:
            return
        status = current.setdefault("status", {})
        statuses = status.get("containerStatuses") or []
        cs = next((c for c in statuses if c.get("name") == cname), None)
        if cs is None:
            return
        now = now_rfc3339()
        if what == "terminated":
            started = (cs.get("state") or {}).get("running", {}).get("startedAt", now)
            ended = {"exitCode": code, "reason": "Completed" if code == 0 else "Error", "startedAt": started,
                     "finishedAt": now, "containerID": cs.get("containerID", "")}
            if restarting:
                cs["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": (
                    f"back-off restarting failed container {cname} in pod {key[1]}_{key[0]}({uid})")}}
                cs["lastState"] = {"terminated": ended}
                recorder.warning(current, "BackOff", "Back-off restarting failed container "
                                 f"{cname} in pod {key[1]}_{key[0]}({uid})", **host)
            else:
                cs["state"] = {"terminated": ended}
            cs["ready"], cs["started"] = False, False
        else:
            cs["restartCount"] = int(cs.get("restartCount") or 0) + 1
            cs["containerID"] = f"containerd://{secrets.token_hex(32)}"
            cs["state"] = {"running": {"startedAt": now}}
            cs["ready"], cs["started"] = True, True
            recorder.normal(current, "Started", f"Started container {cname}", **host)
        states = [c.get("state") or {} for c in statuses]
        done = all("terminated" in s for s in states)
        ready = all(c.get("ready") for c in statuses)
        if done:
            status["phase"] = "Succeeded" if all(s["terminated"]["exitCode"] == 0 for s in states) else "Failed"
        for cond in status.get("conditions") or []:
            if cond.get("type") in ("Ready", "ContainersReady"):
                wanted = "True" if ready else "False"
                if cond.get("status") != wanted:
                    cond["status"], cond["lastTransitionTime"] = wanted, now
                if ready:
                    cond.pop("reason", None)
                    cond.pop("message", None)
                elif done:
                    cond["reason"] = "PodCompleted"
                    cond.pop("message", None)
                else:
                    cond["reason"] = "ContainersNotReady"
                    cond["message"] = f"containers with unready status: [{cname}]"
        store.update("pods", current, check_version=False)

    return report
