"""Keep the course's navigation cells in step with the notebooks (run by the tests with --check).

Each numbered notebook has a first and a last markdown cell that start with `<!--NAVIGATION-->`; this script
rewrites them from the notebooks' titles (their first `# ` heading): previous · contents · next.

    python scripts/notebooks.py          rewrite the navigation cells
    python scripts/notebooks.py --check  exit 1 (and say which) if any navigation cell is out of date
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
MARKER = "<!--NAVIGATION-->"
CONTENTS = "00_start_here.ipynb"


def course() -> list[Path]:
    return sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def title(path: Path) -> str:
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"])
            m = re.search(r"^# (.+)$", text, re.M)
            if m and MARKER not in text:
                return m.group(1).strip()
    return path.stem


def nav_text(i: int, paths: list[Path]) -> str:
    parts = []
    if i > 0:
        parts.append(f"[← {title(paths[i - 1])}]({paths[i - 1].name})")
    parts.append(f"[Contents]({CONTENTS}#The-course)")
    if i + 1 < len(paths):
        parts.append(f"[{title(paths[i + 1])} →]({paths[i + 1].name})")
    return MARKER + "\n" + " | ".join(parts)


def _cell(text: str, cell_id: str) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": text.splitlines(keepends=True)}


def updated(path: Path, text: str) -> str:
    nb = json.loads(path.read_text())
    cells = [c for c in nb["cells"] if not (c["cell_type"] == "markdown" and "".join(c["source"]).startswith(MARKER))]
    nb["cells"] = [_cell(text, "nav-top"), *cells, _cell(text, "nav-bottom")]
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = course()
    stale = []
    for i, path in enumerate(paths):
        new = updated(path, nav_text(i, paths))
        if new != path.read_text():
            stale.append(path.name)
            if not check:
                path.write_text(new)
    if check and stale:
        print("navigation out of date in: " + ", ".join(stale) + " (run python scripts/notebooks.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
