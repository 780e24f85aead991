"""What each image holds, as its commands see it: the programs on its PATH, its user, its shell, its environment,
its files, and the processes `ps` shows.

The facts are the real images' (Docker Hub `busybox`, `curlimages/curl` on Alpine, the Debian-based `nginx`,
`nginxdemos/nginx-hello` on nginx's Alpine image, ingress-nginx's controller on Alpine, the distroless default
backend). An image the table does not name gets the BusyBox set, which is what the lab's own images are built on.
`build_fs` lays out one container's filesystem: the image's files, then what the kubelet adds for the pod
(`/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`, the ServiceAccount token mount, Secret, ConfigMap and emptyDir
volumes from the pod spec).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ingresslab.cluster.node.shell.fs import FileSystem

__all__ = ["PROFILES", "RootFs", "User", "profile_for"]

BUSYBOX = frozenset(
    "sh ash ls cat echo env printenv hostname id whoami ps sleep true false wget nslookup grep head tail wc sort "
    "seq date uname tar mkdir touch rm pwd which test [".split())
DEBIAN = frozenset(
    "sh dash bash ls cat echo env printenv hostname id whoami sleep true false grep head tail wc sort seq date "
    "uname tar mkdir touch rm pwd which curl test [".split())


@dataclass(frozen=True)
class User:
    uid: int
    name: str
    gid: int
    group: str
    home: str
    extra_groups: tuple[tuple[int, str], ...] = ()

    def id_line(self) -> str:
        groups = [(self.gid, self.group), *self.extra_groups]
        listed = ",".join(f"{g}({n})" for g, n in groups)
        return f"uid={self.uid}({self.name}) gid={self.gid}({self.group}) groups={listed}"


ROOT_BUSYBOX = User(0, "root", 0, "root", "/root", ((10, "wheel"),))
ROOT_ALPINE = User(0, "root", 0, "root", "/root", ((1, "bin"), (2, "daemon"), (3, "sys"), (4, "adm"), (6, "disk"),
                                                   (10, "wheel"), (11, "floppy"), (20, "dialout"), (26, "tape"),
                                                   (27, "video")))
ROOT_DEBIAN = User(0, "root", 0, "root", "/root")
CURL_USER = User(100, "curl_user", 101, "curl_group", "/home/curl_user")
WWW_DATA = User(101, "www-data", 82, "www-data", "/home/www-data")


@dataclass(frozen=True)
class RootFs:
    programs: frozenset[str]
    user: User
    shell: str | None = "ash"               # "ash" (BusyBox), "dash" (Debian) or None (no shell in the image)
    workdir: str = "/"
    env: tuple[tuple[str, str], ...] = ()
    main: tuple[tuple[str, str], ...] = ()  # (user, command line) of the processes the image starts
    files: dict[str, str] = field(default_factory=dict)
    nginx_version: str | None = None
    os_release: str = ""

    def has(self, program: str) -> bool:
        return program in self.programs

    def has_path(self, path: str) -> bool:
        directory, _, name = path.rpartition("/")
        return self.has(name) and directory in ("/bin", "/usr/bin", "/sbin", "/usr/sbin", "/usr/local/bin")

    def prompt(self, cwd: str) -> str:
        if self.shell == "dash":
            return "# " if self.user.uid == 0 else "$ "
        shown = "~" if cwd == self.user.home else cwd
        return f"{shown} {'#' if self.user.uid == 0 else '$'} "

    def shell_error_prefix(self, name: str) -> str:
        return f"{name}: 1: " if self.shell == "dash" else f"{name}: "


PATH_ALPINE = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PATH_BUSYBOX = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ALPINE_RELEASE = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.22.2\nPRETTY_NAME="Alpine Linux v3.22"\n'
DEBIAN_RELEASE = ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'
                  'VERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n')

from ingresslab.cluster.node.workloads import NGINX_VERSION, NGINX_WELCOME  # noqa: E402,F401 (one source)
NGINX_CONF = """
user  nginx;
worker_processes  auto;

error_log  /var/log/nginx/error.log notice;
pid        /run/nginx.pid;


events {
    worker_connections  1024;
}


http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;

    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';

    access_log  /var/log/nginx/access.log  main;

    sendfile        on;
    #tcp_nopush     on;

    keepalive_timeout  65;

    #gzip  on;

    include /etc/nginx/conf.d/*.conf;
}
"""
NGINX_DEFAULT_CONF = """server {
    listen       80;
    listen  [::]:80;
    server_name  localhost;

    #access_log  /var/log/nginx/host.access.log  main;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    #error_page  404              /404.html;

    # redirect server error pages to the static page /50x.html
    #
    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
"""
NGINX_FILES = {"/etc/nginx/nginx.conf": NGINX_CONF, "/etc/nginx/conf.d/default.conf": NGINX_DEFAULT_CONF,
               "/usr/share/nginx/html/index.html": NGINX_WELCOME}
HELLO_CONF = """server {
    listen 8080;
    listen [::]:8080;

    location / {
        default_type text/plain;
        expires -1;
        return 200 'Server address: $server_addr:$server_port\\nServer name: $hostname\\nDate: $time_local\\nURI: $request_uri\\nRequest ID: $request_id\\n';
    }
}
"""
HELLO_FILES = {"/etc/nginx/nginx.conf": NGINX_CONF, "/etc/nginx/conf.d/hello-plain-text.conf": HELLO_CONF}
NGINX_MAIN = (("root", "nginx: master process nginx -g daemon off;"), ("nginx", "nginx: worker process"))

PROFILES: dict[str, RootFs] = {
    "busybox": RootFs(BUSYBOX, ROOT_BUSYBOX, env=(("PATH", PATH_BUSYBOX),)),
    "curlimages/curl": RootFs(BUSYBOX | {"curl"}, CURL_USER, workdir="/home/curl_user",
                              env=(("PATH", PATH_ALPINE), ("CURL_VERSION", "8.17.0"),
                                   ("CURL_RELEASE_TAG", "curl-8_17_0")),
                              os_release=ALPINE_RELEASE),
    "nginx": RootFs(DEBIAN | {"nginx"}, ROOT_DEBIAN, shell="dash",
                    env=(("PATH", PATH_ALPINE), ("NGINX_VERSION", NGINX_VERSION), ("NJS_VERSION", "0.9.4"),
                         ("NJS_RELEASE", "1~bookworm"), ("PKG_RELEASE", "1~bookworm"), ("DYNPKG_RELEASE", "1~bookworm")),
                    main=NGINX_MAIN, files=NGINX_FILES, nginx_version=NGINX_VERSION, os_release=DEBIAN_RELEASE),
    "nginxdemos/nginx-hello": RootFs(BUSYBOX | {"nginx", "curl"}, ROOT_ALPINE,
                                     env=(("PATH", PATH_ALPINE), ("NGINX_VERSION", NGINX_VERSION)),
                                     main=NGINX_MAIN, files=HELLO_FILES, nginx_version=NGINX_VERSION,
                                     os_release=ALPINE_RELEASE),
    "nginxdemos/hello": RootFs(BUSYBOX | {"nginx", "curl"}, ROOT_ALPINE,
                               env=(("PATH", PATH_ALPINE), ("NGINX_VERSION", NGINX_VERSION)),
                               main=NGINX_MAIN, files=HELLO_FILES, nginx_version=NGINX_VERSION,
                               os_release=ALPINE_RELEASE),
    "registry.k8s.io/ingress-nginx/controller": RootFs(
        BUSYBOX | {"nginx", "curl", "bash"}, WWW_DATA, workdir="/etc/nginx", env=(("PATH", PATH_ALPINE),),
        main=(("www-data", "/usr/bin/dumb-init -- /nginx-ingress-controller"),
              ("www-data", "{command}"),
              ("www-data", "nginx: master process /usr/bin/nginx -c /etc/nginx/nginx.conf"),
              ("www-data", "nginx: worker process")),
        os_release=ALPINE_RELEASE),
    "registry.k8s.io/defaultbackend-amd64": RootFs(frozenset({"server"}), User(65534, "nobody", 65534, "nogroup",
                                                                               "/"), shell=None,
                                                   main=(("nobody", "/server"),)),
}


def profile_for(image: str) -> RootFs:
    """The profile of a normalized image name (`repo:tag`), by repository; BusyBox's set when unknown."""
    repo = image.rpartition(":")[0] if ":" in image.rpartition("/")[2] else image
    for prefix in ("docker.io/library/", "docker.io/", "library/"):
        if repo.startswith(prefix):
            repo = repo[len(prefix):]
    if repo in PROFILES:
        return PROFILES[repo]
    if repo.endswith("ingress-nginx/controller") or "ingress-nginx" in repo:
        return PROFILES["registry.k8s.io/ingress-nginx/controller"]
    return RootFs(BUSYBOX | {"curl"}, ROOT_BUSYBOX, env=(("PATH", PATH_BUSYBOX),), main=(("root", f"/{repo.rsplit('/', 1)[-1]}"),))


@dataclass
class PodFiles:
    """What the kubelet puts into every container of a pod."""

    hostname: str
    hosts: str
    resolv_conf: str
    service_account: dict[str, bytes | Path]                # token, ca.crt, namespace
    volumes: dict[str, tuple[dict[str, bytes], bool]]       # mount path → ({relative path: bytes}, read only)
    empty_dirs: list[str]
    extra: dict[str, Path | Callable[[], bytes]] = field(default_factory=dict)


def build_fs(rootfs: RootFs, pod_files: PodFiles) -> FileSystem:
    fs = FileSystem()
    for d in ("/bin", "/dev", "/etc", "/home", "/lib", "/proc", "/root", "/sbin", "/sys", "/tmp", "/usr/bin",
              "/usr/sbin", "/usr/local/bin", "/var", "/run"):
        fs.mkdir(d)
    fs.mkdir(rootfs.user.home, owner=rootfs.user.name)
    fs.mkdir(rootfs.workdir)
    for program in sorted(rootfs.programs):
        where = "/usr/bin" if program in ("curl", "env", "id", "whoami", "head", "tail", "wc", "sort", "seq",
                                          "which") else "/usr/sbin" if program == "nginx" else "/bin"
        fs.add(f"{where}/{program}", b"\x7fELF", mode=0o755)
    users = {0: ("root", 0, "/root", "/bin/sh"), rootfs.user.uid: (rootfs.user.name, rootfs.user.gid,
                                                                      rootfs.user.home, "/bin/sh")}
    fs.add("/etc/passwd", "".join(f"{n}:x:{u}:{g}:{n}:{h}:{s}\n" for u, (n, g, h, s) in sorted(users.items()))
           .encode())
    fs.add("/etc/group", f"root:x:0:root\n{rootfs.user.group}:x:{rootfs.user.gid}:{rootfs.user.name}\n".encode())
    if rootfs.os_release:
        fs.add("/etc/os-release", rootfs.os_release.encode())
    for path, text in rootfs.files.items():
        fs.add(path, text.encode())
    fs.add("/dev/null", b"", mode=0o666)
    fs.add("/etc/hostname", (pod_files.hostname + "\n").encode())
    fs.add("/etc/hosts", pod_files.hosts.encode())
    fs.add("/etc/resolv.conf", pod_files.resolv_conf.encode())
    sa = "/var/run/secrets/kubernetes.io/serviceaccount"
    for name, content in pod_files.service_account.items():
        fs.add(f"{sa}/{name}", content, read_only=True)
    if pod_files.service_account:
        fs.mount_read_only(sa)
    for mount, (files, read_only) in pod_files.volumes.items():
        fs.mkdir(mount)
        for rel, data in files.items():
            fs.add(f"{mount}/{rel}", data, read_only=read_only)
        if read_only:
            fs.mount_read_only(mount)
    for mount in pod_files.empty_dirs:
        fs.mkdir(mount, mode=0o777)
    for path, content in pod_files.extra.items():
        fs.add(path, content)
    return fs
