"""Regenerate `ingresslab/cluster/apiserver/schemas.json`: every field of every built-in kind the lab serves, with its
type, whether it is required and its description — the data behind strict field validation, `kubectl explain` and
the OpenAPI v3 component schemas.

Source: the official Python client (`kubernetes` on PyPI, the version recorded in the file's `source`). Its models
are generated from Kubernetes' own OpenAPI document, so their field names, types, required lists and descriptions
are the Kubernetes API reference's: class docstrings describe types, `Field(description=…)` describes fields. Only
what the lab serves is kept, walked from each served kind down through every nested type (about 220 types).

Patch strategies are not in the client's models; `apiserver/schemas.py` adds them from `patch.MERGE_KEYS`, the table
the server's strategic merge patch already follows, so the two cannot disagree.

    python scripts/apischemas.py          rewrite the file from the installed client
    python scripts/apischemas.py --check  exit 1 if the file differs from what the installed client gives
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import clientmodels  # noqa: E402

TARGET = ROOT / "ingresslab" / "cluster" / "apiserver" / "schemas.json"


def _doc(cls) -> str:
    text = (cls.__doc__ or "").split("Attributes:")[0]
    return " ".join(text.split())


def build() -> dict:
    import kubernetes

    kinds, models = clientmodels.walk(lambda r: f"{r.api_version}/{r.kind}", served_only=False)
    types: dict[str, dict] = {}
    for name, cls in models.items():
        props, required = {}, []
        for attr, sub in cls.openapi_types.items():
            key = cls.attribute_map[attr]
            info = cls.model_fields.get(attr)
            props[key] = [sub, " ".join((info.description or "").split()) if info else ""]
            if info is not None and info.is_required():
                required.append(key)
        types[name] = {"d": _doc(cls), "r": required, "p": props}
    return {"source": f"kubernetes (Python client) {kubernetes.__version__}, models generated from the Kubernetes "
                      f"OpenAPI; descriptions are the Kubernetes API reference's",
            "kinds": dict(sorted(kinds.items())), "types": dict(sorted(types.items()))}


def render(table: dict) -> str:
    # One type per line: compact, yet a diff shows which types changed.
    lines = [f' "source": {json.dumps(table["source"])},', ' "kinds": ' + json.dumps(table["kinds"]) + ",", ' "types": {']
    items = list(table["types"].items())
    for i, (name, body) in enumerate(items):
        lines.append(f'  {json.dumps(name)}: {json.dumps(body, separators=(",", ":"))}' + ("," if i < len(items) - 1
                                                                                            else ""))
    return "{\n" + "\n".join(lines) + "\n }\n}\n"


def main(argv: list[str]) -> int:
    table = build()
    if "--check" in argv:
        current = json.loads(TARGET.read_text(encoding="utf-8"))
        if {k: v for k, v in current.items() if k != "source"} != {k: v for k, v in table.items() if k != "source"}:
            print(f"{TARGET} differs from the installed kubernetes client: run python scripts/apischemas.py",
                  file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(render(table), encoding="utf-8")
    print(f"wrote {TARGET} ({len(table['types'])} types, {TARGET.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
