"""The shell's grammar: a command line → a tree of lists, and-or chains, pipelines, simple commands and `for` loops.

A small subset of POSIX sh, the part learners type into a pod: `;` and newlines, `&&`, `||`, `|`, `!`, single and
double quotes, backslash escapes, `$VAR`, `${VAR}`, `$?`, `$$`, `$#`, `$(command)`, assignments before a command
(`A=1 env`), redirections (`>`, `>>`, `<`, `2>`, `2>&1`, `>&2`), `#` comments, `$((arithmetic))`, and the compound
commands `for NAME in WORDS; do …; done`, `while`/`until …; do …; done`, `if …; then …; elif …; else …; fi`.
Words stay unexpanded here (a list of parts); `interp.py` expands them when the command runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["AndOr", "ForLoop", "IfClause", "Pipeline", "Redirect", "ShellSyntaxError", "Simple", "WhileLoop", "Word",
           "parse"]


class ShellSyntaxError(ValueError):
    pass


@dataclass
class Word:
    """Parts: ("lit", text, quoted) | ("var", name, quoted) | ("cmd", source, quoted) | ("arith", expr, quoted)."""

    parts: list[tuple[str, str, bool]] = field(default_factory=list)

    @property
    def literal(self) -> str | None:
        """The text when the word has no expansion in it (keywords, assignment names)."""
        if all(kind == "lit" for kind, _, _ in self.parts):
            return "".join(text for _, text, _ in self.parts)
        return None

    @property
    def quoted(self) -> bool:
        return any(q for _, _, q in self.parts)


@dataclass
class Redirect:
    fd: int
    op: str            # ">", ">>", "<", ">&"
    target: Word


@dataclass
class Simple:
    assignments: list[tuple[str, Word]]
    words: list[Word]
    redirects: list[Redirect]


@dataclass
class ForLoop:
    name: str
    items: list[Word]
    body: list["AndOr"]


@dataclass
class WhileLoop:
    condition: list["AndOr"]
    body: list["AndOr"]
    until: bool = False


@dataclass
class IfClause:
    branches: list[tuple[list["AndOr"], list["AndOr"]]]     # (condition, body) for if and each elif
    otherwise: list["AndOr"] | None = None


@dataclass
class Pipeline:
    commands: list[Simple | ForLoop | WhileLoop | IfClause]
    negate: bool = False


@dataclass
class AndOr:
    first: Pipeline
    rest: list[tuple[str, Pipeline]]      # ("&&" | "||", pipeline)


OPERATORS = ("&&", "||", ">>", ">&", ";;", "|", ";", "&", ">", "<", "\n", "(", ")")


def _tokens(src: str):  # noqa: C901 — one pass over the characters, as a shell's lexer
    """Yields ("op", text) and ("word", Word)."""
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c in " \t":
            i += 1
            continue
        if c == "\\" and src[i + 1:i + 2] == "\n":
            i += 2
            continue
        if c == "#":
            while i < n and src[i] != "\n":
                i += 1
            continue
        if c.isdigit() and i + 1 < n and src[i + 1] in "<>" and (i == 0 or src[i - 1] in " \t;|&\n"):
            yield ("fd", c)
            i += 1
            continue
        op = next((o for o in OPERATORS if src.startswith(o, i)), None)
        if op is not None:
            yield ("op", op)
            i += len(op)
            continue
        word = Word()
        while i < n and src[i] not in " \t\n;&|<>()":
            c = src[i]
            if c == "'":
                end = src.find("'", i + 1)
                if end < 0:
                    raise ShellSyntaxError("unterminated quoted string")
                word.parts.append(("lit", src[i + 1:end], True))
                i = end + 1
            elif c == '"':
                i = _double_quoted(src, i + 1, word)
            elif c == "\\":
                if i + 1 < n:
                    word.parts.append(("lit", src[i + 1], True))
                i += 2
            elif c == "$":
                i = _dollar(src, i, word, quoted=False)
            else:
                word.parts.append(("lit", c, False))
                i += 1
        yield ("word", _merged(word))


def _merged(word: Word) -> Word:
    """Adjacent literal characters of the same quoting as one part (`A=` stays one piece before `$…`)."""
    parts: list[tuple[str, str, bool]] = []
    for part in word.parts:
        if parts and part[0] == "lit" and parts[-1][0] == "lit" and parts[-1][2] == part[2]:
            parts[-1] = ("lit", parts[-1][1] + part[1], part[2])
        else:
            parts.append(part)
    return Word(parts)


def _double_quoted(src: str, i: int, word: Word) -> int:
    start = len(word.parts)
    while True:
        if i >= len(src):
            raise ShellSyntaxError("unterminated quoted string")
        c = src[i]
        if c == '"':
            if len(word.parts) == start:
                word.parts.append(("lit", "", True))      # "" is an empty word, not no word
            return i + 1
        if c == "\\" and src[i + 1:i + 2] in ('"', "\\", "$", "`"):
            word.parts.append(("lit", src[i + 1], True))
            i += 2
        elif c == "$":
            i = _dollar(src, i, word, quoted=True)
        else:
            word.parts.append(("lit", c, True))
            i += 1


def _dollar(src: str, i: int, word: Word, *, quoted: bool) -> int:
    nxt = src[i + 1:i + 2]
    if src.startswith("((", i + 1):
        end = src.find("))", i + 3)
        if end < 0:
            raise ShellSyntaxError("missing ))")
        word.parts.append(("arith", src[i + 3:end], quoted))
        return end + 2
    if nxt == "(":
        depth, j = 1, i + 2
        while j < len(src) and depth:
            depth += {"(": 1, ")": -1}.get(src[j], 0)
            j += 1
        if depth:
            raise ShellSyntaxError("unterminated $(")
        word.parts.append(("cmd", src[i + 2:j - 1], quoted))
        return j
    if nxt == "{":
        end = src.find("}", i + 2)
        if end < 0:
            raise ShellSyntaxError("missing }")
        word.parts.append(("var", src[i + 2:end], quoted))
        return end + 1
    if nxt and nxt in "?$#!0123456789":
        word.parts.append(("var", nxt, quoted))
        return i + 2
    j = i + 1
    while j < len(src) and (src[j].isalnum() or src[j] == "_"):
        j += 1
    if j == i + 1:
        word.parts.append(("lit", "$", quoted))
        return j
    word.parts.append(("var", src[i + 1:j], quoted))
    return j


class _Parser:
    def __init__(self, src: str):
        self.toks = list(_tokens(src))
        self.pos = 0

    def peek(self):
        return self.toks[self.pos] if self.pos < len(self.toks) else ("eof", "")

    def take(self):
        tok = self.peek()
        self.pos += 1
        return tok

    def is_op(self, *ops: str) -> bool:
        kind, value = self.peek()
        return kind == "op" and value in ops

    def is_word(self, text: str) -> bool:
        kind, value = self.peek()
        return kind == "word" and value.literal == text and not value.quoted

    def skip_separators(self) -> None:
        while self.is_op(";", "\n", "&"):
            self.take()

    def program(self, *, until: tuple[str, ...] = ()) -> list[AndOr]:
        items = []
        self.skip_separators()
        while self.peek()[0] != "eof" and not any(self.is_word(u) for u in until):
            items.append(self.and_or())
            if not self.is_op(";", "\n", "&") and self.peek()[0] != "eof" \
                    and not any(self.is_word(u) for u in until):
                kind, value = self.peek()
                shown = value if kind == "op" else value.literal or "word"
                raise ShellSyntaxError(f"syntax error: unexpected \"{shown.strip() or 'newline'}\"")
            self.skip_separators()
        return items

    def and_or(self) -> AndOr:
        first, rest = self.pipeline(), []
        while self.is_op("&&", "||"):
            op = self.take()[1]
            while self.is_op("\n"):
                self.take()
            rest.append((op, self.pipeline()))
        return AndOr(first, rest)

    def pipeline(self) -> Pipeline:
        negate = False
        if self.is_word("!"):
            self.take()
            negate = True
        commands = [self.command()]
        while self.is_op("|"):
            self.take()
            while self.is_op("\n"):
                self.take()
            commands.append(self.command())
        return Pipeline(commands, negate)

    def command(self):
        if self.is_word("for"):
            return self.for_loop()
        if self.is_word("while") or self.is_word("until"):
            until = self.take()[1].literal == "until"
            condition = self.program(until=("do",))
            body = self.do_done()
            return WhileLoop(condition, body, until)
        if self.is_word("if"):
            return self.if_clause()
        assignments, words, redirects = [], [], []
        while True:
            kind, value = self.peek()
            if kind == "fd" or (kind == "op" and value in (">", ">>", "<", ">&")):
                fd = None
                if kind == "fd":
                    fd = int(self.take()[1])
                op = self.take()[1]
                kind2, target = self.take()
                if kind2 != "word":
                    raise ShellSyntaxError(f"syntax error: unexpected \"{target.strip() or 'newline'}\"")
                if fd is None:
                    fd = 0 if op == "<" else 1
                if op == ">" and target.literal is not None and target.literal.startswith("&"):
                    op, target = ">&", Word([("lit", target.literal[1:], False)])
                redirects.append(Redirect(fd, op, target))
            elif kind == "word":
                self.take()
                text = value.literal
                if not words and text is None and value.parts and value.parts[0][0] == "lit" \
                        and "=" in value.parts[0][1] and not value.parts[0][2]:
                    name, _, first = value.parts[0][1].partition("=")
                    if name.isidentifier():
                        assignments.append((name, Word([("lit", first, False), *value.parts[1:]])))
                        continue
                if not words and text is not None and "=" in text and text.partition("=")[0].isidentifier():
                    name, _, rest = text.partition("=")
                    assignments.append((name, Word([("lit", rest, True)])))
                    continue
                words.append(value)
            else:
                break
        if not words and not assignments and not redirects:
            kind, value = self.peek()
            shown = value if kind == "op" else "end of file"
            raise ShellSyntaxError(f"syntax error: unexpected \"{shown.strip() or 'newline'}\"")
        return Simple(assignments, words, redirects)

    def for_loop(self) -> ForLoop:
        self.take()
        kind, name = self.take()
        if kind != "word" or not (name.literal or "").isidentifier():
            raise ShellSyntaxError("syntax error: bad for loop variable")
        items: list[Word] = []
        if self.is_word("in"):
            self.take()
            while self.peek()[0] == "word":
                items.append(self.take()[1])
        self.skip_separators()
        return ForLoop(name.literal, items, self.do_done())

    def expect(self, keyword: str) -> None:
        if not self.is_word(keyword):
            raise ShellSyntaxError(f'syntax error: unexpected end of file (expecting "{keyword}")')
        self.take()

    def do_done(self) -> list[AndOr]:
        self.expect("do")
        body = self.program(until=("done",))
        self.expect("done")
        return body

    def if_clause(self) -> IfClause:
        self.take()
        branches, otherwise = [], None
        while True:
            condition = self.program(until=("then",))
            self.expect("then")
            body = self.program(until=("elif", "else", "fi"))
            branches.append((condition, body))
            if self.is_word("elif"):
                self.take()
                continue
            if self.is_word("else"):
                self.take()
                otherwise = self.program(until=("fi",))
            self.expect("fi")
            return IfClause(branches, otherwise)


def parse(src: str) -> list[AndOr]:
    """Parse a whole script or command line; raises ShellSyntaxError with a message like dash's."""
    return _Parser(src).program()
