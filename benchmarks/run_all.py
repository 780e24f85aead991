"""Run every benchmark script in turn (each prints the machine, its table and its targets), then one summary.

    python benchmarks/run_all.py            # full runs (about 10 minutes on 2 cores)
    python benchmarks/run_all.py --quick    # the CI-sized runs (about 20 s each)
    python benchmarks/run_all.py --only render hop_cost

The scripts run one after another, never together: each starts its own lab, and they would disturb each other's
figures. A missed target is not an error (benchmarks are not tests); a script that crashes is, and makes the exit
status 1.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("render", "apply_to_routed", "endpoints_to_routed", "hop_cost", "pods", "footprint", "scale", "controller_kill",
           "gateway_dataplane",
           "nbval_time")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every script")
    parser.add_argument("--tmp", default=None, help="where the scripts make fresh lab homes")
    parser.add_argument("--only", nargs="+", choices=SCRIPTS, help="run only these scripts")
    args = parser.parse_args(argv)
    summary, failed = [], 0
    for name in args.only or SCRIPTS:
        extra = (["--quick"] if args.quick else []) + (["--tmp", args.tmp] if args.tmp else [])
        print(f"\n######## benchmarks/{name}.py {' '.join(extra)}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(HERE / f"{name}.py"), *extra], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, encoding="utf-8")
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            lines.append(line)
        code = proc.wait()
        took = time.perf_counter() - t0
        verdicts = [line.rstrip() for line in lines if re.match(r"^  [✓✗·] ", line)]
        if code != 0:
            failed += 1
            verdicts.append(f"  ! the script exited {code}")
        elif not verdicts and any("no notebooks yet" in line for line in lines):
            verdicts.append("  · no notebooks yet")
        summary.append((name, took, verdicts))
    print("\n######## summary")
    for name, took, verdicts in summary:
        print(f"{name} ({took:.0f} s)")
        print("\n".join(verdicts) or "  (no targets printed)")
    missed = sum(v.lstrip().startswith("✗") for _, _, vs in summary for v in vs)
    print(f"\n{missed} target(s) missed; {failed} script(s) failed.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
