"""Run the real nginx: test a candidate config, swap it in, start or reload, feed endpoints, restart if it died.

This is ingress-nginx's process-control room (`internal/ingress/controller/nginx.go`: `OnUpdate` → `testTemplate`
→ write → reload, and `configureDynamically` for endpoints) for one nginx that belongs to the lab:

    apply(config)  — render; same checksum as the running config? then only push endpoints (no reload);
                     otherwise `nginx -t` on a candidate file, atomic rename over nginx.conf, SIGHUP (or start);
                     a rejected candidate leaves the last good config serving and returns nginx's error text.
                     A reload or start counts only once nginx itself answers with the new config's checksum
                     (`GET /configuration/checksum`, served by the workers that loaded it); how long to wait for
                     that scales with the config (the measured `nginx -t` time and its number of locations).
    push_endpoints — POST the endpoint lists to the Lua balancer over a unix socket (no reload, no TCP port).
    balancer_in_sync() — does nginx's balancer hold what we pushed (md5 reported by `/configuration/state`)?
    resume()       — at a controller's start, nginx again on the last good config and endpoint lists this home
                     ran (`last-good.json`, `backends.json` beside nginx.conf), before anything is listed: after
                     `down`/`up` the data plane serves within seconds whatever the size of the cluster.
    watchdog()     — start nginx again, with the last good config, if it died.
    stop()         — stop nginx and its workers; nothing is left running or listening.

With `outlive_owner=True` (the controller pod) nginx is not tied to its owner's life: a controller killed by
SIGKILL leaves nginx serving its last config and endpoints, and the next controller process adopts it (the pid
file names a live master of this home's nginx.conf that answers with the checksum of that file). A controller
that stops cleanly (SIGTERM, also sent when the lab dies) still stops nginx.

Files live under `<home>/nginx/` (nginx.conf, conf-candidates/, logs/, tmp/, run/, ssl/ with mode-0600 PEMs named
by hash). nginx runs in the foreground as our child, in its own process group, with PR_SET_PDEATHSIG so that it
dies with its owner even on SIGKILL (the fork happens on a dedicated thread that lives as long as this object,
because Linux sends that signal when the *thread* that forked exits).

Neighbours: `render.py` writes the text; `model.py` is the input; `controller.py` (the watch loop) calls
`apply` on every model change and `push_endpoints` when only endpoints changed; `lab.py` shows `conf()`,
`backends()` and `history` to learners.
"""
from __future__ import annotations

import dataclasses
import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from threading import RLock

from .model import Backend, Configuration
from .nginx_os import (UnixHTTPConnection, errors_since, file_size, kill_group, self_signed_pem, spawn, workers_of,
                       write_private)
from .nginx_os import Adopted, master_of
from .render import MODULES_DIR, RenderPaths, render_nginx_conf
from .syntax import UnsafeValue

LUA_PATHS = ("/usr/share/lua/5.1", "/usr/local/share/lua/5.1", "/usr/local/openresty/lualib")
CJSON_PATHS = ("/usr/lib/x86_64-linux-gnu/lua/5.1/cjson.so", "/usr/lib/aarch64-linux-gnu/lua/5.1/cjson.so",
               "/usr/local/lib/lua/5.1/cjson.so", "/usr/lib/lua/5.1/cjson.so")


def lua_available(modules_dir: str = MODULES_DIR) -> bool:
    """True when nginx can run our Lua balancer: the lua and ndk modules, lua-resty-core and lua-cjson."""
    modules = all((Path(modules_dir) / m).is_file() for m in ("ndk_http_module.so", "ngx_http_lua_module.so"))
    resty = any((Path(p) / "resty" / "core.lua").is_file() for p in LUA_PATHS)
    return modules and resty and any(Path(p).is_file() for p in CJSON_PATHS)


def stream_available(modules_dir: str = MODULES_DIR) -> bool:
    """True when the stream module (TCP services) is installed."""
    return (Path(modules_dir) / "ngx_stream_module.so").is_file()


WORKER_TMP = "ingresslab-nginx-"   # prefix of the workers' own directory under $TMPDIR (root labs only)
WORKER_USERS = ("www-data", "nobody")
"""Who nginx's workers run as when the lab runs as root: the article's controller image runs as uid 33 (www-data
on Debian); `nobody` where there is no www-data."""


def worker_account() -> pwd.struct_passwd:
    for name in WORKER_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise NginxError("no unprivileged user (www-data or nobody) to run nginx's workers as")


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(path)
    if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) != 0o700 and stat.S_ISDIR(st.st_mode):
        os.chmod(path, 0o700)   # ours, made by an earlier version with 0755


def short_socket_dir() -> Path:
    """`$TMPDIR/ingresslab-run-<uid>`, for control sockets whose path in the home is too long: used only if it is
    a real directory of ours with mode 0700 — anyone can create that name first in a shared /tmp. Otherwise a
    fresh private directory (mkdtemp) is used."""
    short = Path(tempfile.gettempdir()) / f"ingresslab-run-{os.geteuid()}"
    try:
        short.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError:
        return Path(tempfile.mkdtemp(prefix="ingresslab-run-"))
    st = os.lstat(short)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) != 0o700:
        return Path(tempfile.mkdtemp(prefix="ingresslab-run-"))
    return short


class NginxError(RuntimeError):
    """nginx could not be started, reloaded or reached; the message carries nginx's own words."""


@dataclass(frozen=True)
class Outcome:
    """What `apply` did: `action` is started, reloaded, unchanged, rejected (candidate failed `nginx -t` or held
    an unsafe value; the old config keeps serving) or failed (nginx refused to start/reload)."""

    ok: bool
    action: str
    checksum: str
    error: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class Event:
    """One line of `NginxProcess.history`."""

    at: float
    action: str
    reason: str
    checksum: str
    ok: bool = True
    error: str = ""


class NginxProcess:
    """One real nginx owned by the lab, configured only through `apply` and `push_endpoints`."""

    HISTORY = 200

    # Waiting for nginx to load a config: the base, plus this many times the measured `nginx -t` (a reload or a
    # start parses the same file), but at least SECONDS_PER_LOCATION per location (Debian's Lua module costs
    # ≈0.35 ms each; 3× that leaves room for a loaded machine).
    PARSE_FACTOR = 4.0
    SECONDS_PER_LOCATION = 0.001

    def __init__(self, home: Path, *, nginx_bin: str = "nginx", modules_dir: str = MODULES_DIR,
                 start_timeout: float = 10.0, outlive_owner: bool = False, renderer=render_nginx_conf,
                 subdir: str = "nginx"):
        # `renderer(config, paths=...)` → nginx.conf text; the Gateway controller passes its own (and its own
        # `subdir`, one nginx per Gateway), with the same test → swap → reload and the same Lua feed.
        self._render = renderer
        self.home = Path(home)
        self.dir = self.home / subdir
        # /usr/sbin is often missing from a non-root PATH (Debian), though everyone may run nginx from there.
        self.nginx_bin = shutil.which(nginx_bin) or shutil.which(nginx_bin, path="/usr/sbin:/usr/local/sbin") \
            or nginx_bin
        self.start_timeout = start_timeout
        self.outlive_owner = outlive_owner
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        worker = worker_account() if os.geteuid() == 0 else None
        self.paths = RenderPaths.under(self.dir, user=worker and worker.pw_name,
                                       group=worker and grp.getgrgid(worker.pw_gid).gr_name, modules_dir=modules_dir)
        self.conf_path = self.dir / "nginx.conf"
        self.candidates = self.dir / "conf-candidates"
        # Everything here is the lab user's alone: the control socket's directory most of all (nginx makes every
        # unix socket it listens on 0666, so the directory is what keeps other users from rerouting traffic).
        for d in (self.dir, self.candidates, self.dir / "logs", self.dir / "run", Path(self.paths.temp_dir),
                  Path(self.paths.ssl_dir)):
            _private_dir(d)
        self._worker_tmp: Path | None = None
        if worker is not None:
            # Workers run unprivileged and cannot enter the 0700 home: they buffer request bodies in a directory
            # of their own, made with an unguessable name (mkdtemp) and handed to them.
            self._worker_tmp = self._worker_tmp_of_last_config(worker) or Path(tempfile.mkdtemp(prefix=WORKER_TMP))
            os.chown(self._worker_tmp, worker.pw_uid, worker.pw_gid)
            self.paths = dataclasses.replace(self.paths, temp_dir=str(self._worker_tmp))
        if not Path(self.paths.default_cert).exists():
            write_private(Path(self.paths.default_cert), self_signed_pem())
        if len(self.paths.config_socket.encode()) > 100:
            # Unix socket paths are limited to 108 bytes: a deep home gets its socket in a short private directory.
            digest = hashlib.sha256(str(self.dir).encode()).hexdigest()[:16]
            self.paths = dataclasses.replace(self.paths, config_socket=str(short_socket_dir() / f"{digest}.sock"))
        self.reloads = 0
        self.endpoint_updates = 0
        self.restarts = 0
        self.last_reload_reason: str | None = None
        self.checksum: str | None = None
        self.history: list[Event] = []
        self.config: Configuration | None = None  # the last good (running) configuration
        self._good_text: str | None = None
        self._pushed: str | None = None
        self._proc: subprocess.Popen | Adopted | None = None
        self._lock = RLock()
        self._spawner: ThreadPoolExecutor | None = None
        self._parse_seconds = 0.0   # the last `nginx -t`, for the wait budget of a restart
        self._inherited = False     # running a text this object did not render (resumed or adopted)
        if outlive_owner:
            self._adopt()

    # ---- public API -------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running else None

    def apply(self, config: Configuration, *, reason: str = "configuration changed") -> Outcome:
        """Make nginx serve `config`: reload only if the rendered config (checksum) changed."""
        with self._lock:
            started = time.monotonic()
            checksum = config.checksum()
            same = self.running and checksum == self.checksum
            if same and self._inherited:
                # Resumed or adopted: the text on disk came from an earlier run, perhaps of other code.
                try:
                    same = self._render(config, paths=self.paths) == self._good_text
                except (UnsafeValue, ValueError):
                    same = False
            self._inherited = False
            if same:
                self.config = config
                if config.lua:
                    self._push(config.backends)
                return Outcome(True, "unchanged", checksum, seconds=time.monotonic() - started)
            try:
                self._write_certificates(config)
                text = self._render(config, paths=self.paths)
            except (UnsafeValue, ValueError) as error:
                return self._reject(checksum, reason, str(error), started)
            candidate = self._write_candidate(text)
            if not self.running and self._on_disk() == text:
                pass   # nginx.conf only ever holds text that passed `nginx -t`: starting it again needs no test
            else:
                ok, stderr = self._test_file(candidate, locations=_locations(text))
                if not ok:
                    candidate.replace(self.candidates / "rejected.conf")
                    return self._reject(checksum, reason, stderr, started)
            os.replace(candidate, self.conf_path)  # atomic: nginx never reads half a file
            budget = self._budget(text)
            try:
                action = self._reload(checksum, budget) if self.running else self._start(checksum, budget)
            except NginxError as error:
                self._restore_good_config()
                return self._record(Outcome(False, "failed", checksum, str(error), time.monotonic() - started),
                                    reason)
            if action == "reloaded":
                self.reloads += 1
                self.last_reload_reason = reason
            self.checksum, self.config, self._good_text = checksum, config, text
            write_private(self.dir / "last-good.json", json.dumps({
                "checksum": checksum, "lua": config.lua,
                "listen": [config.listen_address, config.http_port, config.https_port]}))
            self._remove_stale_certificates(config)
            if config.lua:
                self._push(config.backends, force=True)
            return self._record(Outcome(True, action, checksum, seconds=time.monotonic() - started), reason)

    def resume(self, *, listen: tuple[str, int, int]) -> bool:
        """Start nginx on the last good config this home ran, if it listened on `listen` (address, http and https
        port), and give its balancer the endpoint lists it had last. The first sync then finds it unchanged (an
        endpoint push at most) or replaces it. False when nginx runs already or there is nothing to resume."""
        with self._lock:
            if self.running:
                return False
            try:
                saved = json.loads((self.dir / "last-good.json").read_text())
            except (OSError, ValueError):
                return False
            text = self._on_disk()
            written = re.search(r"^# Configuration checksum: (\S+)$", text or "", re.M)
            if not written or written.group(1) != saved.get("checksum") or saved.get("listen") != list(listen):
                return False
            try:
                self._start(written.group(1), self._budget(text))
            except NginxError as error:
                self._record(Outcome(False, "failed", written.group(1), str(error)), "resume")
                return False
            self.checksum, self._good_text, self._inherited = written.group(1), text, True
            if saved.get("lua"):
                try:
                    body = (self.dir / "backends.json").read_text()
                    self._request("POST", "/configuration/backends", body, expect=201,
                                  timeout=5.0 + len(body) / 1_000_000)
                    self._pushed = body
                except (OSError, NginxError):
                    pass   # no endpoints yet: 503 until the first sync pushes them
            self._record(Outcome(True, "resumed", written.group(1)), "the last good configuration, before a sync")
            return True

    def test(self, text: str) -> tuple[bool, str]:
        """Run `nginx -t` on `text` as a candidate file; return (ok, nginx's stderr)."""
        with self._lock:
            candidate = self._write_candidate(text)
            try:
                return self._test_file(candidate)
            finally:
                candidate.unlink(missing_ok=True)

    def check(self, config: Configuration) -> tuple[bool, str]:
        """Would nginx accept `config`? Render it and run `nginx -t`, without touching the running nginx."""
        with self._lock:
            try:
                self._write_certificates(config)
                return self.test(self._render(config, paths=self.paths))
            except (UnsafeValue, ValueError) as error:
                return False, str(error)

    def push_endpoints(self, backends: tuple[Backend, ...] | list[Backend]) -> bool:
        """Send every backend's endpoints to the Lua balancer (no reload). False if they were already there."""
        with self._lock:
            if self.config is not None and not self.config.lua:
                raise NginxError("nginx runs with static upstreams (no Lua): endpoints change through apply()")
            return self._push(backends)

    def balancer_in_sync(self) -> bool:
        """Does nginx's Lua balancer hold exactly the endpoints we pushed last? It reports the md5 of what it
        stores; after an nginx restart (empty shared memory) or a POST by someone else, it differs."""
        with self._lock:
            if self._pushed is None:
                return False
            state = json.loads(self._request("GET", "/configuration/state", timeout=2))
            return state.get("backends_md5") == hashlib.md5(self._pushed.encode()).hexdigest()

    def repush(self) -> None:
        """Send the last pushed endpoint lists again (nginx lost or was given other ones)."""
        with self._lock:
            if self._pushed is not None:
                self._request("POST", "/configuration/backends", self._pushed, expect=201,
                              timeout=5.0 + len(self._pushed) / 1_000_000)
                self.endpoint_updates += 1

    def reported_checksum(self) -> str:
        """The checksum of the configuration nginx's workers loaded, as nginx itself reports it."""
        return self._request("GET", "/configuration/checksum", timeout=2).strip()

    def backends(self) -> list[dict]:
        """The endpoint lists nginx is using now (`kubectl ingress-nginx backends`)."""
        return json.loads(self._request("GET", "/configuration/backends"))

    def conf(self) -> str:
        """The nginx.conf nginx is running (`kubectl ingress-nginx conf`)."""
        return self._good_text or ""

    def watchdog(self) -> bool:
        """If nginx died, start it again with the last good config; True when it had to."""
        with self._lock:
            if self._proc is None or self._proc.poll() is None or self._good_text is None:
                return False
            code = self._proc.returncode
            kill_group(self._proc.pid)  # orphaned workers keep the ports otherwise
            self._restore_good_config()
            self._start(self.checksum or "", self._budget(self._good_text))
            self.restarts += 1
            if self.config is not None and self.config.lua:
                self._push(self.config.backends, force=True)
            self._record(Outcome(True, "restarted", self.checksum or "", f"nginx had exited with {code}"),
                         "watchdog")
            return True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop nginx (fast shutdown, then SIGKILL to the whole group if needed); leave nothing running."""
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is not None:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout)
                    except subprocess.TimeoutExpired:
                        pass
                kill_group(proc.pid)
                proc.wait()
                self._record(Outcome(True, "stopped", self.checksum or ""), "stop")
            self.checksum = None
            self._pushed = None
            Path(self.paths.config_socket).unlink(missing_ok=True)
            if self._worker_tmp is not None:
                shutil.rmtree(self._worker_tmp, ignore_errors=True)
            if self._spawner is not None:
                self._spawner.shutdown(wait=True)
                self._spawner = None

    def __enter__(self) -> "NginxProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- internals --------------------------------------------------------------------------------------------

    def _command(self, conf: Path, *extra: str) -> list[str]:
        return [self.nginx_bin, "-p", self.paths.prefix + "/", "-c", str(conf), "-e", self.paths.error_log, *extra]

    def _write_candidate(self, text: str) -> Path:
        candidate = self.candidates / f"candidate-{os.getpid()}-{time.monotonic_ns()}.conf"
        candidate.write_text(text)
        return candidate

    def _test_file(self, candidate: Path, *, locations: int = 0) -> tuple[bool, str]:
        command = self._command(candidate, "-t", "-q")
        command[command.index("-e") + 1] = str(self.candidates / "nginx-t.log")  # keep the running log clean
        started = time.monotonic()
        # Niced: parsing a big config takes seconds of CPU that the serving nginx and the pods need more.
        result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                timeout=60 + 10 * self.SECONDS_PER_LOCATION * locations, preexec_fn=_lower_priority)
        self._parse_seconds = time.monotonic() - started
        return result.returncode == 0, result.stderr.strip()

    def _budget(self, text: str | None) -> float:
        """How long nginx may take to load `text` (start or reload), from its size and the last `nginx -t`."""
        parse = max(self._parse_seconds, self.SECONDS_PER_LOCATION * _locations(text or ""))
        return self.start_timeout + self.PARSE_FACTOR * parse

    def _on_disk(self) -> str | None:
        try:
            return self.conf_path.read_text()
        except OSError:
            return None

    def _worker_tmp_of_last_config(self, worker) -> Path | None:
        """The workers' directory the home's last nginx.conf names, taken again so that an adopted or resumed
        configuration renders to the same text (no needless reload). Only a directory of ours: made just now by
        mkdir (a name nobody held), or already the workers', private and not a symlink."""
        try:
            text = self.conf_path.read_text()
        except OSError:
            return None
        found = re.search(r'^\s*client_body_temp_path "([^"]+)/client_body";', text, re.M)
        if not found:
            return None
        path = Path(found.group(1))
        if path.parent != Path(tempfile.gettempdir()) or not path.name.startswith(WORKER_TMP):
            return None
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            pass
        except OSError:
            return None
        try:
            st = os.lstat(path)
        except OSError:
            return None
        if stat.S_ISDIR(st.st_mode) and st.st_uid == worker.pw_uid and not st.st_mode & 0o077:
            return path
        return None

    def _adopt(self) -> None:
        """Take over an nginx an earlier owner (a controller process killed by SIGKILL) left serving this home."""
        master = master_of(self.paths.pid, self.conf_path)
        if master is None:
            return
        text = self._on_disk()
        try:
            reported = self._request("GET", "/configuration/checksum", timeout=2).strip()
        except (OSError, NginxError):
            return   # not answering: leave it; starting ours will fail loudly on the port, and the watchdog retries
        self._proc = Adopted(master)
        written = re.search(r"^# Configuration checksum: (\S+)$", text or "", re.M)
        if text is not None and written and written.group(1) == reported:
            self.checksum, self._good_text, self._inherited = reported, text, True
        # else: nginx runs something nginx.conf does not say; checksum None makes the next apply reload it
        self._record(Outcome(True, "adopted", reported, f"nginx master {master} kept serving"), "controller restart")

    def _reject(self, checksum: str, reason: str, error: str, started: float) -> Outcome:
        return self._record(Outcome(False, "rejected", checksum, error, time.monotonic() - started), reason)

    def _record(self, outcome: Outcome, reason: str) -> Outcome:
        self.history.append(Event(time.time(), outcome.action, reason, outcome.checksum, outcome.ok,
                                  outcome.error))
        del self.history[:-self.HISTORY]
        return outcome

    def _restore_good_config(self) -> None:
        if self._good_text is not None:
            candidate = self._write_candidate(self._good_text)
            os.replace(candidate, self.conf_path)

    def _write_certificates(self, config: Configuration) -> None:
        ssl = Path(self.paths.ssl_dir)
        for certificate in config.certificates:
            path = ssl / certificate.file_name
            if not path.exists():
                write_private(path, certificate.pem)

    def _remove_stale_certificates(self, config: Configuration) -> None:
        keep = {c.file_name for c in config.certificates}
        for path in Path(self.paths.ssl_dir).iterdir():
            if re.fullmatch(r"[0-9a-f]{64}-[0-9a-f]{16}\.pem", path.name) and path.name not in keep:
                path.unlink(missing_ok=True)

    def _start(self, checksum: str, budget: float) -> str:
        """Start nginx on nginx.conf; done when it answers with `checksum` (the config it loaded)."""
        Path(self.paths.config_socket).unlink(missing_ok=True)
        log_offset = file_size(self.paths.error_log)
        if self._spawner is None:
            self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nginx-owner")
        command = self._command(self.conf_path, "-g", "daemon off;")
        self._proc = self._spawner.submit(spawn, command, None if self.outlive_owner else os.getpid()).result()
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                kill_group(self._proc.pid)
                raise NginxError("nginx exited at start: " + errors_since(self.paths.error_log, log_offset))
            if self._answers_with(checksum):
                os.chmod(self.paths.config_socket, 0o600)   # nginx made it 0666; its directory is 0700 too
                return "started"
            time.sleep(0.02)
        kill_group(self._proc.pid)   # a half-started nginx must not hold the ports for the retry
        raise NginxError("nginx did not answer with configuration %s within %.1fs: %s" % (
            checksum[:12], budget, errors_since(self.paths.error_log, log_offset)))

    def _reload(self, checksum: str, budget: float) -> str:
        """SIGHUP, then wait until nginx answers with the new checksum (new workers serve) and the old workers
        stopped accepting. nginx's own report decides, not a guess: a slow reload of a big config is waited for."""
        log_offset = file_size(self.paths.error_log)
        master = self._proc.pid
        old = set(workers_of(master))
        os.kill(master, signal.SIGHUP)
        deadline = time.monotonic() + budget
        confirmed = False
        while time.monotonic() < deadline:
            confirmed = confirmed or self._answers_with(checksum)
            if confirmed:
                workers = workers_of(master)
                if not [pid for pid, title in workers.items() if pid in old and "shutting down" not in title]:
                    return "reloaded"
            errors = errors_since(self.paths.error_log, log_offset)
            if errors:
                raise NginxError("nginx refused the new configuration: " + errors)
            if self._proc.poll() is not None:
                raise NginxError("nginx exited during the reload: " + errors_since(self.paths.error_log, log_offset))
            time.sleep(0.01)
        raise NginxError("nginx did not %s configuration %s within %.1fs" % (
            "retire the workers of the old" if confirmed else "answer with", checksum[:12], budget))

    def _answers_with(self, checksum: str) -> bool:
        try:
            return self._request("GET", "/configuration/checksum", timeout=1).strip() == checksum
        except (OSError, NginxError):
            return False

    def _push(self, backends, *, force: bool = False) -> bool:
        if self.config is not None and hasattr(self.config, "balancer_feed") and backends is self.config.backends:
            # A Gateway's configuration: its weighted groups travel with the endpoints (no reload for weights).
            feed = self.config.balancer_feed()
        else:
            feed = [{"name": b.name, "endpoints": [{"address": e.ip, "port": e.port} for e in b.endpoints]}
                    for b in sorted(backends, key=lambda b: b.name)]
        body = json.dumps(feed, separators=(",", ":"))
        if body == self._pushed and not force:
            return False
        self._request("POST", "/configuration/backends", body, expect=201,
                      timeout=5.0 + len(body) / 1_000_000)
        self._pushed = body
        write_private(self.dir / "backends.json", body)   # what `resume` gives a restarted nginx
        self.endpoint_updates += 1
        return True

    def _request(self, method: str, path: str, body: str | None = None, *, expect: int = 200,
                 timeout: float = 5) -> str:
        connection = UnixHTTPConnection(self.paths.config_socket, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        if response.status != expect:
            raise NginxError(f"{method} {path}: nginx answered {response.status}: {text.strip()}")
        return text


def _lower_priority() -> None:
    os.nice(10)


def _locations(text: str) -> int:
    """How many locations a rendered nginx.conf has (what nginx's parse time grows with)."""
    return text.count("location ")
