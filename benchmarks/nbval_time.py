"""Wall time of running the course's notebooks under nbval (`pytest --nbval notebooks/`), per notebook and in all.

The notebooks run as the suite runs them: pytest's configuration (nbval options, sanitizers) and the root
conftest.py, which gives them a lab of their own under pytest's --basetemp — here a fresh directory, so a fresh
home — and stops it at the end (the script stops it too, whatever happened). Time per notebook is the sum of its
cells' call times as pytest reports them (`--durations=0`); the total is the wall time of the whole pytest run,
kernel start-up included.

Target: the whole set ≤ 120 s. With `--quick`, only the first notebook runs (no time target then). A notebook
that fails makes the script exit 1 after its report (the time of a failing run is no figure).
If notebooks/*.ipynb do not exist yet, the script says "no notebooks yet" and exits 0.

    python benchmarks/nbval_time.py
    python benchmarks/nbval_time.py --quick
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import _common as c

TARGET_S = 120.0
NOTEBOOKS = c.ROOT / "notebooks"


def main(argv: list[str] | None = None) -> int:
    args = c.parser(__doc__.splitlines()[0]).parse_args(argv)
    c.header("nbval_time: pytest --nbval notebooks/", quick=args.quick)
    notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
    if not notebooks:
        print("no notebooks yet")
        return 0
    chosen = notebooks[:1] if args.quick else notebooks
    from ingresslab.lab import stop
    with c.fresh_home(args.tmp) as scratch:
        # The suite's root conftest.py gives the notebooks a lab of their own in <basetemp>/ingresslab-notebooks
        # and stops it at the end; a fresh --basetemp makes that a fresh home. Nothing inherited may redirect it.
        basetemp = scratch / "pytest"
        env = {k: v for k, v in os.environ.items()
               if k not in ("INGRESSLAB_HOME", "INGRESSLAB_NOTEBOOK_HOME", "KUBECONFIG")}
        env["PYTHONIOENCODING"] = "utf-8"
        where = [str(chosen[0].relative_to(c.ROOT))] if args.quick else ["notebooks/"]
        argv = [sys.executable, "-m", "pytest", "--nbval", "-p", "no:cacheprovider", "--durations=0", "-q",
                "--basetemp", str(basetemp), *where]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(argv, cwd=c.ROOT, env=env, capture_output=True, text=True, timeout=1800)
        finally:
            wall = time.perf_counter() - t0
            stop(basetemp / "ingresslab-notebooks")   # normally already stopped by the suite's conftest
    output = proc.stdout + proc.stderr
    per_notebook: dict[str, float] = {}
    for seconds, nb in re.findall(r"^([\d.]+)s \w+\s+(\S+\.ipynb)::", output, re.M):
        per_notebook[nb] = per_notebook.get(nb, 0.0) + float(seconds)
    counts = {}
    for n, what in re.findall(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)", output.splitlines()[-1]
                              if output.strip() else ""):
        counts[what] = int(n)
    errors = counts.get("error", 0) + counts.get("errors", 0)
    rows = []
    for nb in chosen:
        seconds = per_notebook.get(str(nb.relative_to(c.ROOT)))
        rows.append([str(nb.relative_to(c.ROOT)), "-" if seconds is None else f"{seconds:.1f} s"])
    rows.append(["pytest wall time (all of the above, kernels included)", f"{wall:.1f} s"])
    c.table(["notebook", "cells' time"], rows,
            title=f"{len(chosen)} of {len(notebooks)} notebook(s); cells: "
                  + (", ".join(f"{v} {k}" for k, v in counts.items()) or "no summary line"))
    if proc.returncode != 0:
        lines = output.strip().splitlines()
        first = next((i for i, line in enumerate(lines) if re.match(r"^_{3,} .* _{3,}$", line)), None)
        shown = lines[first:first + 25] if first is not None else []
        shown += [line for line in lines if line.startswith(("FAILED", "ERROR"))] + lines[-1:]
        print(f"pytest --nbval exited {proc.returncode}. The first failure and the summary:")
        print("\n".join("  " + re.sub(r"\x1b\[[0-9;]*m", "", line) for line in shown))
        print()
    verdicts = [c.Verdict("pytest --nbval notebooks/ wall time", f"{wall:.1f} s", f"≤ {TARGET_S:.0f} s",
                          None if args.quick else wall <= TARGET_S),
                c.Verdict("notebooks failing under nbval", f"{counts.get('failed', 0) + errors} failed"
                          + ("" if proc.returncode == 0 else f" (pytest exited {proc.returncode})"), "0 failed",
                          proc.returncode == 0)]
    c.summary(verdicts)
    return 0 if proc.returncode == 0 else 1   # a notebook that fails is not a figure: the run fails


if __name__ == "__main__":
    sys.exit(main())
