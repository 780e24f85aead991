"""The hop-cost comparison of notebook 08: medians and spread from real requests, and words that follow them.

The sentence is tested on hand-made figures (overlapping, clearly apart, inverted); the measurement on real HTTP
over loopback: a plain server, and the same server behind a small forwarding proxy — one hop more.
"""
from __future__ import annotations

import http.server
import threading
import urllib.request

import pytest

from ingresslab.hopcost import HopCosts, PathCost, Target, measure_paths
from ingresslab.lab import LabError


def cost(label, p25, median, p75, samples=100):
    return PathCost(label, median, p25, p75, samples)


def test_the_sentence_says_more_only_when_the_middle_halves_are_apart():
    apart = HopCosts((cost("(c) via nginx", 0.9, 1.0, 1.1), cost("(d) via ClusterIP", 1.5, 1.6, 1.7)))
    assert apart.sentence() == ("In this run, (d) via ClusterIP added 0.60 ms to (c) via nginx "
                                "(median 1.60 ms against 1.00 ms).")
    close = HopCosts((cost("(c) via nginx", 0.9, 1.0, 1.3), cost("(d) via ClusterIP", 1.1, 1.2, 1.5)))
    assert "cost about the same as (c) via nginx" in close.sentence() and "added" not in close.sentence()
    inverted = HopCosts((cost("(c)", 1.5, 1.6, 1.7), cost("(d)", 0.9, 1.0, 1.1)))
    assert "(d) was 0.60 ms faster than (c)" in inverted.sentence() and "run it again" in inverted.sentence()


def test_the_table_gives_median_spread_and_ratio():
    costs = HopCosts((cost("(a) pod", 0.2, 0.25, 0.3), cost("(b) nginx", 0.45, 0.5, 0.6)))
    lines = costs.table().splitlines()
    assert "median" in lines[0] and "p25–p75" in lines[0]
    assert "0.25 ms" in lines[1] and "0.20–  0.30 ms" in lines[1] and "×1.0" in lines[1]
    assert "×2.0" in lines[2] and "100 requests per path" in lines[3]
    assert "| (b) nginx | 0.50 ms | 0.45–0.60 ms | ×2.0 |" in costs._repr_markdown_()
    with pytest.raises(KeyError, match="the paths are"):
        costs.row("(z)")


def test_figures_from_made_up_samples():
    row = PathCost.of("x", [1.0, 2.0, 3.0, 4.0, 5.0])
    assert (row.p25_ms, row.median_ms, row.p75_ms, row.samples) == (2.0, 3.0, 4.0, 5)


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello " + self.headers["Host"].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _forwarder(to_port: int):
    class Forward(_Hello):
        def do_GET(self):
            with urllib.request.urlopen(f"http://127.0.0.1:{to_port}{self.path}", timeout=5) as answer:
                body = answer.read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    return Forward


@pytest.fixture
def servers():
    started = []
    direct = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _forwarder(direct.server_address[1]))
    for server in (direct, proxy):
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        started.append((server, thread))
    yield direct.server_address[1], proxy.server_address[1]
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_measuring_real_paths_gives_a_row_each_with_consistent_figures(servers):
    direct, proxied = servers
    costs = measure_paths([Target("(a) direct", "127.0.0.1", direct, "x.example"),
                           Target("(b) one hop more", "127.0.0.1", proxied, "x.example")], repeats=40, rounds=4)
    assert [r.label for r in costs.rows] == ["(a) direct", "(b) one hop more"]
    for row in costs.rows:
        assert row.samples == 40 and 0 < row.p25_ms <= row.median_ms <= row.p75_ms
    # whatever this run measured, the sentence agrees with it
    a, b = costs.rows
    words = costs.sentence()
    if b.overlaps(a):
        assert "about the same" in words
    elif b.median_ms > a.median_ms:
        assert "added" in words
    else:
        assert "faster" in words


def test_a_broken_path_is_named_not_averaged(servers):
    with pytest.raises(LabError, match=r"\(x\) nowhere: 127.0.0.1:1 did not answer"):
        measure_paths([Target("(x) nowhere", "127.0.0.1", 1, "x.example")], repeats=4)
    with pytest.raises(ValueError, match="own label"):
        measure_paths([Target("same", "127.0.0.1", servers[0], "h"), Target("same", "127.0.0.1", servers[1], "h")])
