"""Shared-machine proof: another local user (`nobody`) replays each attack of issue 13 against a running lab, and
each one fails — the lab's files, sockets and locks are its user's alone, and its lifecycle commands act only on
the lab they can prove is theirs.

  * the Lua balancer's control socket: `nobody` cannot connect (0600 socket in 0700 directories), the lab can;
    the short-path fallback directory in $TMPDIR is not taken when someone else made it first;
  * the home (0700), the database, the token, the kubeconfig, the logs: unreadable; every file in the home is
    0600 and every directory 0700; a home of an earlier version is tightened;
  * slot locks: symlinks planted in `$TMPDIR/ingresslab-slots` do not get their targets chmodded (both with the
    abstract-socket locks and with the file-lock fallback);
  * nginx workers of a root lab run as www-data (uid 33) or nobody;
  * state.json naming an unrelated `sleep`: `down` does not kill it (with or without a lab running);
  * two `up` at once on one home: one lab, and both commands report that lab;
  * `down` returns only when nginx and every other process of the lab are gone: its ports can be bound at once.
"""
from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from polling import eventually

from ingresslab import home as homes
from ingresslab.cluster.node import network
from ingresslab.ingress import nginx as nginx_module

from .conftest import ingress_entry, processes_under
from .local_users import lab_in_open_parent, needs_another_user, nobody_tries

CLI = [sys.executable, "-m", "ingresslab.cli"]


@pytest.fixture(scope="module")
def lab():
    with lab_in_open_parent("users") as the_lab:
        yield the_lab


def control_socket(lab) -> Path:
    match = re.search(r'listen "?unix:([^";]+)"?;', lab.ingress.conf())
    assert match, "the controller's nginx.conf has no unix listener"
    return Path(match.group(1))


@pytest.fixture
def shared_tmp(monkeypatch):
    """A stand-in for /tmp (1777, reachable by every user) that $TMPDIR-based paths of this process resolve to."""
    shared = Path(tempfile.mkdtemp(prefix="ingresslab-shared-"))
    shared.chmod(0o1777)
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    yield shared
    shutil.rmtree(shared, ignore_errors=True)


# ------------------------------------------------------------------------------------------ the balancer's socket
def test_the_control_socket_is_the_lab_users_alone(lab):
    path = control_socket(lab)
    st = os.lstat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid()
    # In the home (every directory down to it 0700), or in the short private directory a deep home needs.
    inside = lab.home in path.parents
    for directory in path.parents:
        if directory == (lab.home.parent if inside else path.parent.parent):
            break
        st = os.lstat(directory)
        assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid(), directory
    # The lab's user still drives it (the controller pushes endpoints here).
    assert isinstance(lab.ingress.backends(), list)
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(path))


@needs_another_user
def test_another_user_cannot_post_endpoints_to_the_balancer(lab):
    path = control_socket(lab)
    attempt = nobody_tries("connect", path)
    assert attempt == {"ok": False, "errno": 13, "error": attempt["error"]}, attempt   # EACCES
    curl = subprocess.run(["runuser", "-u", "nobody", "--", "curl", "-s", "--unix-socket", str(path), "-XPOST",
                           "http://x/configuration/backends", "-d",
                           '[{"name":"default-coffee-svc-80","endpoints":[{"address":"127.0.0.1","port":18999}]}]'],
                          capture_output=True, text=True, timeout=30)
    assert curl.returncode == 7, curl   # curl: could not connect


@needs_another_user
def test_a_short_socket_directory_planted_by_another_user_is_not_used(shared_tmp):
    shared = shared_tmp
    planted = shared / f"ingresslab-run-{os.geteuid()}"
    assert nobody_tries("mkdir", planted)["ok"]
    chosen = nginx_module.short_socket_dir()
    assert chosen != planted
    st = os.lstat(chosen)
    assert st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) == 0o700
    assert stat.S_IMODE(planted.stat().st_mode) == 0o777    # not touched either


# ------------------------------------------------------------------------------------------ the home
def test_every_file_in_the_home_is_private(lab):
    home = lab.home
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    loose = []
    for root, dirs, files in os.walk(home):
        for name in dirs + files:
            st = os.lstat(Path(root) / name)
            if stat.S_ISLNK(st.st_mode) or stat.S_ISSOCK(st.st_mode):
                continue
            if stat.S_IMODE(st.st_mode) & 0o077:
                loose.append(f"{oct(stat.S_IMODE(st.st_mode))} {Path(root) / name}")
    assert loose == []
    for name in ("cluster.db", "cluster.db-wal", "token", "kubeconfig", "state.json", "logs/lab.log"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name


@needs_another_user
def test_another_user_cannot_read_the_home_the_database_the_token_or_the_kubeconfig(lab):
    home = lab.home
    assert nobody_tries("list", home.parent)["ok"]   # the parent is open: only the home protects what is in it
    assert nobody_tries("list", home)["errno"] == 13
    for name in ("cluster.db", "cluster.db-wal", "token", "kubeconfig", "logs/lab.log", "pki/apiserver.key"):
        assert (home / name).exists(), name
        attempt = nobody_tries("read", home / name)
        assert not attempt["ok"] and attempt["errno"] == 13, (name, attempt)


@needs_another_user
def test_nginx_workers_of_a_root_lab_are_unprivileged(lab):
    master = lab.ingress.status()["nginx_pid"]
    workers = [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    assert workers
    expected = nginx_module.worker_account().pw_uid
    for worker in workers:
        uid = int(Path(f"/proc/{worker}/status").read_text().split("Uid:")[1].split()[0])
        assert uid == expected != 0
    assert pwd.getpwuid(expected).pw_name in ("www-data", "nobody")


def test_a_home_left_open_by_an_earlier_version_is_made_private(tmp_path):
    home = tmp_path / "old"
    (home / "logs").mkdir(parents=True)
    home.chmod(0o755)
    (home / "logs").chmod(0o755)
    for name in ("cluster.db", "token", "logs/lab.log"):
        (home / name).write_text("x")
        (home / name).chmod(0o644)
    homes.ensure_home(home)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "logs").stat().st_mode) == 0o700
    for name in ("cluster.db", "token", "logs/lab.log"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name


@needs_another_user
def test_a_home_owned_by_another_user_is_refused(tmp_path):
    home = tmp_path / "theirs"
    home.mkdir()
    nobody = pwd.getpwnam("nobody")
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    out = subprocess.run([*CLI, "--home", str(home), "up"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "belongs to uid" in out.stderr and "Traceback" not in out.stderr, out.stderr


# ------------------------------------------------------------------------------------------ slot locks
def _plant_targets(tmp_path: Path) -> tuple[Path, Path]:
    secret = tmp_path / "root-secret"
    secret.write_text("s")
    secret.chmod(0o600)
    private = tmp_path / "root-private"
    private.mkdir()
    private.chmod(0o700)
    return secret, private


@needs_another_user
@pytest.mark.parametrize("locks", ["abstract sockets", "file fallback"])
def test_symlinks_planted_in_the_slot_directory_change_nothing(shared_tmp, tmp_path, monkeypatch, locks):
    shared = shared_tmp
    if locks == "file fallback":
        monkeypatch.setattr(network, "ABSTRACT", False)
    slots = shared / "ingresslab-slots"
    slots.mkdir()
    slots.chmod(0o1777)
    secret, private = _plant_targets(tmp_path)
    for slot in range(network.MAX_SLOTS):
        target = secret if slot % 2 == 0 else private
        assert nobody_tries("symlink", slots / f"slot-{slot}.lock", str(target))["ok"]
    try:
        lock = network.acquire_slot()
    except RuntimeError as exc:   # the fallback refuses every planted slot: no lock, and nothing chmodded
        assert locks == "file fallback" and "slots are in use" in str(exc)
        lock = None
    finally:
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        assert secret.read_text() == "s"
    if lock is not None:
        lock.release()


@needs_another_user
def test_a_slot_directory_made_by_another_user_is_not_trusted(shared_tmp, monkeypatch):
    shared = shared_tmp
    assert nobody_tries("mkdir", shared / "ingresslab-slots")["ok"]
    lock = network.acquire_slot()     # Linux: the abstract-socket lock alone
    try:
        assert list((shared / "ingresslab-slots").iterdir()) == []
    finally:
        lock.release()
    monkeypatch.setattr(network, "ABSTRACT", False)
    with pytest.raises(RuntimeError, match="not safe to lock slots in"):
        network.acquire_slot()


def test_a_slot_is_held_until_released_and_machine_wide():
    first = network.acquire_slot()
    try:
        probe = subprocess.run([sys.executable, "-c", "from ingresslab.cluster.node import network as n; "
                                f"l = n.acquire_slot({first.slot}); print(l.slot)"],
                               capture_output=True, text=True, timeout=30)
        assert probe.returncode == 0 and int(probe.stdout) != first.slot, probe.stderr
    finally:
        first.release()
    again = network.acquire_slot(first.slot)
    assert again.slot == first.slot
    again.release()


# ------------------------------------------------------------------------------------------ one lab per home
def _cli(home: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "--home", str(home), *args], capture_output=True, text=True, timeout=timeout)


def _labd_processes(home: Path) -> list[str]:
    return [line for line in processes_under(home) if "ingresslab.labd" in line]


def test_a_forged_state_file_never_gets_an_unrelated_process_killed(tmp_path):
    home = tmp_path / "forged"
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        homes.ensure_home(home)
        forged = {"pid": sleeper.pid, "pid_start": homes.process_start(sleeper.pid), "phase": "ready",
                  "kubeconfig": str(home / "kubeconfig")}
        homes.write_state(home, forged)
        down = _cli(home, "down")
        assert down.returncode == 0 and "No lab was running" in down.stderr
        assert sleeper.poll() is None, "down killed a process that was not the lab"
        # Now with a lab running: state.json rewritten to name the sleep; down stops the lab, not the sleep.
        assert _cli(home, "up").returncode == 0
        lab_pid = json.loads((home / "state.json").read_text())["pid"]
        homes.write_state(home, forged)
        down = _cli(home, "down")
        assert down.returncode == 0 and "Lab stopped" in down.stderr, down.stderr
        assert sleeper.poll() is None, "down killed a process that was not the lab"
        assert not homes.pid_alive(lab_pid) and processes_under(home) == []
    finally:
        _cli(home, "down")
        sleeper.send_signal(signal.SIGKILL)
        sleeper.wait()


def test_two_ups_at_once_start_one_lab_and_both_report_it(tmp_path):
    home = tmp_path / "race"
    runs = [subprocess.Popen([*CLI, "--home", str(home), "up"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    try:
        outcomes = [(p.wait(timeout=90), p.stderr.read()) for p in runs]
        assert [code for code, _ in outcomes] == [0, 0], outcomes
        pids = {re.search(r"Ready in .* \(lab pid (\d+)\)", err).group(1) for _, err in outcomes}
        assert len(pids) == 1, outcomes
        assert len(_labd_processes(home)) == 1
        status = json.loads(_cli(home, "status", "--json").stdout)
        assert str(status["pid"]) in pids and status["phase"] == "ready"
        assert not list(home.glob(".state.json.*.tmp"))
    finally:
        for p in runs:
            p.stdout.close()
            p.stderr.close()
        assert _cli(home, "down").returncode == 0
    assert processes_under(home) == []


def test_down_returns_only_when_nginx_and_every_process_of_the_lab_are_gone(tmp_path):
    from ingresslab import Lab
    home = tmp_path / "gone"
    lab = Lab.up(home)
    try:
        lab.ingress.wait_ready(timeout=30)
        node_ip, http_nodeport = ingress_entry(lab)
        nginx_pid = lab.ingress.status()["nginx_pid"]
        controller_ip = lab.ingress.conf().split("listen ", 1)[1].split(":", 1)[0]
        nginx_port = lab.bound_port(80)
    finally:
        lab.down()
    assert processes_under(home) == []    # at once: no waiting here
    assert not homes.pid_alive(nginx_pid)
    with socket.socket() as s:             # the next lab's nginx can bind its port straight away
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((controller_ip, nginx_port))
    assert node_ip and http_nodeport


def test_a_lab_whose_home_was_deleted_under_it_is_stopped_by_down_and_by_the_next_up(tmp_path):
    """`rm -rf ~/.ingresslab` while the lab runs: nothing at that path names the lab any more, yet its pods, nginx
    and kube-proxy run on. `down` finds it by the deleted lock it still holds and stops it; so does the next `up`
    (which would otherwise wait for the old lab's nginx to leave the home, and then run beside it)."""
    for how in ("down", "up"):
        home = tmp_path / how / "lab"
        home.parent.mkdir()
        assert _cli(home, "up").returncode == 0
        assert len(processes_under(home)) >= 4             # the lab, the controller's nginx, kube-proxy, the pods
        shutil.rmtree(home)
        assert _cli(home, "status").returncode == 3      # it cannot be seen any more …
        assert processes_under(home)                       # … but it runs
        if how == "down":
            down = _cli(home, "down")
            assert down.returncode == 0 and "Lab stopped" in down.stderr, down.stderr
            assert processes_under(home) == []
        else:
            assert _cli(home, "up").returncode == 0
            running = json.loads(_cli(home, "status", "--json").stdout)["pid"]
            assert [line for line in processes_under(home) if "ingresslab.labd" in line] == [
                line for line in processes_under(home) if line.split()[0] == str(running)]   # only the new lab
            assert "stopped a lab whose home" in (home / "logs" / "lab.log").read_text()
            assert _cli(home, "down").returncode == 0
            assert processes_under(home) == []


def test_a_new_lab_waits_for_what_a_killed_lab_left_in_its_home(tmp_path):
    from ingresslab import shutdown
    home = tmp_path / "killed"
    (home / "nginx").mkdir(parents=True)
    sleeper = [sys.executable, "-c", "import sys, time; time.sleep(float(sys.argv[1]))"]
    naming = subprocess.Popen([*sleeper, "300", "--home", str(home)])     # names the home: not a leftover
    inside = subprocess.Popen([*sleeper, "5", "-p", f"{home}/nginx/"])   # works in it, like nginx
    try:
        eventually(lambda: shutdown.leftovers(home) == [inside.pid], what="the process in the home is seen")
        assert shutdown.wait_for_leftovers(home, timeout=30) == []
        assert inside.poll() is not None and naming.poll() is None
    finally:
        for p in (naming, inside):
            p.kill()
            p.wait()


def _fake_lab(home: Path, prefix: list[str]) -> subprocess.Popen:
    """A process whose command line looks like a lab of an earlier version (no lock) for `home`. Another user runs
    the system's Python: the checkout's .venv may sit in a directory they cannot enter (CI's fresh clone does)."""
    python = "/usr/bin/python3" if prefix and os.path.exists("/usr/bin/python3") else sys.executable
    return subprocess.Popen([*prefix, python, "-c", "import time; time.sleep(300)", "ingresslab.labd",
                             "--home", str(home)])


def test_a_lab_of_a_version_before_the_lock_is_still_stopped_by_down(tmp_path):
    home = tmp_path / "legacy"
    homes.ensure_home(home)
    legacy = _fake_lab(home, [])
    try:
        homes.write_state(home, {"pid": legacy.pid, "phase": "ready"})
        eventually(lambda: homes.lab_process(home), what="the legacy lab is recognised")
        down = _cli(home, "down")
        assert "Lab stopped" in down.stderr, down.stderr
        assert legacy.wait(timeout=30) == -signal.SIGTERM
    finally:
        legacy.kill()
        legacy.wait()


@needs_another_user
def test_a_lab_look_alike_of_another_user_is_not_signalled(tmp_path):
    home = tmp_path / "lookalike"
    homes.ensure_home(home)
    theirs = _fake_lab(home, ["runuser", "-u", "nobody", "--"])
    pid = None
    try:
        found = eventually(lambda: [p for p in processes_under(home) if "runuser" not in p],
                           what="the look-alike runs")
        pid = int(found[0].split()[0])
        homes.write_state(home, {"pid": pid, "phase": "ready"})
        assert homes.lab_process(home) is None
        assert "No lab was running" in _cli(home, "down").stderr
        assert homes.pid_alive(pid)
    finally:
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        theirs.kill()
        theirs.wait()
