"""The course in Chinese, generated from the English notebooks and gettext catalogues, and kept in step.

One source, two languages. The English notebooks (`notebooks/`) are the source of every code cell and of the
course's order; what is Chinese lives in PO catalogues, Babel's format, that any gettext tool (Poedit, Weblate,
`msgfmt --check`) can read:

    notebooks-zh/po/<notebook>.po              one per notebook: msgctxt = the cell's id, msgid = the English
                                               markdown, msgstr = its Chinese; and msgctxt = `<id>:code<n>` for
                                               the words inside a code cell (a comment, a docstring, a literal
                                               given to print()), msgstr = the same piece of Python in Chinese
    ingresslab/locale/zh/LC_MESSAGES/*.po      what the code says to learners: every `_()` string
                                               (exercises.po: ingresslab/exercises, widgets.po: ingresslab/widgets,
                                               ingresslab.po: the rest)

    python scripts/i18n.py             update the catalogues from the English (a new cell or string gets an empty
                                       entry; a changed one keeps its old Chinese, marked fuzzy, with the English it
                                       translated as `#| msgid`), then regenerate notebooks-zh/*.ipynb
    python scripts/i18n.py --check     exit 1, naming each cell and string whose translation is missing or stale,
                                       and each Chinese notebook that is not what the catalogues make

A Chinese notebook is its English notebook with each markdown cell's msgstr, the navigation cells in Chinese,
and the code cells' logic unchanged: only their words (comments, docstrings, the literals handed to print(); a
translation that is not one comment line, or not a literal of the same kind with the same {…} fields, is refused
and the English kept) and one call: `Lab.up()` / `start_lab()` become `Lab.up(language="zh")` /
`start_lab(language="zh")`, which switches what the lab says (see ingresslab/i18n.py). A test compares each
cell's syntax tree, less those words, across the editions. Stored outputs are the
Chinese notebook's own (`scripts/notebooks.py --execute` runs it against the real lab); a code cell whose source
changed loses its outputs here until then.

Why PO: translators' tools read it, it carries the cell id as context and the previous English of a stale entry,
and the same format and Babel calls serve the code's strings and the notebooks' prose.
"""
from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import notebooks as english  # noqa: E402  (scripts/notebooks.py: navigation, titles)

LANGUAGE = "zh"
ZH_NOTEBOOKS = ROOT / "notebooks-zh"
NOTEBOOK_PO = ZH_NOTEBOOKS / "po"
CODE_LOCALE = ROOT / "ingresslab" / "locale" / LANGUAGE / "LC_MESSAGES"
PACKAGE = ROOT / "ingresslab"
# which catalogue holds the strings of which part of the package (first match wins)
CODE_DOMAINS = (("exercises", "ingresslab/exercises/"), ("widgets", "ingresslab/widgets/"), ("ingresslab", "ingresslab/"))
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
CONTENTS_WORD = "目录"
LANGUAGE_CALLS = ((re.compile(r"\bLab\.up\(\)"), f'Lab.up(language="{LANGUAGE}")'),
                  (re.compile(r"\bstart_lab\(\)"), f'start_lab(language="{LANGUAGE}")'))
HEADER = {"Project-Id-Version": "ingresslab", "Language": LANGUAGE, "Content-Type": "text/plain; charset=UTF-8"}


# ---- catalogues -------------------------------------------------------------------------------------------------

def read_catalogue(path: Path):
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po
    if not path.exists():
        return Catalog(locale=LANGUAGE, project="ingresslab")
    with open(path, "rb") as f:
        catalogue = read_po(f, locale=LANGUAGE)
    previous = _previous_ids(path.read_text())
    for message in catalogue:
        if message.context in previous:
            message.previous_id = [previous[message.context]]
    return catalogue


# Babel neither reads `#| msgid` (the English a fuzzy entry was translated from) nor writes a multi-line one as
# GNU gettext does, so the notebooks' catalogues carry it in GNU's form through these two.
_PREVIOUS = re.compile(r'((?:#\| .*\n)+)msgctxt "((?:[^"\\]|\\.)*)"\n')


def _previous_ids(text: str) -> dict[str, str]:
    from babel.messages.pofile import unescape
    found = {}
    for block, context in _PREVIOUS.findall(text):
        strings = re.findall(r'"(?:[^"\\]|\\.)*"', block.replace("#| msgid ", "", 1))
        found[unescape(f'"{context}"')] = "".join(unescape(s) for s in strings)
    return found


def _with_previous_ids(text: str, catalogue) -> str:
    from babel.messages.pofile import escape
    for message in catalogue:
        if message.context and message.previous_id and message.fuzzy:
            lines = message.previous_id[0].splitlines(keepends=True) or [""]
            block = '#| msgid ""\n' + "".join(f"#| {escape(line)}\n" for line in lines)
            marker = f"msgctxt {escape(message.context)}\n"
            text = text.replace(marker, block + marker, 1)
    return text


def write_catalogue(catalogue, path: Path) -> bool:
    """Write if the text changed (no date churn: the header's dates are fixed). True when written."""
    text = _written_text(catalogue)
    if path.exists() and path.read_bytes() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text)
    return True


def _epoch():
    import datetime
    return datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


_EPOCH = _epoch()


def english_notebooks() -> list[Path]:
    """The notebooks that have a Chinese edition: the course, then the rest (the instructor's demo)."""
    course = english.course()
    return course + sorted(p for p in english.NOTEBOOKS.glob("*.ipynb") if p not in course)


def is_navigation(cell: dict) -> bool:
    return cell["cell_type"] == "markdown" and "".join(cell["source"]).startswith(english.MARKER)


def prose_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "markdown" and not is_navigation(c)]


def update_notebook_catalogue(path: Path) -> tuple[object, Path]:
    """The notebook's catalogue, in cell order: one entry per markdown cell (msgctxt = the cell's id) and one per
    comment, docstring and printed literal of a code cell (msgctxt = `<cell id>:code<n>`, see `code_texts`). An
    unchanged text keeps its translation; a changed one keeps it too, marked fuzzy with the English it was made
    from; a new one is empty; entries of cells and texts that are gone are dropped."""
    from babel.messages.catalog import Catalog
    po = NOTEBOOK_PO / f"{path.stem}.po"
    previous = [m for m in read_catalogue(po) if m.id]
    old = {m.context: m for m in previous}
    old_code = {(m.context.split(":code")[0], m.id): m for m in previous if ":code" in (m.context or "")}
    new = Catalog(locale=LANGUAGE, project="ingresslab")

    def carry(text: str, context: str, was) -> None:
        if was is None:
            new.add(text, "", context=context)
        elif was.id == text:
            new.add(text, was.string, context=context, flags=was.flags, previous_id=was.previous_id)
        else:
            new.add(text, was.string, context=context, flags={"fuzzy"} if was.string else set(),
                    previous_id=(was.previous_id if "fuzzy" in was.flags and was.previous_id else [was.id]))

    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "markdown" and not is_navigation(cell):
            carry("".join(cell["source"]), cell["id"], old.get(cell["id"]))
        elif cell["cell_type"] == "code":
            texts = [text for _start, _end, text in code_texts("".join(cell["source"]))]
            for n, text in enumerate(dict.fromkeys(texts), 1):
                context = f"{cell['id']}:code{n}"
                was = old_code.get((cell["id"], text))
                if was is None and context in old and old[context].id not in texts:
                    was = old[context]              # the text at this place changed: its old Chinese, as fuzzy
                carry(text, context, was)
    return new, po


# ---- code cells: what in them is words, not code ---------------------------------------------------------------

def code_texts(source: str) -> list[tuple[int, int, str]]:
    """The words of a code cell that a learner reads, as (start, end, text) offsets into `source`, in order:
    each comment (but nbval's and linters' markers), each docstring, and each string literal (f-strings too)
    passed straight to `print()` that has English words outside its `{…}` fields. Everything else in a cell is
    code, shared by both editions. IPython's `!shell` and `%magic` lines are read as Python's `0` (same length,
    so offsets hold); a `%%` cell magic, or a cell that is not Python, has none."""
    import ast
    import tokenize
    if source.lstrip().startswith("%%"):
        return []
    lines = source.splitlines(keepends=True)
    masked = "".join(re.sub(r"^(\s*)[!%](.*?)(\s*)$", lambda m: m.group(1) + "0" + " " * len(m.group(2)) + m.group(3),
                            line) for line in lines)
    try:
        tree = ast.parse(masked)
    except SyntaxError:
        return []
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(lineno: int, col_bytes: int) -> int:     # ast's columns count UTF-8 bytes
        line = lines[lineno - 1]
        return starts[lineno - 1] + len(line.encode()[:col_bytes].decode())

    found = []
    for node in ast.walk(tree):
        literals = []
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            arguments = list(node.args)
            while any(isinstance(a, ast.IfExp) for a in arguments):     # print(a if closed else b): both
                arguments = [part for a in arguments for part in ((a.body, a.orelse) if isinstance(a, ast.IfExp)
                                                                   else (a,))]
            literals = [a for a in arguments if isinstance(a, ast.JoinedStr) or
                        (isinstance(a, ast.Constant) and isinstance(a.value, str))]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and \
                    isinstance(first.value.value, str):
                literals = [first.value]
        for literal in literals:
            start = offset(literal.lineno, literal.col_offset)
            end = offset(literal.end_lineno, literal.end_col_offset)
            words = literal.value if isinstance(literal, ast.Constant) else " ".join(
                part.value for part in literal.values if isinstance(part, ast.Constant))
            if re.search(r"\b[a-z]{2,}\b", words):
                found.append((start, end, source[start:end]))
    for token in tokenize.generate_tokens(io.StringIO(masked).readline):
        if token.type == tokenize.COMMENT and not re.match(r"#\s*(NBVAL_|noqa|type:|pragma)", token.string):
            start = starts[token.start[0] - 1] + token.start[1]
            found.append((start, start + len(token.string), token.string))
    return sorted(found)


def code_text_problems(english_text: str, chinese: str) -> list[str]:
    """Why `chinese` cannot stand in for the code text `english_text` (empty when it can): a comment stays one
    comment line; a literal stays a literal of the same kind that formats the same expressions."""
    import ast
    if english_text.startswith("#"):
        if not chinese.startswith("#") or "\n" in chinese:
            return ["a comment must stay one line that starts with #"]
        return []
    try:
        zh = ast.parse(f"(\n{chinese}\n)", mode="eval").body      # a literal may span lines
    except SyntaxError as err:
        return [f"not a Python string literal ({err.msg})"]
    en = ast.parse(f"(\n{english_text}\n)", mode="eval").body
    if type(zh) is not type(en) or not isinstance(zh, (ast.Constant, ast.JoinedStr)):
        return ["must stay a string literal of the same kind (an f-string stays an f-string)"]
    fields = sorted(ast.dump(v) for v in ast.walk(en) if isinstance(v, ast.FormattedValue))
    if sorted(ast.dump(v) for v in ast.walk(zh) if isinstance(v, ast.FormattedValue)) != fields:
        return ["the f-string's {…} fields differ from the English ones"]
    return []


def code_template():
    """Every `_()`, `N_()` and `ngettext()` string of the package, by catalogue."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_file
    templates = {domain: Catalog(locale=LANGUAGE, project="ingresslab") for domain, _ in CODE_DOMAINS}
    for source in sorted(PACKAGE.rglob("*.py")):
        rel = source.relative_to(ROOT).as_posix()
        if rel == "ingresslab/i18n.py":
            continue
        domain = next(d for d, prefix in CODE_DOMAINS if rel.startswith(prefix))
        for lineno, message, comments, context in extract_from_file("python", str(source), keywords=KEYWORDS,
                                                                    comment_tags=("Translators:",)):
            templates[domain].add(message, None, [(rel, lineno)], auto_comments=comments, context=context)
    return templates


def update_code_catalogues() -> dict[str, tuple[object, Path]]:
    out = {}
    for domain, template in code_template().items():
        po = CODE_LOCALE / f"{domain}.po"
        catalogue = read_catalogue(po)
        catalogue.update(template, no_fuzzy_matching=False, update_header_comment=False)
        catalogue.obsolete.clear()
        out[domain] = (catalogue, po)
    return out


# ---- what is wrong with a translation ---------------------------------------------------------------------------

_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_LINK_TARGET = re.compile(r"\]\(([^)\s]+)")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*(?:![rsa])?(?::[^{}]*)?)\}(?!\})")


def problems(message, where: str, prose: bool) -> list[str]:
    """Why this entry is not a current translation (empty when it is)."""
    if not message.string or (isinstance(message.string, tuple) and not all(message.string)):
        return [f"{where}: missing"]
    if message.fuzzy:
        return [f"{where}: stale (the English changed; update the Chinese, then remove the fuzzy flag)"]
    english_text = message.id if isinstance(message.id, str) else message.id[0]
    chinese = message.string if isinstance(message.string, str) else message.string[0]
    found = []
    if prose and ":code" in (message.context or ""):
        found += [f"{where}: {why}" for why in code_text_problems(english_text, chinese)]
    elif prose:
        for block in _FENCE.findall(english_text):
            if block not in chinese:
                found.append(f"{where}: a code block differs from the English one (code is not translated)")
        for target in set(_LINK_TARGET.findall(english_text)) - set(_LINK_TARGET.findall(chinese)):
            if not target.startswith("#"):
                found.append(f"{where}: the link to {target} is missing")
    else:
        if set(_PLACEHOLDER.findall(english_text)) != set(_PLACEHOLDER.findall(chinese)):
            found.append(f"{where}: placeholders differ: {sorted(set(_PLACEHOLDER.findall(english_text)))} in the "
                         f"English, {sorted(set(_PLACEHOLDER.findall(chinese)))} in the Chinese")
    return found


def catalogue_problems(catalogues: dict[Path, tuple[object, bool]]) -> list[str]:
    found = []
    for po, (catalogue, prose) in catalogues.items():
        rel = po.relative_to(ROOT).as_posix()
        for message in catalogue:
            if not message.id:
                continue
            where = f"{rel} [{message.context}]" if prose else f"{rel}: {_short(message.id)}"
            found += problems(message, where, prose)
    return found


def _short(msgid) -> str:
    text = msgid if isinstance(msgid, str) else msgid[0]
    text = text.replace("\n", " ")
    return repr(text if len(text) <= 60 else text[:57] + "...")


# ---- the Chinese notebooks --------------------------------------------------------------------------------------

def zh_title(path: Path, translations: dict[str, str]) -> str:
    nb = json.loads(path.read_text())
    for cell in prose_cells(nb):
        text = translations.get(cell["id"]) or "".join(cell["source"])
        m = re.search(r"^# (.+)$", text, re.M)
        if m:
            return m.group(1).strip()
    return path.stem


def heading_anchor(text: str) -> str:
    """JupyterLab's anchor for a heading: its text with spaces as '-'."""
    return text.strip().replace(" ", "-")


def contents_anchor(translations: dict[str, dict[str, str]]) -> str:
    """The anchor of the course map's heading in the Chinese 00 (English: `The course`)."""
    contents = english.NOTEBOOKS / english.CONTENTS
    for cell in prose_cells(json.loads(contents.read_text())):
        if re.search(r"^## The course\s*$", "".join(cell["source"]), re.M):
            zh = translations.get(contents.stem, {}).get(cell["id"], "")
            m = re.search(r"^## (.+)$", zh, re.M)
            return heading_anchor(m.group(1)) if m else "The-course"
    return "The-course"


def zh_code(source: str, cell_id: str | None = None, translations: dict[str, str] | None = None) -> str:
    """A code cell of the Chinese edition: the English code, with its comments, docstrings and printed literals
    in Chinese where the catalogue has them, and the lab told to speak Chinese."""
    if cell_id is not None and translations:
        numbers = {text: n for n, text in enumerate(dict.fromkeys(t for _s, _e, t in code_texts(source)), 1)}
        for start, end, text in reversed(code_texts(source)):
            chinese = translations.get(f"{cell_id}:code{numbers[text]}")
            if chinese and not code_text_problems(text, chinese):
                source = source[:start] + chinese + source[end:]
    for pattern, replacement in LANGUAGE_CALLS:
        source = pattern.sub(replacement, source)
    return source


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def zh_notebook(path: Path, translations: dict[str, str], nav: str | None) -> str:
    """The Chinese edition of one English notebook, keeping the outputs (and widget state) the current Chinese
    notebook stored for each code cell whose source is unchanged."""
    nb = json.loads(path.read_text())
    target = ZH_NOTEBOOKS / path.name
    previous = json.loads(target.read_text()) if target.exists() else {"cells": [], "metadata": {}}
    before = {c.get("id"): c for c in previous["cells"]}
    cells = []
    for cell in nb["cells"]:
        cell = json.loads(json.dumps(cell))
        if is_navigation(cell):
            if nav is None:
                continue
            cell["source"] = _lines(nav)
        elif cell["cell_type"] == "markdown":
            cell["source"] = _lines(translations.get(cell["id"]) or "".join(cell["source"]))
        elif cell["cell_type"] == "code":
            cell["source"] = _lines(zh_code("".join(cell["source"]), cell["id"], translations))
            old = before.get(cell["id"])
            if old is not None and old.get("source") == cell["source"]:
                cell["outputs"], cell["execution_count"] = old.get("outputs", []), old.get("execution_count")
            else:
                cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
    nb["cells"] = cells
    metadata = nb.get("metadata", {})
    metadata.pop("widgets", None)
    if "widgets" in previous.get("metadata", {}):
        metadata["widgets"] = previous["metadata"]["widgets"]
    nb["metadata"] = metadata
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def translations_of(catalogue) -> dict[str, str]:
    return {m.context: m.string for m in catalogue if m.id and m.string and not m.fuzzy}


# ---- the command ------------------------------------------------------------------------------------------------

def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = english_notebooks()
    course = english.course()
    catalogues: dict[Path, tuple[object, bool]] = {}
    by_stem: dict[str, dict[str, str]] = {}
    for path in paths:
        catalogue, po = update_notebook_catalogue(path)
        catalogues[po] = (catalogue, True)
        by_stem[path.stem] = translations_of(catalogue)
    for catalogue, po in update_code_catalogues().values():
        catalogues[po] = (catalogue, False)
    titles = {p.stem: zh_title(p, by_stem[p.stem]) for p in paths}
    anchor = contents_anchor(by_stem)
    generated = {}
    for path in paths:
        nav = english.nav_text(course.index(path), course, title_of=lambda p: titles[p.stem],
                               contents=CONTENTS_WORD, anchor=anchor) if path in course else None
        generated[ZH_NOTEBOOKS / path.name] = zh_notebook(path, by_stem[path.stem], nav)
    stray = sorted(p for p in ZH_NOTEBOOKS.glob("*.ipynb") if p not in generated)

    if check:
        found = []
        for po, (catalogue, _prose) in catalogues.items():
            if _written_text(catalogue) != (po.read_bytes() if po.exists() else b""):
                found.append(f"{po.relative_to(ROOT).as_posix()}: not in step with the English "
                             "(run python scripts/i18n.py)")
        found += catalogue_problems(catalogues)
        for target, text in generated.items():
            if not target.exists() or _without_outputs(target.read_text()) != _without_outputs(text):
                found.append(f"{target.relative_to(ROOT).as_posix()}: not what the catalogues make "
                             "(run python scripts/i18n.py)")
        found += [f"{p.relative_to(ROOT).as_posix()}: has no English notebook" for p in stray]
        if found:
            print(f"{len(found)} translation problem(s):\n  " + "\n  ".join(found))
            return 1
        return 0

    for po, (catalogue, _prose) in catalogues.items():
        write_catalogue(catalogue, po)
    for target, text in generated.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
    for p in stray:
        p.unlink()
    left = catalogue_problems(catalogues)
    if left:
        print(f"catalogues updated; {len(left)} entries still need a translator (python scripts/i18n.py --check "
              "lists them)")
    return 0


def _written_text(catalogue) -> bytes:
    from babel.messages.pofile import write_po
    catalogue.project, catalogue.version = "ingresslab", ""
    catalogue.header_comment = ("# Chinese (zh) translation of ingresslab: kept in step with the English by\n"
                                "# scripts/i18n.py; fuzzy entries are stale and shown in English until updated.\n#")
    catalogue.msgid_bugs_address = catalogue.last_translator = ""
    catalogue.language_team = "ingresslab"
    catalogue.revision_date = catalogue.creation_date = _EPOCH
    catalogue.fuzzy = False
    for message in catalogue:
        if message.id and message.context:     # a notebook's cell: Markdown, where a `%` is no format directive
            message.flags.discard("python-format")
            message.flags.add("no-python-format")
    buffer = io.BytesIO()
    write_po(buffer, catalogue, width=0, omit_header=False, sort_output=False)
    return _with_previous_ids(buffer.getvalue().decode(), catalogue).encode()


def _without_outputs(text: str) -> str:
    """A notebook's JSON without what running it changes (outputs, counts, widget state)."""
    nb = json.loads(text)
    for cell in nb["cells"]:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
    nb.get("metadata", {}).pop("widgets", None)
    return json.dumps(nb, sort_keys=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
