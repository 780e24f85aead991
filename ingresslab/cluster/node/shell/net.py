"""The network programs inside a pod — `curl`, `wget`, `nslookup` — making real requests from the pod's own address.

Every connection is bound to the pod's IP before it connects, so kube-proxy's log, the pod's access log and
`ingresslab trace` see the pod as the client, exactly as with a real pod. Names resolve through the pod's resolver
(`resolver.py`: hosts file, then cluster DNS with the pod's search path); `localhost` is the pod's own address. A
port below 1024 is reached at the lab's offset when the lab is not root (the container still says the port it
was given). Messages and exit codes are curl's and BusyBox's own (6 cannot resolve, 7 cannot connect, 22 `-f`
and a 4xx/5xx, 28 time-out).
"""
from __future__ import annotations

import asyncio
import ipaddress
import re
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field

from ingresslab.cluster.node.shell.interp import Proc, command
from ingresslab.cluster.node.shell.resolver import NameNotFound

CURL_VERSION = "8.17.0"
MAX_BODY = 64 * 1024 * 1024


class NetError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Response:
    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    remote: tuple[str, int]
    local: tuple[str, int]
    seconds: float

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass
class Request:
    method: str
    url: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    insecure: bool = False
    timeout: float | None = None
    connect_timeout: float | None = None
    resolve: dict[tuple[str, int], str] = field(default_factory=dict)
    user_agent: str = f"curl/{CURL_VERSION}"


def _address(p: Proc, host: str, port: int, req: Request) -> tuple[str, str]:
    """(the address to connect to, as shown) for host:port, through --resolve, then the pod's resolver."""
    if (host, port) in req.resolve:
        ip = shown = req.resolve[(host, port)]
    elif host in ("localhost", "127.0.0.1"):
        ip, shown = p.container.ip, "127.0.0.1"       # the pod's own loopback is the pod
    else:
        try:
            _, addresses = p.container.resolver.resolve(host)
        except NameNotFound:
            raise NetError(6, f"Could not resolve host: {host}") from None
        ip = shown = addresses[0]
    try:
        outside = not ipaddress.ip_address(ip).is_loopback
    except ValueError:
        raise NetError(6, f"Could not resolve host: {host}") from None
    if outside:
        # The lab's network is the loopback interface: nothing leaves the machine, so nothing outside is reached.
        raise NetError(7, f"Failed to connect to {host} port {port} after 0 ms: Could not connect to server "
                          "(the lab's pods reach only the lab's own 127.x addresses)")
    return ip, shown


async def fetch(p: Proc, req: Request, log=None) -> Response:
    """One HTTP/1.1 exchange from the pod's address. `log(prefix, line)` hears curl's -v lines."""
    url = urllib.parse.urlsplit(req.url if "://" in req.url else "http://" + req.url)
    if url.scheme not in ("http", "https"):
        raise NetError(1, f'Protocol "{url.scheme}" not supported')
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    ip, shown = _address(p, host, port, req)
    say = log or (lambda *_: None)
    say("*", f"  Trying {shown}:{port}...")
    started = time.monotonic()
    context = None
    if url.scheme == "https":
        context = ssl.create_default_context()
        if req.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            ip, p.container.dial_port(port), local_addr=(p.container.ip, 0), ssl=context,
            server_hostname=host if context else None), req.connect_timeout or req.timeout or 300)
    except asyncio.TimeoutError:
        ms = int((time.monotonic() - started) * 1000)
        raise NetError(28, f"Connection timed out after {ms} milliseconds") from None
    except ssl.SSLCertVerificationError as exc:
        raise NetError(60, f"SSL certificate problem: {exc.verify_message}") from None
    except ssl.SSLError as exc:
        raise NetError(35, f"TLS connect error: {exc.reason}") from None
    except OSError:
        ms = int((time.monotonic() - started) * 1000)
        raise NetError(7, f"Failed to connect to {host} port {port} after {ms} ms: Could not connect to server") \
            from None
    local = writer.get_extra_info("sockname")[:2]
    say("*", f"Connected to {host} ({shown}) port {port}")
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    default_port = 443 if url.scheme == "https" else 80
    head = [f"{req.method} {target} HTTP/1.1", f"Host: {host}{'' if port == default_port else f':{port}'}"]
    given = {k.lower() for k, _ in req.headers}
    if "user-agent" not in given:
        head.append(f"User-Agent: {req.user_agent}")
    if "accept" not in given:
        head.append("Accept: */*")
    head += [f"{k}: {v}" for k, v in req.headers if v != ""]
    if req.body:
        if "content-type" not in given:
            head.append("Content-Type: application/x-www-form-urlencoded")
        head.append(f"Content-Length: {len(req.body)}")
    for line in head:
        say(">", line)
    say(">", "")
    try:
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + req.body)
        response = await asyncio.wait_for(_read_response(reader, req.method), req.timeout)
    except asyncio.TimeoutError:
        ms = int((time.monotonic() - started) * 1000)
        raise NetError(28, f"Operation timed out after {ms} milliseconds with 0 bytes received") from None
    except (OSError, asyncio.IncompleteReadError, ValueError):
        raise NetError(52, "Empty reply from server") from None
    finally:
        writer.close()
    status, reason, version, headers, body = response
    say("<", f"{version} {status} {reason}".rstrip())
    for k, v in headers:
        say("<", f"{k}: {v}")
    say("<", "")
    return Response(status, reason, version, headers, body, (ip, port), local, time.monotonic() - started)


async def _read_response(reader: asyncio.StreamReader, method: str):
    status_line = (await reader.readline()).decode("latin-1").rstrip("\r\n")
    match = re.match(r"(HTTP/\d(?:\.\d)?) (\d{3}) ?(.*)", status_line)
    if match is None:
        raise ValueError("not HTTP")
    headers = []
    while True:
        line = (await reader.readline()).decode("latin-1").rstrip("\r\n")
        if not line:
            break
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    status = int(match.group(2))
    lookup = {k.lower(): v for k, v in headers}
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        body = b""
    elif "chunked" in lookup.get("transfer-encoding", "").lower():
        body = b""
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readline()
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
            if len(body) > MAX_BODY:
                break
    elif "content-length" in lookup:
        body = await reader.readexactly(min(int(lookup["content-length"]), MAX_BODY))
    else:
        body = await reader.read(MAX_BODY)
    return status, match.group(3), match.group(1), headers, body


def _short_flags(args: list[str], with_value: str) -> list[str]:
    """-sSL → -s -S -L; -XPOST → -X POST (curl's option clustering)."""
    out = []
    for arg in args:
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2:
            for i, flag in enumerate(arg[1:]):
                out.append("-" + flag)
                if flag in with_value:
                    if arg[i + 2:]:
                        out.append(arg[i + 2:])
                    break
        else:
            out.append(arg)
    return out


@command("curl")
async def curl(p: Proc) -> int:  # noqa: C901 — an option table in code, as curl's own
    args = _short_flags(p.args[1:], "XHdomAwe")
    req, urls = Request("GET", ""), []
    silent = show_error = verbose = include = head = fail = follow = False
    output, write_out = None, None
    while args:
        arg = args.pop(0)
        value = lambda: args.pop(0) if args else ""  # noqa: E731
        if arg in ("-s", "--silent"):
            silent = True
        elif arg in ("-S", "--show-error"):
            show_error = True
        elif arg in ("-v", "--verbose"):
            verbose = True
        elif arg in ("-i", "--include"):
            include = True
        elif arg in ("-I", "--head"):
            head, req.method = True, "HEAD"
        elif arg in ("-f", "--fail"):
            fail = True
        elif arg in ("-L", "--location"):
            follow = True
        elif arg in ("-k", "--insecure"):
            req.insecure = True
        elif arg in ("-X", "--request"):
            req.method = value()
        elif arg in ("-H", "--header"):
            name, _, v = value().partition(":")
            req.headers.append((name.strip(), v.strip()))
        elif arg in ("-d", "--data", "--data-raw", "--data-binary"):
            req.body += (b"&" if req.body else b"") + value().encode()
            if req.method == "GET":
                req.method = "POST"
        elif arg in ("-o", "--output"):
            output = value()
        elif arg in ("-w", "--write-out"):
            write_out = value()
        elif arg in ("-A", "--user-agent"):
            req.user_agent = value()
        elif arg in ("-m", "--max-time"):
            req.timeout = float(value() or 0) or None
        elif arg == "--connect-timeout":
            req.connect_timeout = float(value() or 0) or None
        elif arg == "--resolve":
            host, port, addr = (value().split(":", 2) + ["", ""])[:3]
            req.resolve[(host, int(port or 0))] = addr
        elif arg in ("--http1.1", "--no-progress-meter", "-#", "--compressed", "-N", "--no-buffer"):
            continue
        elif arg.startswith("-") and arg != "-":
            p.err(f"curl: option {arg}: is unknown\ncurl: try 'curl --help' or 'curl --manual' for more information\n")
            return 2
        else:
            urls.append(arg)
    if not urls:
        p.err("curl: try 'curl --help' or 'curl --manual' for more information\n")
        return 2
    code = 0
    for url in urls:
        req.url = url
        code = await _curl_one(p, req, silent=silent and not show_error, verbose=verbose, include=include or head,
                               fail=fail, follow=follow, output=output, write_out=write_out)
    return code


async def _curl_one(p: Proc, req: Request, *, silent, verbose, include, fail, follow, output, write_out) -> int:
    log = (lambda prefix, line: p.err(f"{prefix} {line}\n")) if verbose else None
    response = None
    try:
        for _ in range(50 if follow else 1):
            response = await fetch(p, req, log)
            location = response.header("Location")
            if not (follow and location and response.status in (301, 302, 303, 307, 308)):
                break
            req = Request(req.method if response.status in (307, 308) else "GET",
                          urllib.parse.urljoin(req.url if "://" in req.url else "http://" + req.url, location),
                          req.headers, req.body if response.status in (307, 308) else b"", req.insecure,
                          req.timeout, req.connect_timeout, req.resolve, req.user_agent)
    except NetError as exc:
        if not silent:
            p.err(f"curl: ({exc.code}) {exc.message}\n")
        return exc.code
    if fail and response.status >= 400:
        if not silent:
            p.err(f"curl: (22) The requested URL returned error: {response.status}\n")
        return 22
    data = b""
    if include:
        data += f"{response.version} {response.status} {response.reason}".rstrip().encode() + b"\r\n"
        data += b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in response.headers) + b"\r\n"
    data += response.body
    if not silent and not verbose and (output not in (None, "-") or getattr(p.stdin, "terminal", None) is None):
        p.err(_progress(len(data), response.seconds))   # curl's meter, shown when the output is not a terminal
    if output and output != "-":
        try:
            p.container.fs.write(p.container.fs.absolute(p.shell.cwd, output), data) \
                if output != "/dev/null" else None
        except OSError as exc:
            p.err(f"curl: (23) Failure writing output to destination, passed {len(data)} returned 0\n")
            del exc
            return 23
    else:
        p.stdout(data)
    if write_out:
        p.out(_write_out(write_out, response))
    if log:
        log("*", f"Connection #0 to host {urllib.parse.urlsplit(req.url if '://' in req.url else 'http://' + req.url).hostname} left intact")
    return 0


def _progress(size: int, seconds: float) -> str:
    speed = int(size / seconds) if seconds > 0 else size
    return ("  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n"
            "                                 Dload  Upload   Total   Spent    Left  Speed\n"
            f"100 {size:>5}  100 {size:>5}    0     0  {speed:>5}      0 --:--:-- --:--:-- --:--:-- {speed:>5}\n")


def _write_out(template: str, r: Response) -> str:
    values = {"http_code": f"{r.status:03d}", "response_code": f"{r.status:03d}", "remote_ip": r.remote[0],
              "remote_port": str(r.remote[1]), "local_ip": r.local[0], "local_port": str(r.local[1]),
              "time_total": f"{r.seconds:.6f}", "size_download": str(len(r.body)),
              "content_type": r.header("Content-Type") or ""}
    text = re.sub(r"%\{(\w+)\}", lambda m: values.get(m.group(1), ""), template)
    return text.replace("\\n", "\n").replace("\\t", "\t")


@command("wget")
async def wget(p: Proc) -> int:
    args = _short_flags(p.args[1:], "OTUYe")
    quiet, output, spider, server_response, timeout, urls = False, None, False, False, None, []
    while args:
        arg = args.pop(0)
        if arg in ("-q", "--quiet"):
            quiet = True
        elif arg in ("-O", "--output-document"):
            output = args.pop(0) if args else "-"
        elif arg.startswith("--output-document="):
            output = arg.split("=", 1)[1]
        elif arg == "--spider":
            spider = True
        elif arg in ("-S", "--server-response"):
            server_response = True
        elif arg in ("-T", "--timeout"):
            timeout = float(args.pop(0)) if args else None
        elif arg.startswith("-"):
            continue
        else:
            urls.append(arg)
    if not urls:
        p.err("BusyBox v1.37.0 multi-call binary.\n\nUsage: wget [-cqS] [--spider] [-O FILE] [-T SEC] URL...\n")
        return 1
    for url in urls:
        req = Request("HEAD" if spider else "GET", url, timeout=timeout, user_agent="Wget")
        parsed = urllib.parse.urlsplit(url if "://" in url else "http://" + url)
        host, port = parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            ip, _ = _address(p, host, port, req)
        except NetError as exc:
            p.err(f"wget: bad address '{host}'\n" if exc.code == 6 else
                  f"wget: can't connect to remote host ({host}): Network is unreachable\n")
            return 1
        if not quiet:
            p.err(f"Connecting to {host}{'' if parsed.port is None else f':{port}'} ({ip}:{port})\n")
        try:
            response = await fetch(p, req)
        except NetError as exc:
            if exc.code == 7:
                p.err(f"wget: can't connect to remote host ({ip}): Connection refused\n")
            elif exc.code == 28:
                p.err("wget: download timed out\n")
            else:
                p.err(f"wget: {exc.message}\n")
            return 1
        if server_response:
            p.err(f"  {response.version} {response.status} {response.reason}\n")
            for k, v in response.headers:
                p.err(f"  {k}: {v}\n")
        if response.status >= 400:
            p.err(f"wget: server returned error: {response.version} {response.status} {response.reason}\n")
            return 1
        if spider:
            if not quiet:
                p.err("remote file exists\n")
            continue
        name = output or (parsed.path.rstrip("/").rsplit("/", 1)[-1] or "index.html")
        if name == "-":
            if not quiet:
                p.err("writing to stdout\n")
            p.stdout(response.body)
            if not quiet:
                p.err("written to stdout\n")
            continue
        if not quiet:
            p.err(f"saving to '{name}'\n")
        try:
            p.container.fs.write(p.container.fs.absolute(p.shell.cwd, name), response.body)
        except OSError as exc:
            p.err(f"wget: can't open '{name}': {exc.strerror}\n")
            return 1
        if not quiet:
            size = len(response.body)
            p.err(f"{name:<18} 100% |{'*' * 31}| {size:>5}  0:00:00 ETA\n'{name}' saved\n")
    return 0


@command("nslookup")
async def nslookup(p: Proc) -> int:
    names = [a for a in p.args[1:] if not a.startswith("-")]
    if not names:
        p.err("BusyBox v1.37.0 multi-call binary.\n\nUsage: nslookup [-type=QUERY_TYPE] [-debug] HOST [DNS_SERVER]\n")
        return 1
    server = p.container.nameserver
    p.out(f"Server:\t\t{server}\nAddress:\t{server}:53\n\n")
    try:
        fqdn, addresses = p.container.resolver.resolve(names[0])
    except NameNotFound as exc:
        p.out(f"** server can't find {exc.tried[-1] if exc.tried else names[0]}: NXDOMAIN\n\n")
        return 1
    for address in addresses:
        p.out(f"Name:\t{fqdn}\nAddress: {address}\n")
    p.out("\n")
    return 0
