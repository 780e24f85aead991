"""Keep the course's notebooks in step: navigation cells (checked by the tests) and stored outputs.

Each numbered notebook has a first and a last markdown cell that start with `<!--NAVIGATION-->`; this script
rewrites them from the notebooks' titles (their first `# ` heading): previous · contents · next.

`--execute` runs notebooks against the lab of $INGRESSLAB_HOME (started if it is not running) and stores what
they print, as nbval will compare it, together with the state of their widgets, so that JupyterLab and static
viewers draw the widgets before anything runs. Widget model ids are renamed after the notebook and their order
(`<stem>-0001…`), so a re-run changes only what really changed.

    python scripts/notebooks.py                      rewrite the navigation cells
    python scripts/notebooks.py --check              exit 1 (and say which) if any navigation cell is out of date
    python scripts/notebooks.py --execute [NAME…]    run the notebooks (all: the course in order, then the rest)
                                                     and store their outputs and widget state
    python scripts/notebooks.py --execute --zh [NAME…]   the same for the Chinese edition (notebooks-zh/, made by
                                                     scripts/i18n.py; run that first)
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
ZH_NOTEBOOKS = NOTEBOOKS.parent / "notebooks-zh"
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


def nav_text(i: int, paths: list[Path], *, title_of=title, contents: str = "Contents",
             anchor: str = "The-course") -> str:
    """previous · contents · next for the i-th of `paths` (the Chinese edition passes its own titles and words)."""
    parts = []
    if i > 0:
        parts.append(f"[← {title_of(paths[i - 1])}]({paths[i - 1].name})")
    parts.append(f"[{contents}]({CONTENTS}#{anchor})")
    if i + 1 < len(paths):
        parts.append(f"[{title_of(paths[i + 1])} →]({paths[i + 1].name})")
    return MARKER + "\n" + " | ".join(parts)


def _cell(text: str, cell_id: str) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": text.splitlines(keepends=True)}


def updated(path: Path, text: str) -> str:
    nb = json.loads(path.read_text())
    cells = [c for c in nb["cells"] if not (c["cell_type"] == "markdown" and "".join(c["source"]).startswith(MARKER))]
    nb["cells"] = [_cell(text, "nav-top"), *cells, _cell(text, "nav-bottom")]
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def stable_widget_ids(text: str, stem: str) -> str:
    """The notebook's JSON with each widget model id (32 hex digits, random per run) replaced by one derived from
    the notebook's name and the model's place in the widget tree: models are numbered in the order a walk meets
    them, from the views the outputs show (in cell order) through the `IPY_MODEL_…` references of each model (in
    key order), then any model no view reaches. The same notebook run twice stores the same ids; the new ids keep
    the old shape, so JupyterLab and the sanitizers treat them alike."""
    nb = json.loads(text)
    state = (nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE) or {}).get("state") or {}
    views = [out["data"][WIDGET_VIEW]["model_id"] for cell in nb.get("cells", []) for out in cell.get("outputs", [])
             if WIDGET_VIEW in out.get("data", {})]
    order: list[str] = []

    def walk(model_id: str) -> None:
        if model_id in order or model_id not in state:
            return
        order.append(model_id)
        for ref in re.findall(r"IPY_MODEL_([0-9a-f]{32})", json.dumps(state[model_id], sort_keys=True)):
            walk(ref)

    for model_id in views:
        walk(model_id)
    for model_id in sorted(state, key=lambda m: json.dumps(state[m], sort_keys=True)):
        walk(model_id)
    for n, old in enumerate(order):
        text = text.replace(old, hashlib.sha256(f"{stem}/{n}".encode()).hexdigest()[:32])
    return text


def execute(paths: list[Path]) -> int:
    """Run each notebook in a fresh kernel, in its own folder, and store outputs and widget state."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    # `!kubectl` in the notebooks: the virtualenv's kubectl, whatever the caller's PATH
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    failed = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=True,
                                record_timing=False, resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute()
        except CellExecutionError as error:
            failed.append(path.name)
            print(f"{path.name}: a cell failed; outputs not stored\n{str(error)[:2000]}", file=sys.stderr)
            continue
        stem = path.stem if path.parent == NOTEBOOKS else f"{path.parent.name}/{path.stem}"
        renamed = nbformat.reads(stable_widget_ids(nbformat.writes(nb), stem), as_version=4)
        path.write_text(nbformat.writes(renamed) + "\n")   # written again: keys sorted, as nbformat keeps them
        print(f"{path.name}: outputs stored")
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    if "--execute" in argv:
        names = [a for a in argv if a not in ("--execute", "--zh")]
        every = course() + sorted(p for p in NOTEBOOKS.glob("*.ipynb") if p not in course())
        if "--zh" in argv:
            every = [ZH_NOTEBOOKS / p.name for p in every]
        chosen = [p for p in every if not names or p.name in names or p.stem in names]
        return execute(chosen)
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
