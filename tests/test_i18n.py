"""The Chinese edition is generated from one source and checked: the language switch, the catalogues, and the
check that fails when an English cell changed and its translation did not.

The staleness tests work on a copy of the checkout's sources (scripts/, notebooks/, notebooks-zh/, the package's
Python files and catalogues) and run `scripts/i18n.py` there, as a contributor would after editing an English cell.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ingresslab import i18n

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "i18n.py"
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_the_language_comes_from_the_call_then_the_environment_as_gettext_reads_it(no_language, monkeypatch):
    assert i18n.current() == "en"
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert i18n.current() == "zh"
    monkeypatch.setenv("LC_ALL", "C.UTF-8")               # LC_ALL outranks LANG, and C is English
    assert i18n.current() == "en"
    monkeypatch.setenv("LANGUAGE", "fr:zh_TW:en")          # a list of preferences: the first the lab speaks
    assert i18n.current() == "zh"
    monkeypatch.setenv("INGRESSLAB_LANG", "en")           # ours outranks them all
    assert i18n.current() == "en"
    assert i18n.use("zh_CN") == "zh" and i18n.current() == "zh"
    import os
    assert os.environ["INGRESSLAB_LANG"] == "zh"          # so `!ingresslab …` in a notebook speaks it too
    with pytest.raises(ValueError, match="language 'klingon' is not one the lab speaks; choose one of: en, zh"):
        i18n.use("klingon")
    assert i18n.current() == "zh"


def test_every_current_translation_is_what_the_code_gets(no_language):
    from babel.messages.pofile import read_po
    checked = 0
    for path in i18n.catalogue_files("zh"):
        with open(path, "rb") as f:
            messages = [m for m in read_po(f) if m.id and isinstance(m.id, str) and m.string and not m.fuzzy]
        for message in messages:
            i18n.use("zh")
            assert i18n._(message.id) == message.string, (path.name, message.id)
            i18n.use("en")
            assert i18n._(message.id) == message.id
            checked += 1
    assert checked >= 100, f"only {checked} translated strings in the code catalogues"


def test_the_catalogues_and_the_chinese_notebooks_are_current():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_gnu_gettext_reads_every_catalogue():
    """The catalogues are plain PO files: GNU msgfmt (the reference implementation) accepts each, format checks on."""
    catalogues = sorted((ROOT / "notebooks-zh" / "po").glob("*.po")) + i18n.catalogue_files("zh")
    assert len(catalogues) >= 14
    for po in catalogues:
        proc = subprocess.run(["msgfmt", "--check", "-o", "/dev/null", str(po)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{po.name}: {proc.stderr}"


def _logic(source: str) -> str:
    """A code cell as Python sees it, less what a translator may change: comments vanish in the tree, and each
    docstring and each literal handed to print() becomes one placeholder (an f-string keeps its {…} fields)."""
    import ast
    masked = re.sub(r"^(\s*)[!%].*$", r"\g<1>0", source, flags=re.M)      # ast.dump ignores positions
    shells = re.findall(r"^\s*[!%].*$", source, flags=re.M)       # IPython's lines stay, word for word
    tree = ast.parse(masked)

    class Blank(ast.NodeTransformer):
        def visit_Call(self, node):
            self.generic_visit(node)
            if isinstance(node.func, ast.Name) and node.func.id == "print":
                node.args = [self.words(a) for a in node.args]
            return node

        def words(self, node):
            if isinstance(node, ast.IfExp):
                node.body, node.orelse = self.words(node.body), self.words(node.orelse)
            elif isinstance(node, ast.JoinedStr):
                node.values = [v for v in node.values if isinstance(v, ast.FormattedValue)]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                node.value = "…"
            return node

        def visit_FunctionDef(self, node):
            self.generic_visit(node)
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                first.value.value = "…"
            return node

    return ast.dump(Blank().visit(tree)) + "\n".join(shells)


def test_chinese_notebooks_share_the_english_code_and_choose_chinese():
    for english in sorted((ROOT / "notebooks").glob("*.ipynb")):
        zh = json.loads((ROOT / "notebooks-zh" / english.name).read_text())
        en = json.loads(english.read_text())
        en_code = ["".join(c["source"]) for c in en["cells"] if c["cell_type"] == "code"]
        zh_code = ["".join(c["source"]) for c in zh["cells"] if c["cell_type"] == "code"]
        assert len(zh_code) == len(en_code), english.name
        for en_cell, zh_cell in zip(en_code, zh_code):
            zh_cell = zh_cell.replace('(language="zh")', "()")
            if en_cell.lstrip().startswith("%%"):
                assert zh_cell == en_cell, english.name
            else:
                assert _logic(zh_cell) == _logic(en_cell), f"{english.name}: the code differs\n{zh_cell}"
        assert 'language="zh"' in zh_code[0], english.name
        assert [c["id"] for c in zh["cells"]] == [c["id"] for c in en["cells"]], english.name


def test_the_chinese_code_cells_have_chinese_comments_and_printed_words():
    zh = json.loads((ROOT / "notebooks-zh" / "06_inside_the_controller.ipynb").read_text())
    cells = {c["id"]: "".join(c["source"]) for c in zh["cells"]}
    assert 'print(len(pods), "个不同的 coffee pod 作答")' in cells["c008"]
    assert "# 这个文件就是 nginx 重载时用的那一份" in cells["s06-serving"]
    outputs = {c["id"]: c.get("outputs", []) for c in zh["cells"]}
    assert any("个不同的 coffee pod 作答" in "".join(o.get("text", "")) for o in outputs["c008"])
    # every comment, docstring and printed sentence of every code cell has a current Chinese, or is kept on purpose
    sys.path.insert(0, str(ROOT / "scripts"))
    import i18n as tool
    kept = set()
    for po in sorted((ROOT / "notebooks-zh" / "po").glob("*.po")):
        for message in tool.read_catalogue(po):
            if message.id and ":code" in message.context:
                assert message.string and not message.fuzzy, (po.name, message.context)
                if message.string == message.id:
                    kept.add(message.id)
    assert kept == {"# ex.solution()"}          # code in a comment: left as code


def test_every_translated_cell_is_chinese():
    from babel.messages.pofile import read_po
    for po in sorted((ROOT / "notebooks-zh" / "po").glob("*.po")):
        with open(po, "rb") as f:
            for message in read_po(f):
                if not (message.id and message.string and re.search(r"[A-Za-z]{4,}", message.id)):
                    continue
                if ":code" in message.context:      # a piece of code: an English word may stay as a term
                    words = set(re.findall(r"[A-Za-z]{4,}", re.sub(r"\{[^{}]*\}", "", message.id)))
                    if words <= set(re.findall(r"[A-Za-z]{4,}", message.string)):
                        continue
                assert CJK.search(message.string), f"{po.name} [{message.context}] has no Chinese"


def _copy_sources(to: Path) -> Path:
    for folder in ("scripts", "notebooks", "notebooks-zh"):
        shutil.copytree(ROOT / folder, to / folder)
    shutil.copytree(ROOT / "ingresslab", to / "ingresslab",
                    ignore=lambda d, names: [n for n in names if n == "__pycache__" or n.endswith((".yaml", ".lua"))])
    return to


def _run(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(root / "scripts" / "i18n.py"), *args], capture_output=True, text=True,
                          timeout=120, cwd=root)


def _set_cell(path: Path, cell_id: str, text: str | None, *, insert_after: str | None = None) -> None:
    nb = json.loads(path.read_text())
    if insert_after is None:
        [cell] = [c for c in nb["cells"] if c.get("id") == cell_id]
        cell["source"] = text.splitlines(keepends=True)
    else:
        at = next(i for i, c in enumerate(nb["cells"]) if c.get("id") == insert_after)
        nb["cells"].insert(at + 1, {"cell_type": "markdown", "id": cell_id, "metadata": {},
                                    "source": text.splitlines(keepends=True)})
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def _script(root: Path):
    """The copy's scripts/i18n.py as a module (its reader keeps what Babel's drops: the previous English)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(f"i18n_copy_{abs(hash(root))}", root / "scripts" / "i18n.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _translate(root: Path, stem: str, texts: dict[str, str]) -> None:
    """What a translator does: set the Chinese of some cells in the copy's catalogue (current, not fuzzy)."""
    script = _script(root)
    po = root / "notebooks-zh" / "po" / f"{stem}.po"
    catalogue = script.read_catalogue(po)
    for message in catalogue:
        if message.context in texts:
            message.string = texts[message.context]
            message.flags.discard("fuzzy")
            message.previous_id = []
    script.write_catalogue(catalogue, po)
    assert _run(root).returncode == 0          # regenerates the Chinese notebooks


def _entry(root: Path, stem: str, context: str):
    catalogue = _script(root).read_catalogue(root / "notebooks-zh" / "po" / f"{stem}.po")
    return next(m for m in catalogue if m.context == context)


def _zh_cell(root: Path, stem: str, cell_id: str) -> str:
    zh = json.loads((root / "notebooks-zh" / f"{stem}.ipynb").read_text())
    return "".join(next(c for c in zh["cells"] if c["id"] == cell_id)["source"])


def _complaints(root: Path, stem: str) -> list[str]:
    """What `--check` says of the cells this test touches and of their Chinese notebook."""
    return [line for line in _run(root, "--check").stdout.splitlines()
            if f"{stem}.po [c002" in line or f"{stem}.ipynb" in line]


def test_changing_one_english_cell_fails_the_check_until_its_translation_is_updated(tmp_path):
    root, stem = _copy_sources(tmp_path), "01_service_and_nodeport"
    english = root / "notebooks" / f"{stem}.ipynb"
    old = "".join(next(c for c in json.loads(english.read_text())["cells"] if c["id"] == "c002")["source"])
    _translate(root, stem, {"c002": "## 一个 Deployment 和它的 Pod（旧译文）"})
    assert not _complaints(root, stem)

    _set_cell(english, "c002", old + "\nOne more sentence.")
    _set_cell(english, "c002-new", "A brand new cell.", insert_after="c002")
    check = _run(root, "--check")
    assert check.returncode == 1
    assert f"notebooks-zh/po/{stem}.po [c002]: stale" in check.stdout, check.stdout
    assert f"notebooks-zh/po/{stem}.po [c002-new]: missing" in check.stdout, check.stdout
    assert f"notebooks-zh/{stem}.ipynb: not what the catalogues make" in check.stdout, check.stdout

    # updating the catalogues keeps the old Chinese, marked fuzzy, beside the English it was made from
    assert _run(root).returncode == 0
    entry = _entry(root, stem, "c002")
    assert entry.fuzzy and entry.previous_id == [old] and "旧译文" in entry.string
    po_text = (root / "notebooks-zh" / "po" / f"{stem}.po").read_text()
    assert '#| msgid ""\n#| "## A Deployment and its pods\\n"\n' in po_text     # as GNU gettext writes it
    msgfmt = subprocess.run(["msgfmt", "--check", "-o", "/dev/null", str(root / "notebooks-zh" / "po" / f"{stem}.po")],
                            capture_output=True, text=True)
    assert msgfmt.returncode == 0, msgfmt.stderr
    assert f"notebooks-zh/po/{stem}.po [c002]: stale" in _run(root, "--check").stdout
    # and a stale translation is not shown: the Chinese notebook has the English cell until the Chinese is current
    assert _zh_cell(root, stem, "c002").endswith("One more sentence.")

    _translate(root, stem, {"c002": "## 一个 Deployment 和它的 Pod\n\n再多一句。", "c002-new": "一个全新的单元格。"})
    assert not _complaints(root, stem)
    assert _zh_cell(root, stem, "c002-new") == "一个全新的单元格。"
    assert _zh_cell(root, stem, "c002").endswith("再多一句。")


def test_the_readmes_say_how_to_open_the_chinese_edition():
    english, chinese = (ROOT / "README.md").read_text(), (ROOT / "README.zh.md").read_text()
    url = "https://mybinder.org/v2/gh/<owner>/<repository>/<branch>?urlpath=lab/tree/notebooks-zh/00_start_here.ipynb"
    assert url in chinese and "notebooks-zh/00_start_here.ipynb" in english and "README.zh.md" in english
    assert (ROOT / "notebooks-zh" / "00_start_here.ipynb").exists()
    listed = set(re.findall(r"^\| `([0-9a-z_]+)` \|", chinese, re.M))
    assert listed == {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}, listed
    assert CJK.search(chinese)


def test_going_back_to_the_environments_choice_restores_it(no_language, monkeypatch):
    import os
    monkeypatch.setenv("INGRESSLAB_LANG", "en")
    i18n.use("zh")
    i18n.use("zh")
    assert os.environ["INGRESSLAB_LANG"] == "zh" and i18n.current() == "zh"
    i18n.use(None)
    assert os.environ["INGRESSLAB_LANG"] == "en" and i18n.current() == "en"
    monkeypatch.delenv("INGRESSLAB_LANG")
    i18n.use("zh")
    i18n.use(None)
    assert "INGRESSLAB_LANG" not in os.environ


def test_the_controllers_warnings_in_plain_chinese_quote_its_own_english(no_language):
    """`lab.warnings_for(...)`: the sentence is the learner's language; the controller's event message (English, as
    Kubernetes events are) is quoted inside it unchanged."""
    from ingresslab.events import LabWarning, Warnings, plain_words
    i18n.use("zh")
    shared = ("upstream default-coffee-svc-80 is shared with Ingress default/cafe-ingress, which names it first, so "
              "its service-upstream (false) applies here too, not this Ingress's (true), as in ingress-nginx")
    words = plain_words("ServiceUpstreamShared", shared)
    assert words.startswith("这个 Ingress 的 service-upstream 注解（true）不起作用") and "Ingress default/cafe-ingress 先用到" in words
    assert plain_words("BackendUnavailable", "service default/x not found: requests for it get 503 until that "
                                             "changes") == ("发往这个后端的请求会得到 503 Service Unavailable："
                                                            "service default/x not found —— 那个命名空间里（还）没有这个 Service。")
    assert plain_words("Rejected", "the controller ignores this Ingress until it is fixed: spec.rules[0].host: bad") \
        == "控制器忽略了这个 Ingress，所以 nginx 不会为它提供服务：spec.rules[0].host: bad。"
    assert plain_words("SomethingNew", "as Kubernetes said it") == "as Kubernetes said it"
    found = Warnings([LabWarning("Ingress", "default", "x", "Rejected", "m", plain_words("Rejected", "m"))])
    assert "<b>控制器警告：</b>" in found.html() and str(Warnings(about="Ingress default/x")) == "Ingress default/x 没有警告"
    i18n.use("en")
    assert str(Warnings(about="Ingress default/x")) == "no warnings for Ingress default/x"


def test_no_message_hides_inside_an_f_string_where_the_extractor_cannot_see_it():
    """Babel reads `_("…")` calls from Python's tokens; inside an f-string's braces a call is part of one string
    token, so its message would never reach the catalogue (and stay English for ever)."""
    import io
    import tokenize
    hidden = []
    for source in sorted((ROOT / "ingresslab").rglob("*.py")):
        for token in tokenize.generate_tokens(io.StringIO(source.read_text()).readline):
            if token.type == tokenize.STRING and re.match(r"(?i)[rb]*f", token.string) and \
                    re.search(r"""\b(_|N_|ngettext)\(\s*['"]""", token.string):
                hidden.append(f"{source.relative_to(ROOT)}:{token.start[0]}")
    assert not hidden, hidden


def test_a_changed_printed_sentence_is_stale_and_a_translation_that_changes_the_code_is_refused(tmp_path):
    root, stem = _copy_sources(tmp_path), "06_inside_the_controller"
    english = root / "notebooks" / f"{stem}.ipynb"
    source = "".join(next(c for c in json.loads(english.read_text())["cells"] if c["id"] == "c008")["source"])
    _set_cell(english, "c008", source.replace('"different coffee pods answered"', '"coffee pods answered"'))
    assert _run(root).returncode == 0
    check = _run(root, "--check")
    assert check.returncode == 1 and f"{stem}.po [c008:code1]: stale" in check.stdout, check.stdout
    entry = _entry(root, stem, "c008:code1")
    assert entry.previous_id == ['"different coffee pods answered"'] and entry.string == '"个不同的 coffee pod 作答"'
    assert '"coffee pods answered"' in _zh_cell(root, stem, "c008")          # English until the Chinese is current

    # a translation may change words, never code: another expression in an f-string is refused, and not used
    script = _script(root)
    assert script.code_text_problems('f"{n} pods"', 'f"{n + 1} 个 pod"') == [
        "the f-string's {…} fields differ from the English ones"]
    assert script.code_text_problems('"pods"', 'f"{n} 个 pod"')
    assert script.code_text_problems("# a comment", "x = 1  # 注释")
    _translate(root, stem, {"c008:code1": 'print("个 coffee pod 作答")'})
    assert f"{stem}.po [c008:code1]: must stay a string literal" in _run(root, "--check").stdout
    assert '"coffee pods answered"' in _zh_cell(root, stem, "c008")

    _translate(root, stem, {"c008:code1": '"个 coffee pod 作答"'})
    assert f"{stem}.po [c008" not in _run(root, "--check").stdout
    assert _zh_cell(root, stem, "c008").endswith('print(len(pods), "个 coffee pod 作答")')


def test_a_comment_and_a_line_of_shell_keep_their_place_in_a_translated_cell():
    sys.path.insert(0, str(ROOT / "scripts"))
    import i18n as tool
    source = ('!kubectl get pods  # not Python: kept\nx = 1  # one\nprint(f"{x} → fine", "ok" if x else "not ok")\n'
              'def f():\n    """Says hi."""\n')
    texts = [text for _start, _end, text in tool.code_texts(source)]
    assert texts == ["# one", 'f"{x} → fine"', '"ok"', '"not ok"', '"""Says hi."""']
    zh = tool.zh_code(source, "c1", {"c1:code1": "# 一", "c1:code2": 'f"{x} → 好"', "c1:code3": '"行"',
                                     "c1:code5": '"""打个招呼。"""'})
    assert zh == ('!kubectl get pods  # not Python: kept\nx = 1  # 一\nprint(f"{x} → 好", "行" if x else "not ok")\n'
                  'def f():\n    """打个招呼。"""\n')
