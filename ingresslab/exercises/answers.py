"""Read what a learner answered — YAML text, a file, a dict, a list — into Ingress objects.

Learners answer in several shapes, and all of them are fair: a whole Ingress (or several, as YAML documents or a
list of dicts), its `spec`, or only the `rules` list the article asks for. Old `extensions/v1beta1` answers
(`serviceName`/`servicePort`, as the article writes them) are converted the way the lab's API server converts them
(`cluster.apiserver.conversion`), with a note that real clusters stopped serving that form in Kubernetes 1.22.

Anything that is not an answer yet (YAML that does not parse, a document that is not an Ingress) raises
`NotAnAnswer` with findings in plain words. Neighbours: `plainwords.py` (what the API would refuse),
`routing.py` (checks the routes).
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from ingresslab.cluster.apiserver.conversion import LEGACY_VERSIONS, V1, ingress_v1beta1_to_v1
from ingresslab.i18n import _

from .outcome import Finding
from .plainwords import shape_problems

APP_KINDS = ("Deployment", "Service", "Namespace", "Pod", "ReplicaSet")


class NotAnAnswer(ValueError):
    """The answer could not be read as Ingress objects; `.findings` say why."""

    def __init__(self, findings: list[Finding]):
        super().__init__("; ".join(f.text for f in findings))
        self.findings = findings


@dataclass(frozen=True)
class Answer:
    """The learner's Ingresses, as networking.k8s.io/v1 dicts, and anything worth telling even when right."""

    ingresses: tuple[dict, ...]
    notes: tuple[str, ...] = ()


def _yaml_documents(text: str) -> list:
    if "\t" in text:
        for number, line in enumerate(text.splitlines(), 1):
            if line[:len(line) - len(line.lstrip())].count("\t"):
                raise NotAnAnswer([Finding(_("line {number} is indented with a tab; YAML indents with spaces "
                                             "only").format(number=number))])
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]      # PyYAML's own words, kept
        if mark:
            text = _("this is not valid YAML at line {line}, column {column}: {problem} — often a line indented one "
                     "step too far or too little, or a missing `-` before a list item").format(
                line=mark.line + 1, column=mark.column + 1, problem=problem)
        else:
            text = _("this is not valid YAML: {problem} — often a line indented one step too far or too little, or "
                     "a missing `-` before a list item").format(problem=problem)
        raise NotAnAnswer([Finding(text)]) from None


def _is_rule(item) -> bool:
    return isinstance(item, dict) and ("host" in item or "http" in item) and "kind" not in item


def _uses_legacy_backends(obj) -> bool:
    if isinstance(obj, dict):
        return "serviceName" in obj or "servicePort" in obj or any(_uses_legacy_backends(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_uses_legacy_backends(v) for v in obj)
    return False


def _wrap(spec: dict, *, name: str = "answer") -> dict:
    """A bare spec (or rules) becomes an Ingress; the old backend form picks the old apiVersion it belongs to."""
    api_version = "extensions/v1beta1" if _uses_legacy_backends(spec) else V1
    return {"apiVersion": api_version, "kind": "Ingress", "metadata": {"name": name}, "spec": spec}


def _as_ingress(doc, index: int) -> dict | None:
    """One document → an Ingress dict (None for an app document we skip); raises NotAnAnswer otherwise."""
    if not isinstance(doc, dict):
        raise NotAnAnswer([Finding(_("document {number} is a {type}, not a mapping; an Ingress starts with "
                                     "`apiVersion:`, `kind: Ingress`, `metadata:` and `spec:`").format(
            number=index + 1, type=type(doc).__name__))])
    if "kind" in doc:
        if doc["kind"] == "Ingress":
            return copy.deepcopy(doc)
        if doc["kind"] in APP_KINDS:
            return None
        raise NotAnAnswer([Finding(_("document {number} is a `{kind}`; the exercise asks for an Ingress").format(
            number=index + 1, kind=doc["kind"]))])
    if "spec" in doc:
        out = copy.deepcopy(doc)
        out.setdefault("apiVersion", "extensions/v1beta1" if _uses_legacy_backends(doc) else V1)
        out["kind"] = "Ingress"
        return out
    if any(k in doc for k in ("rules", "defaultBackend", "backend", "tls", "ingressClassName")):
        return _wrap(copy.deepcopy(doc))
    if "rules" not in doc and _is_rule(doc):
        return _wrap({"rules": [copy.deepcopy(doc)]})
    raise NotAnAnswer([Finding(_("this does not look like an Ingress or its rules: expected `rules:` (a list of "
                                 "`- host: …` items with `http: paths:`) or a whole Ingress"))])


def _documents(answer) -> list:
    if isinstance(answer, Path) or (isinstance(answer, str) and "\n" not in answer
                                    and answer.strip().endswith((".yaml", ".yml"))):
        if not os.path.exists(answer):
            raise NotAnAnswer([Finding(_("there is no file `{file}`").format(file=answer))])
        return _yaml_documents(Path(answer).read_text())
    if isinstance(answer, str):
        if not answer.strip():
            raise NotAnAnswer([Finding(_("the answer is empty"))])
        return _yaml_documents(answer)
    if isinstance(answer, dict):
        return [answer]
    if isinstance(answer, (list, tuple)):
        return [list(answer)]
    raise NotAnAnswer([Finding(_("an answer is YAML text, a dict or a list, not a {type}").format(
        type=type(answer).__name__))])


def read_answer(answer) -> Answer:
    """YAML text, a path, a dict (an Ingress, a spec or one rule) or a list (rules, or Ingresses) → `Answer`."""
    docs = _documents(answer)
    if not docs:
        raise NotAnAnswer([Finding(_("the answer holds no document"))])
    if len(docs) == 1 and isinstance(docs[0], list):
        items = docs[0]
        if not items:
            raise NotAnAnswer([Finding(_("the answer is an empty list; the rules go in it"))])
        if all(_is_rule(i) for i in items):
            docs = [_wrap({"rules": copy.deepcopy(items)})]
        elif all(isinstance(i, dict) and "kind" in i for i in items):
            docs = items
        else:
            raise NotAnAnswer([Finding(_("a list answer is either the `rules` (items like `- host: …` with "
                                         "`http: paths: …`) or whole Ingress objects; this one mixes other things"))])
    ingresses, notes, skipped = [], [], []
    for index, doc in enumerate(docs):
        ingress = _as_ingress(doc, index)
        if ingress is None:
            skipped.append(f"{doc['kind']} {(doc.get('metadata') or {}).get('name', '')}".strip())
            continue
        problems = shape_problems(ingress)
        if problems:
            raise NotAnAnswer(problems)
        api_version = ingress.get("apiVersion")
        if api_version in LEGACY_VERSIONS:
            ingress, _warnings = ingress_v1beta1_to_v1(ingress)
            notes.append(_("You wrote the old `{version}` form (`serviceName`/`servicePort`). This lab still "
                           "serves it, as the article's cluster did, but Kubernetes removed it in 1.22: write "
                           "`apiVersion: networking.k8s.io/v1` with `service: {{name: …, port: {{number: …}}}}` "
                           "and a `pathType`.").format(version=api_version))
        elif api_version != V1:
            raise NotAnAnswer([Finding(_("`apiVersion: {version}` is not an Ingress version; Ingress lives in "
                                         "`networking.k8s.io/v1`").format(version=api_version))])
        if not isinstance(ingress.get("metadata"), dict):
            ingress["metadata"] = {}
        ingress["metadata"].setdefault("name", "answer" if len(docs) == 1 else f"answer-{index + 1}")
        ingresses.append(ingress)
    if skipped:
        notes.append(_("The check brings its own apps, so it left out your {objects}.").format(
            objects=_(", ").join(skipped)))
    if not ingresses:
        raise NotAnAnswer([Finding(_("the answer holds no Ingress (the apps are already there; write the Ingress)"))])
    return Answer(tuple(ingresses), tuple(dict.fromkeys(notes)))
