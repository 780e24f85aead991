"""The words the lab says to a learner, in the learner's language (English, or 中文 with `language="zh"`).

Everything a learner reads from the lab — widget labels, the exercises' findings, hints and solutions, the
plain-word validation messages, `ingresslab demo`'s narration, the CLI's own sentences — is written in English
in the code, inside `_()`, and looked up in a gettext catalogue. Kubernetes' own words (kubectl's output, the
API's 422 messages, nginx's errors) are never translated: a real cluster prints them in English too.

    from ingresslab.i18n import _, N_
    _("the rule for host `{host}`").format(host=host)     # never f-strings or concatenation inside _()
    CHOICES = {"a": N_("first")}; ... _(CHOICES["a"])      # marked at import time, translated when shown

The language is, first found: `use(language)` (what `Lab.up(language="zh")` and `start_lab(language="zh")`
call), then the environment variables `INGRESSLAB_LANG`, `LANGUAGE`, `LC_ALL`, `LC_MESSAGES`, `LANG`, as gettext
reads them (`zh_CN.UTF-8` → `zh`); else English. `use()` also sets `INGRESSLAB_LANG`, so the `!ingresslab …`
commands a notebook runs speak the notebook's language.

The catalogues are `ingresslab/locale/<language>/LC_MESSAGES/*.po` (Babel's PO format, kept in step with the code
by `scripts/i18n.py`). They are read with Babel and compiled in memory into the standard library's
`gettext.GNUTranslations` the first time a language is used, so there is no compiled `.mo` file to go stale.
"""
from __future__ import annotations

import gettext
import io
import os
import re
import threading
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
ENGLISH = "en"
ENV_VARIABLES = ("INGRESSLAB_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

_chosen: str | None = None
_UNSET = object()
_env_before: object = _UNSET      # INGRESSLAB_LANG as it was before use() first set it, for use(None) to restore
_loaded: dict[str, gettext.NullTranslations] = {}
_lock = threading.Lock()


def available() -> list[str]:
    """The languages the lab speaks: English and each folder of `ingresslab/locale/`."""
    found = sorted(p.name for p in LOCALE_DIR.iterdir() if (p / "LC_MESSAGES").is_dir()) if LOCALE_DIR.is_dir() else []
    return [ENGLISH, *found]


def normalize(name: str) -> str | None:
    """`zh_CN.UTF-8` → `zh`, `en_GB` → `en`, `C`/`POSIX` → `en`; a language the lab does not speak → None."""
    code = re.split(r"[_.@-]", name.strip(), maxsplit=1)[0].lower()
    if code in ("c", "posix"):
        return ENGLISH
    return code if code in available() else None


def from_environment() -> str:
    """The language the environment asks for, read as gettext reads it (the first variable set wins; LANGUAGE
    may list several, `zh:en`)."""
    for variable in ENV_VARIABLES:
        value = os.environ.get(variable, "")
        if not value:
            continue
        for part in value.split(":"):
            code = normalize(part) if part else None
            if code:
                return code
        if variable != "LANGUAGE":    # LANGUAGE lists preferences; the others name one locale and settle it
            return ENGLISH
    return ENGLISH


def use(language: str | None) -> str:
    """Speak `language` from now on in this process and in the commands it starts; None goes back to the
    environment's choice (INGRESSLAB_LANG as it was before). Returns the language in use. An unknown language is a ValueError that lists the known."""
    global _chosen, _env_before
    if language is None:
        _chosen = None
        if _env_before is not _UNSET:
            if _env_before is None:
                os.environ.pop("INGRESSLAB_LANG", None)
            else:
                os.environ["INGRESSLAB_LANG"] = _env_before
            _env_before = _UNSET
        return current()
    code = normalize(language)
    if code is None:
        raise ValueError(f"language {language!r} is not one the lab speaks; choose one of: {', '.join(available())}")
    if _env_before is _UNSET:
        _env_before = os.environ.get("INGRESSLAB_LANG")
    _chosen = code
    os.environ["INGRESSLAB_LANG"] = code
    return code


def current() -> str:
    return _chosen or from_environment()


def catalogue_files(language: str) -> list[Path]:
    return sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po"))


def _translations(language: str) -> gettext.NullTranslations:
    with _lock:
        if language not in _loaded:
            _loaded[language] = _compile(language)
        return _loaded[language]


def _compile(language: str) -> gettext.NullTranslations:
    """All of a language's PO files as one GNUTranslations (fuzzy and empty entries are left out, so English
    shows through until a translation is made current)."""
    files = catalogue_files(language)
    if language == ENGLISH or not files:
        return gettext.NullTranslations()
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    merged = Catalog(locale=language, domain="ingresslab")
    for path in files:
        with open(path, "rb") as f:
            for message in read_po(f, locale=language):
                if message.id and message.string and not message.fuzzy:
                    merged[message.id] = message
    buffer = io.BytesIO()
    write_mo(buffer, merged)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def _(message: str) -> str:
    """`message` in the current language (itself when there is no current translation)."""
    return _translations(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translations(current()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a string for the catalogue without translating it now (module-level tables): `_()` it when shown."""
    return message
