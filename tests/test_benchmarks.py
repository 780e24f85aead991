"""The benchmark scripts still run: each, in --quick mode, prints the machine, its table and its targets.

Smoke tests only. Benchmarks print figures and are not timed assertions (DESIGN.md): a missed target is printed
as ✗ and is not a failure here; a crash, a missing table, a target line that does not parse, a figure that is not a
number, or a lab left behind is.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = ["render", "apply_to_routed", "endpoints_to_routed", "hop_cost", "pods", "footprint", "scale", "controller_kill",
           "gateway_dataplane",
           "nbval_time"]


def run_script(name: str, *args: str, tmp: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, str(BENCHMARKS / f"{name}.py"), *args, "--tmp", str(tmp)],
                          capture_output=True, text=True, encoding="utf-8", env=env, timeout=240)


def test_every_script_is_listed_in_run_all():
    on_disk = {p.stem for p in BENCHMARKS.glob("*.py") if not p.stem.startswith("_") and p.stem != "run_all"}
    assert on_disk == set(SCRIPTS)
    source = (BENCHMARKS / "run_all.py").read_text()
    assert all(f'"{name}"' in source for name in SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_runs_quick_and_prints_its_table(name, tmp_path):
    proc = run_script(name, "--quick", tmp=tmp_path)
    out = proc.stdout
    assert proc.returncode == 0, f"{name}.py --quick exited {proc.returncode}:\n{out}\n{proc.stderr}"
    assert "(--quick)" in out.splitlines()[0]
    for fact in ("CPU", "cores", "RAM", "kernel", "nginx"):
        assert f"  {fact} " in out, f"the machine header lacks {fact}:\n{out}"
    if name == "nbval_time" and "no notebooks yet" in out:
        return
    assert any(set(line.replace(" ", "")) == {"-"} for line in out.splitlines()), f"no table printed:\n{out}"
    verdicts = target_lines(out)
    assert verdicts, f"no target line after 'Targets:':\n{out}"
    for mark, what, figure, target in verdicts:
        assert NUMBER.match(figure), f"{name}.py: the figure of {what!r} is not a number: {figure!r}\n{out}"
        assert target.strip(), f"{name}.py: {what!r} names no target"


TARGET_LINE = re.compile(r"^  ([✓✗·]) (.+?): (.+)  \(target (.+)\)$")
NUMBER = re.compile(r"^[+-]?\d[\d,]*(\.\d+)?(\s?[^\s\d]\S*)?(\s|$)")
"""A figure: a number (signed or not), with a unit or a word such as `ms`, `×`, `%`, `KiB`, `failed` after it."""


@pytest.mark.parametrize("out,fails", [
    ("Targets:\n  ✓ p50: 1.5 ms  (target ≤ 2 ms)\n  · hop: +0.04 ms  (target none)\nAll targets met.", None),
    ("Targets:\n  ✓ p50: 1.5 ms  (target ≤ 2 ms)\n", "no summary line"),
    ("Targets:\n  ✓ p50 1.5 ms (target ≤ 2 ms)\nAll targets met.", "does not parse"),
    ("Table only\n", "no 'Targets:'"),
])
def test_the_target_line_check_refuses_what_does_not_parse(out, fails):
    if fails is None:
        assert [v[2] for v in target_lines(out)] == ["1.5 ms", "+0.04 ms"]
    else:
        with pytest.raises(AssertionError, match=fails):
            target_lines(out)


@pytest.mark.parametrize("figure,number", [("131.3 ms", True), ("1,001 KiB", True), ("0 failed", True),
                                           ("95%", True), ("-", False), ("yes", False), ("n/a ms", False)])
def test_a_figure_must_be_a_number(figure, number):
    assert bool(NUMBER.match(figure)) is number


def target_lines(out: str) -> list[tuple[str, str, str, str]]:
    """The verdicts under 'Targets:', each parsed as (mark, name, figure, target); a line that does not parse, or a
    summary line missing after them, fails the test."""
    lines = out.splitlines()
    assert "Targets:" in lines, f"no 'Targets:' section:\n{out}"
    parsed = []
    for line in lines[lines.index("Targets:") + 1:]:
        if line.startswith(("All targets met.", "MISSED ", "No target was checked")):
            return parsed
        found = TARGET_LINE.match(line)
        assert found, f"a target line that does not parse: {line!r}\n{out}"
        parsed.append(found.groups())
    raise AssertionError(f"no summary line after the targets:\n{out}")


def test_run_all_runs_the_chosen_scripts_and_sums_up(tmp_path):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "run_all.py"), "--quick", "--only", "render",
                           "--tmp", str(tmp_path)], capture_output=True, text=True, encoding="utf-8", env=env,
                          timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "######## summary" in proc.stdout
    assert "translate + render of 1,000 Ingresses" in proc.stdout.split("######## summary")[1]
