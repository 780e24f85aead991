"""What each hop costs, measured the way a notebook can afford: many small requests, medians and their spread.

`measure_paths([Target("(a) pod directly", pod_ip, 8080, "chat.example.com"), …])` sends `repeats` GET requests
to each target, a new TCP connection each time (so every hop's connection set-up is counted, as a browser's first
request pays it), interleaved round by round so that a busy moment of the machine falls on every path alike. It
returns `HopCosts`: per path the median and the middle half (25th–75th percentile) of the times, a table, and a
`sentence()` *generated from those figures* — a path is said to cost more than the one before only when their
middle halves do not overlap, so the words never claim what this run's numbers contradict.

This is a lesson's measurement, not a benchmark: `benchmarks/hop_cost.py` measures throughput under load with
wrk. Neighbours: notebook 08 ("What each hop costs") calls it; `lab.LabError` is what a failing path raises.
"""
from __future__ import annotations

import http.client
import statistics
import time
from dataclasses import dataclass

from .i18n import _
from .lab import LabError

__all__ = ["HopCosts", "PathCost", "Target", "measure_paths"]


@dataclass(frozen=True)
class Target:
    """One path to measure: connect to `address`:`port`, send `GET path` with `Host: host`."""

    label: str
    address: str
    port: int
    host: str
    path: str = "/"


@dataclass(frozen=True)
class PathCost:
    label: str
    median_ms: float
    p25_ms: float
    p75_ms: float
    samples: int

    @classmethod
    def of(cls, label: str, times_ms: list[float]) -> "PathCost":
        if len(times_ms) < 2:
            raise ValueError("a spread needs at least two measurements")
        p25, median, p75 = statistics.quantiles(times_ms, n=4, method="inclusive")
        return cls(label, round(median, 3), round(p25, 3), round(p75, 3), len(times_ms))

    def overlaps(self, other: "PathCost") -> bool:
        return self.p25_ms <= other.p75_ms and other.p25_ms <= self.p75_ms


def _compare(before: PathCost, after: PathCost) -> str:
    values = {"after": after.label, "before": before.label, "after_ms": f"{after.median_ms:.2f}",
              "before_ms": f"{before.median_ms:.2f}"}
    if after.overlaps(before):
        return _("{after} cost about the same as {before} (medians {after_ms} and {before_ms} ms; their "
                 "middle halves overlap)").format(**values)
    difference = after.median_ms - before.median_ms
    if difference > 0:
        return _("{after} added {difference} ms to {before} (median {after_ms} ms against {before_ms} ms)").format(
            difference=f"{difference:.2f}", **values)
    return _("{after} was {difference} ms faster than {before} (median {after_ms} ms against {before_ms} "
             "ms) — unusual: run it again").format(difference=f"{-difference:.2f}", **values)


@dataclass(frozen=True)
class HopCosts:
    rows: tuple[PathCost, ...]

    def row(self, label: str) -> PathCost:
        found = next((r for r in self.rows if r.label == label), None)
        if found is None:
            raise KeyError(f"no path labelled {label!r}; the paths are {', '.join(r.label for r in self.rows)}")
        return found

    def table(self) -> str:
        width = max((len(r.label) for r in self.rows), default=10)
        base = self.rows[0].median_ms if self.rows else 0.0
        path_word = _("path")
        lines = [f"{path_word:{width}}  " + _("median   middle half (p25–p75)   × first")]
        for r in self.rows:
            ratio = f"×{r.median_ms / base:.1f}" if base > 0 else "–"
            lines.append(f"{r.label:{width}}  {r.median_ms:6.2f} ms   {r.p25_ms:6.2f}–{r.p75_ms:6.2f} ms"
                         f"{'':8}{ratio}")
        samples = sorted({r.samples for r in self.rows})
        lines.append(_("({count} requests per path, a new connection each)").format(
            count="/".join(map(str, samples))))
        return "\n".join(lines)

    def sentence(self) -> str:
        """Each path against the one before it, in words that follow this run's figures."""
        if len(self.rows) < 2:
            return ""
        parts = [_compare(a, b) for a, b in zip(self.rows, self.rows[1:])]
        return _("In this run, {comparisons}.").format(comparisons=_("; ").join(parts))

    def __repr__(self) -> str:
        return self.table() + "\n\n" + self.sentence()

    def _repr_markdown_(self) -> str:
        rows = "\n".join(f"| {r.label} | {r.median_ms:.2f} ms | {r.p25_ms:.2f}–{r.p75_ms:.2f} ms | "
                         f"×{r.median_ms / self.rows[0].median_ms:.1f} |" for r in self.rows)
        head = _("| path | median | middle half (p25–p75) | × first |")
        return f"{head}\n|---|---:|---:|---:|\n{rows}\n\n{self.sentence()}"


def _one_request(target: Target, timeout: float) -> float:
    started = time.perf_counter()
    conn = http.client.HTTPConnection(target.address, target.port, timeout=timeout)
    try:
        conn.request("GET", target.path, headers={"Host": target.host})
        answer = conn.getresponse()
        answer.read()
    except OSError as err:
        raise LabError(_("{label}: {address} did not answer ({error})").format(
            label=target.label, address=f"{target.address}:{target.port}", error=err)) from None
    finally:
        conn.close()
    if not 200 <= answer.status < 400:
        raise LabError(_("{label}: {address} answered {status} for Host {url}; a cost is only comparable for a "
                         "working path").format(label=target.label, address=f"{target.address}:{target.port}",
                                                status=f"{answer.status} {answer.reason}",
                                                url=f"{target.host}{target.path}"))
    return (time.perf_counter() - started) * 1000


def measure_paths(targets: list[Target], *, repeats: int = 200, rounds: int = 5,
                  timeout: float = 5.0) -> HopCosts:
    """`repeats` requests per target (at least 4), interleaved in `rounds`; see the module docstring."""
    targets = list(targets)
    if not targets:
        raise ValueError("give at least one Target to measure")
    if len({t.label for t in targets}) != len(targets):
        raise ValueError("each Target needs its own label")
    if repeats < 4 or rounds < 1:
        raise ValueError("repeats is at least 4 (a spread needs several measurements) and rounds at least 1")
    times: dict[str, list[float]] = {t.label: [] for t in targets}
    for target in targets:                     # one untimed request each: connections, caches, nginx workers warm
        _one_request(target, timeout)
    per_round = [repeats // rounds + (1 if i < repeats % rounds else 0) for i in range(rounds)]
    for count in per_round:
        for target in targets:
            times[target.label] += [_one_request(target, timeout) for _ in range(count)]
    return HopCosts(tuple(PathCost.of(t.label, times[t.label]) for t in targets))
