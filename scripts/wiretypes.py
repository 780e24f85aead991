"""Regenerate `ingresslab/cluster/apiserver/wiretypes.json`: the JSON field types of every kind the lab serves.

The table comes from the official client's generated models (`openapi_types` and `attribute_map`, which the
client generates from Kubernetes' OpenAPI), walked from each served kind down through every nested type. The lab
process reads the table instead of importing the models: importing them costs about 0.3 s of CPU (pydantic builds
hundreds of classes), and that was on the critical path of `ingresslab up`.

    python scripts/wiretypes.py          rewrite the table from the installed client
    python scripts/wiretypes.py --check  exit 1 if the table differs from what the installed client gives
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import clientmodels  # noqa: E402
from ingresslab.cluster.apiserver import wiretypes  # noqa: E402


def build() -> dict:
    import kubernetes

    kinds, models = clientmodels.walk(lambda r: f"{r.version}/{r.kind}")
    types = {name: {cls.attribute_map[attr]: sub for attr, sub in cls.openapi_types.items()}
             for name, cls in models.items()}
    return {"client": kubernetes.__version__, "kinds": dict(sorted(kinds.items())),
            "types": dict(sorted(types.items()))}


def render(table: dict) -> str:
    return json.dumps(table, indent=1) + "\n"


def main(argv: list[str]) -> int:
    table = build()
    text = render(table)
    if "--check" in argv:
        current = json.loads(wiretypes.TABLE_PATH.read_text())
        current.pop("client", None)
        fresh = dict(table)
        fresh.pop("client", None)
        if current != fresh:
            print(f"{wiretypes.TABLE_PATH} differs from the installed kubernetes client {table['client']}: "
                  "run python scripts/wiretypes.py", file=sys.stderr)
            return 1
        return 0
    wiretypes.TABLE_PATH.write_text(text)
    print(f"wrote {wiretypes.TABLE_PATH} ({len(table['types'])} types, client {table['client']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
