"""A small CEL interpreter for the `x-kubernetes-validations` rules of CRD schemas.

kube-apiserver evaluates each rule with `self` bound to the value the rule sits on (and `oldSelf` to its previous
value on updates); a rule that is false makes the write a 422, worded `<path>: Invalid value: "<type>": <message>`.
This module reads the part of CEL that Kubernetes' own CRDs and the Gateway API use: literals (numbers, strings
including raw and triple-quoted ones, lists, maps), `! - * / % + < <= > >= == != in && || ?:`, field and index
access with Kubernetes' escaping (`__namespace__`), `has()`, the macros `all`, `exists`, `exists_one`, `filter`,
`map`, and the functions `size`, `startsWith`, `endsWith`, `contains`, `matches`, `lowerAscii`, `upperAscii`, `int`,
`uint`, `double`, `string`, `duration`, with Kubernetes' string and list libraries (`split`, `join`, `trim`,
`indexOf`, `lastIndexOf`, `substring`, `replace`, `charAt`, `find`, `findAll`, `sum`, `min`, `max`, `isSorted`).
`&&` and `||` absorb errors as CEL does (`false && error` is false).

What it does not read (other extension libraries: `url()`, `ip()`, `quantity()`, `format`, …) is not evaluated: such
a rule is skipped, and `unsupported_rules` names them so a caller can say so plainly. Nothing here executes code.

Neighbours: `structural.py` (structural schemas of CRDs) calls `check` while it validates an object; `crds.py` calls `rule_problems` on a CRD.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ingresslab.cluster.apimachinery.errors import Cause


class CelError(Exception):
    """An evaluation error (no such key, no matching overload): the rule fails with this text."""


class Unsupported(Exception):
    """The rule uses CEL this module does not read: it is not evaluated."""


class Duration(float):
    """A CEL duration, as seconds."""


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>[rR]?(?:'''[\s\S]*?'''|\"\"\"[\s\S]*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))
  | (?P<num>\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|0x[0-9a-fA-F]+u?|\d+u?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\|\||&&|==|!=|<=|>=|[-+*/%!<>?:.,()\[\]{}])
""", re.VERBOSE)
_ESCAPES = {"\\n": "\n", "\\t": "\t", "\\r": "\r", "\\\\": "\\", "\\'": "'", '\\"': '"', "\\`": "`"}
_RESERVED = {"as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop", "package",
             "namespace", "return", "var", "void", "while", "in", "true", "false", "null"}
MACROS = ("all", "exists", "exists_one", "filter", "map")
FUNCTIONS = {"size", "startsWith", "endsWith", "contains", "matches", "lowerAscii", "upperAscii", "int", "uint",
             "double", "string", "duration", "has", "trim", "split", "join", "indexOf", "lastIndexOf", "substring",
             "replace", "charAt", "find", "findAll", "sum", "min", "max", "isSorted"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise SyntaxError(f"Syntax error: token recognition error at: '{text[pos]}'")
        pos = m.end()
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group()))
    out.append(("end", ""))
    return out


def _string(tok: str) -> str:
    raw = tok[0] in "rR"
    body = tok[1:] if raw else tok
    quote = 3 if body[:3] in ("'''", '"""') else 1
    body = body[quote:-quote]
    if raw:
        return body
    return re.sub(r"\\u[0-9a-fA-F]{4}|\\.", lambda m: chr(int(m.group()[2:], 16)) if m.group().startswith("\\u")
                  else _ESCAPES.get(m.group(), m.group()[1:]), body)


def _unescape_field(name: str) -> str:
    if name.startswith("__") and name.endswith("__") and name[2:-2] in _RESERVED:
        return name[2:-2]
    return name.replace("__underscores__", "__").replace("__dot__", ".").replace("__dash__", "-") \
        .replace("__slash__", "/")


# ------------------------------------------------------------------------------------------------------- parser
@dataclass(frozen=True)
class Node:
    op: str
    args: tuple = ()
    value: object = None


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> str:
        return self.toks[self.i][1] if self.toks[self.i][0] in ("op", "ident") else self.toks[self.i][0]

    def take(self, want: str | None = None) -> tuple[str, str]:
        tok = self.toks[self.i]
        if want is not None and tok[1] != want:
            raise SyntaxError(f"Syntax error: mismatched input '{tok[1] or '<EOF>'}' expecting '{want}'")
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.expr()
        if self.toks[self.i][0] != "end":
            raise SyntaxError(f"Syntax error: extraneous input '{self.toks[self.i][1]}'")
        return node

    def expr(self) -> Node:
        cond = self.binary(0)
        if self.peek() == "?":
            self.take()
            yes = self.binary(0)
            self.take(":")
            return Node("?:", (cond, yes, self.expr()))
        return cond

    _LEVELS = (("||",), ("&&",), ("<", "<=", ">", ">=", "==", "!=", "in"), ("+", "-"), ("*", "/", "%"))

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in self._LEVELS[level]:
            op = self.take()[1]
            left = Node(op, (left, self.binary(level + 1)))
        return left

    def unary(self) -> Node:
        if self.peek() in ("!", "-"):
            op = self.take()[1]
            return Node("!" if op == "!" else "neg", (self.unary(),))
        return self.member()

    def member(self) -> Node:
        node = self.primary()
        while True:
            if self.peek() == ".":
                self.take()
                name = self.take()[1]
                if self.peek() == "(":
                    node = Node("call", (node, *self.args()), name)
                else:
                    node = Node("field", (node,), _unescape_field(name))
            elif self.peek() == "[":
                self.take()
                index = self.expr()
                self.take("]")
                node = Node("index", (node, index))
            else:
                return node

    def args(self) -> tuple:
        self.take("(")
        out = []
        while self.peek() != ")":
            out.append(self.expr())
            if self.peek() == ",":
                self.take()
        self.take(")")
        return tuple(out)

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            if "." in text or "e" in text.lower() and not text.startswith("0x"):
                return Node("lit", value=float(text))
            return Node("lit", value=int(text.rstrip("u"), 0))
        if kind == "str":
            return Node("lit", value=_string(text))
        if kind == "ident":
            if text in ("true", "false"):
                return Node("lit", value=text == "true")
            if text == "null":
                return Node("lit", value=None)
            if self.peek() == "(":
                return Node("call", (None, *self.args()), text)
            return Node("var", value=text)
        if text == "(":
            node = self.expr()
            self.take(")")
            return node
        if text == "[":
            items = []
            while self.peek() != "]":
                items.append(self.expr())
                if self.peek() == ",":
                    self.take()
            self.take("]")
            return Node("list", tuple(items))
        if text == "{":
            pairs = []
            while self.peek() != "}":
                key = self.expr()
                self.take(":")
                pairs.append((key, self.expr()))
                if self.peek() == ",":
                    self.take()
            self.take("}")
            return Node("map", tuple(pairs))
        raise SyntaxError(f"Syntax error: mismatched input '{text or '<EOF>'}'")


@lru_cache(maxsize=2048)
def compile_rule(rule: str) -> Node:
    return _Parser(rule).parse()


# ---------------------------------------------------------------------------------------------------- evaluator
def _size(v) -> int:
    if isinstance(v, (str, list, dict)):
        return len(v)
    raise CelError(f"no such overload: size({type(v).__name__})")


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def _duration(text) -> Duration:
    if not isinstance(text, str):
        raise CelError("no such overload: duration")
    sign, body = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
    if body == "0":
        return Duration(0)
    parts = _DURATION_PART.findall(body)
    if not parts or "".join(a + b for a, b in parts) != body:
        raise CelError(f"invalid duration '{text}'")
    return Duration(sign * sum(float(a) * _UNIT[b] for a, b in parts))


def _call(name: str, target, args: list):
    if name == "size":
        return _size(target if target is not _NONE else args[0])
    if target is _NONE:
        if name in ("int", "uint"):
            v = args[0]
            return int(float(v)) if isinstance(v, (int, float, str)) and not isinstance(v, bool) else \
                _fail(f"no such overload: {name}")
        if name == "double":
            return float(args[0])
        if name == "string":
            v = args[0]
            return ("true" if v else "false") if isinstance(v, bool) else str(v)
        if name == "duration":
            return _duration(args[0])
        raise Unsupported(name)
    if isinstance(target, str):
        if name == "startsWith":
            return target.startswith(args[0])
        if name == "endsWith":
            return target.endswith(args[0])
        if name == "contains":
            return args[0] in target
        if name == "matches":
            try:
                return re.search(args[0], target) is not None
            except re.error:
                raise Unsupported("matches") from None
        if name == "lowerAscii":
            return target.lower()
        if name == "upperAscii":
            return target.upper()
        if name == "trim":
            return target.strip()
        if name == "split":
            return target.split(args[0])
        if name == "indexOf":
            return target.find(args[0], *args[1:2])
        if name == "lastIndexOf":
            return target.rfind(args[0])
        if name == "substring":
            if not 0 <= args[0] <= (args[1] if len(args) > 1 else len(target)) <= len(target):
                raise CelError(f"index out of range: {args[0]}")
            return target[args[0]:args[1]] if len(args) > 1 else target[args[0]:]
        if name == "replace":
            return target.replace(args[0], args[1], *([args[2]] if len(args) > 2 and args[2] >= 0 else []))
        if name == "charAt":
            if not 0 <= args[0] <= len(target):
                raise CelError(f"index out of range: {args[0]}")
            return target[args[0]:args[0] + 1]
        if name in ("find", "findAll"):
            try:
                found = re.findall(f"(?:{args[0]})", target) if name == "findAll" else re.search(args[0], target)
            except re.error:
                raise Unsupported(name) from None
            return found if name == "findAll" else (found.group() if found else "")
    if isinstance(target, list):
        if name == "join":
            return (args[0] if args else "").join(target)
        if name == "indexOf":
            return target.index(args[0]) if args[0] in target else -1
        if name == "lastIndexOf":
            return len(target) - 1 - target[::-1].index(args[0]) if args[0] in target else -1
        if name == "sum":
            return sum(target)
        if name in ("min", "max"):
            if not target:
                raise CelError(f"{name} called on an empty list")
            return min(target) if name == "min" else max(target)
        if name == "isSorted":
            return all(a <= b for a, b in zip(target, target[1:]))
    if name in FUNCTIONS:
        raise CelError(f"no such overload: {type(target).__name__}.{name}")
    raise Unsupported(name)


def _fail(text: str):
    raise CelError(text)


_NONE = object()


class _Eval:
    def __init__(self, env: dict):
        self.env = env

    def run(self, n: Node):
        op = n.op
        if op == "lit":
            return n.value
        if op == "var":
            if n.value not in self.env:
                raise CelError(f"undeclared reference to '{n.value}'")
            return self.env[n.value]
        if op == "list":
            return [self.run(a) for a in n.args]
        if op == "map":
            return {self.run(k): self.run(v) for k, v in n.args}
        if op == "field":
            target = self.run(n.args[0])
            if isinstance(target, dict):
                if n.value not in target:
                    raise CelError(f"no such key: {n.value}")
                return target[n.value]
            raise CelError(f"no such key: {n.value}")
        if op == "index":
            target, index = self.run(n.args[0]), self.run(n.args[1])
            try:
                if isinstance(target, list) and (not isinstance(index, int) or isinstance(index, bool)):
                    raise TypeError
                return target[index]
            except (KeyError, IndexError, TypeError):
                raise CelError(f"index out of bounds: {index}" if isinstance(target, list)
                               else f"no such key: {index}") from None
        if op == "?:":
            cond = self.run(n.args[0])
            if not isinstance(cond, bool):
                raise CelError("no matching overload for '_?_:_'")
            return self.run(n.args[1] if cond else n.args[2])
        if op in ("&&", "||"):
            return self.logic(op, n.args)
        if op == "!":
            v = self.run(n.args[0])
            if not isinstance(v, bool):
                raise CelError("no matching overload for '!_'")
            return not v
        if op == "neg":
            return -self.run(n.args[0])
        if op == "call":
            return self.call(n)
        return self.binary(op, self.run(n.args[0]), self.run(n.args[1]))

    def logic(self, op: str, args: tuple):
        short = op == "||"
        error = None
        for arg in args:
            try:
                v = self.run(arg)
            except CelError as exc:
                error = error or exc
                continue
            if not isinstance(v, bool):
                error = error or CelError(f"no matching overload for '_{op}_'")
            elif v is short:
                return short
        if error is not None:
            raise error
        return not short

    def binary(self, op: str, a, b):
        try:
            if op == "==":
                return a == b and (isinstance(a, bool) == isinstance(b, bool))
            if op == "!=":
                return not (a == b and (isinstance(a, bool) == isinstance(b, bool)))
            if op == "in":
                return a in b
            if op == "+":
                if isinstance(a, bool) or isinstance(b, bool):
                    raise TypeError
                return a + b
            if op == "-":
                return a - b
            if op == "*":
                return a * b
            if op == "/":
                if isinstance(a, int) and isinstance(b, int):
                    if b == 0:
                        raise CelError("division by zero")
                    return int(a / b)
                return a / b
            if op == "%":
                if b == 0:
                    raise CelError("modulus by zero")
                return int(a - b * int(a / b))
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        except TypeError:
            raise CelError(f"no matching overload for '_{op}_'") from None

    def call(self, n: Node):
        name, target_node, arg_nodes = n.value, n.args[0], n.args[1:]
        if name == "has" and target_node is None:
            (arg,) = arg_nodes
            if arg.op != "field":
                raise CelError("invalid argument to has() macro")
            holder = self.run(arg.args[0])
            return isinstance(holder, dict) and arg.value in holder
        if name in MACROS and target_node is not None and len(arg_nodes) in (2, 3) \
                and arg_nodes[0].op == "var":
            return self.macro(name, self.run(target_node), arg_nodes)
        target = _NONE if target_node is None else self.run(target_node)
        return _call(name, target, [self.run(a) for a in arg_nodes])

    def macro(self, name: str, target, arg_nodes: tuple):
        var = arg_nodes[0].value
        items = list(target) if isinstance(target, (list, dict)) else _fail(f"no such overload: {name}")
        saved = self.env.get(var, _NONE)

        def each(node: Node, item):
            self.env[var] = item
            return self.run(node)
        try:
            if name in ("all", "exists"):
                want = name == "exists"
                error = None
                for item in items:
                    try:
                        v = each(arg_nodes[1], item)
                    except CelError as exc:
                        error = error or exc
                        continue
                    if v is want:
                        return want
                if error:
                    raise error
                return not want
            if name == "exists_one":
                return sum(1 for item in items if each(arg_nodes[1], item) is True) == 1
            if name == "filter":
                return [item for item in items if each(arg_nodes[1], item) is True]
            if len(arg_nodes) == 3:   # map(x, predicate, transform)
                return [each(arg_nodes[2], item) for item in items if each(arg_nodes[1], item) is True]
            return [each(arg_nodes[1], item) for item in items]
        finally:
            if saved is _NONE:
                self.env.pop(var, None)
            else:
                self.env[var] = saved


def _uses(node: Node, name: str) -> bool:
    if node.op == "var" and node.value == name:
        return True
    children = [c for c in node.args if isinstance(c, Node)]
    if node.op == "map":
        children = [x for pair in node.args for x in pair]
    return any(_uses(c, name) for c in children)


def evaluate(rule: str, value, old=_NONE):
    env = {"self": value}
    if old is not _NONE:
        env["oldSelf"] = old
    return _Eval(env).run(compile_rule(rule))


# ------------------------------------------------------------------------------------------------- for schemas
_REASONS = {"FieldValueForbidden": "Forbidden", "FieldValueRequired": "Required value",
            "FieldValueDuplicate": "Duplicate value"}


def check(rules: list, value, old, path: str, schema: dict) -> list[Cause]:
    """The causes of the rules of one schema node that `value` breaks (a rule with `oldSelf` only on updates)."""
    errs: list[Cause] = []
    shown_type = schema.get("type") or "object"
    for rule in rules:
        if not isinstance(rule, dict) or not isinstance(rule.get("rule"), str):
            continue
        try:
            node = compile_rule(rule["rule"])
        except SyntaxError:
            continue
        if not _supported(rule["rule"]):
            continue
        transition = _uses(node, "oldSelf")
        if transition and old is None and not rule.get("optionalOldSelf"):
            continue
        try:
            ok = _Eval({"self": value, **({"oldSelf": old} if transition else {})}).run(node)
        except Unsupported:
            continue
        except CelError as exc:
            errs.append(Cause.invalid(path, shown_type, f"{exc} evaluating rule: {rule['rule']}"))
            continue
        except (RecursionError, TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            errs.append(Cause.invalid(path, shown_type, f"{type(exc).__name__}: {exc} evaluating rule: "
                                                        f"{rule['rule']}"))
            continue
        if ok is True:
            continue
        message = rule.get("message") or f"failed rule: {rule['rule']}"
        if rule.get("messageExpression"):
            try:
                text = _Eval({"self": value}).run(compile_rule(rule["messageExpression"]))
                message = text if isinstance(text, str) and text.strip() else message
            except (CelError, Unsupported, SyntaxError):
                pass
        field = path + (rule.get("fieldPath") or "") if rule.get("fieldPath") else path
        reason = rule.get("reason") or "FieldValueInvalid"
        if reason in _REASONS:
            errs.append(Cause(field, f"{_REASONS[reason]}: {message}", reason))
        else:
            errs.append(Cause.invalid(field, shown_type, message))
    return errs


def rule_problems(schema, path: str) -> list[Cause]:
    """Rules that do not parse, as the CRD's field errors (kube-apiserver refuses a CRD whose rule does not compile)."""
    errs: list[Cause] = []
    _walk(schema, path, errs)
    return errs


def _walk(s, path: str, errs: list[Cause]) -> None:
    if not isinstance(s, dict):
        return
    for i, rule in enumerate(s.get("x-kubernetes-validations") or ()):
        text = rule.get("rule") if isinstance(rule, dict) else None
        if not isinstance(text, str) or not text.strip():
            errs.append(Cause.required(f"{path}.x-kubernetes-validations[{i}].rule"))
            continue
        try:
            compile_rule(text)
        except SyntaxError as exc:
            errs.append(Cause.invalid(f"{path}.x-kubernetes-validations[{i}].rule", text,
                                      f"compilation failed: ERROR: <input>: {exc}"))
    for key, child in (s.get("properties") or {}).items():
        _walk(child, f"{path}.properties[{key}]", errs)
    for key in ("items", "additionalProperties"):
        if isinstance(s.get(key), dict):
            _walk(s[key], f"{path}.{key}", errs)


def unsupported_rules(schema, path: str = "") -> list[str]:
    """Rules that use CEL this module does not evaluate (so are not enforced here), with where they sit."""
    out: list[str] = []

    def walk(s, p):
        if not isinstance(s, dict):
            return
        for rule in s.get("x-kubernetes-validations") or ():
            try:
                names = _names(compile_rule(rule.get("rule", "")))
            except (SyntaxError, AttributeError):
                continue
            if names - FUNCTIONS - set(MACROS):
                out.append(f"{p or '<root>'}: {rule.get('rule')}")
        for key, child in (s.get("properties") or {}).items():
            walk(child, f"{p}.{key}" if p else key)
        for key in ("items", "additionalProperties"):
            if isinstance(s.get(key), dict):
                walk(s[key], f"{p}[]" if key == "items" else f"{p}[*]")
    walk(schema, path)
    return out


@lru_cache(maxsize=2048)
def _supported(rule: str) -> bool:
    return not (_names(compile_rule(rule)) - FUNCTIONS - set(MACROS))


def _names(node: Node) -> set[str]:
    out = {node.value} if node.op == "call" else set()
    children = [c for c in node.args if isinstance(c, Node)]
    if node.op == "map":
        children = [x for pair in node.args for x in pair]
    for c in children:
        out |= _names(c)
    return out
