"""The `lab` script's own sentences, in the learner's language (`./lab start` is a shell script, so it asks here).

    python -m ingresslab.say KEY [NAME=VALUE ...]     prints the sentence KEY, its {NAME} fields filled in

The language is the lab's (INGRESSLAB_LANG, else LANG and the rest, see `i18n`). An unknown key is an error, so a
typo in the script fails its test rather than printing nothing.
"""
from __future__ import annotations

import sys

from .i18n import N_, _

SENTENCES = {
    "url": N_("lab: JupyterLab at {url} (Ctrl-C twice, or File > Shut Down, stops JupyterLab and then the lab)"),
    "stopping": N_("lab: JupyterLab has stopped; stopping the lab it started (ingresslab down)"),
    "keeps-running": N_("lab: JupyterLab has stopped; the lab was running before ./lab start and keeps running "
                        "(stop it with: {down})"),
    "untrusted": N_("lab: could not mark the notebooks trusted; their widgets appear once their cells run"),
}


def sentence(key: str, **fields: str) -> str:
    return _(SENTENCES[key]).format(**fields)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in SENTENCES:
        print(f"usage: python -m ingresslab.say {{{','.join(SENTENCES)}}} [NAME=VALUE ...]", file=sys.stderr)
        return 2
    fields = dict(arg.split("=", 1) for arg in argv[1:])
    print(sentence(argv[0], **fields))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
