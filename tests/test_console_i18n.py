"""Every string the console shows comes from its message catalog.

- Templates: no letters in text or in visible attributes (title, alt, placeholder, aria-label,
  label, button values) outside ``{{ … }}``, and no prose in string literals inside Jinja
  expressions: a literal sentence fails.
- Scripts (static/console/*.js): no prose in string literals; every ``t("key")`` exists.
- The catalog: every key used by a template, a script or a page module exists in English, and
  every English key is used (directly or under a prefix a template or script builds keys from).
- Another language only needs the keys it translates: the rest falls back to English, the page
  says which language it is in.
"""

from __future__ import annotations

import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONSOLE = ROOT / "src" / "sathub" / "api" / "console"
TEMPLATES = CONSOLE / "templates"
SCRIPTS = ROOT / "src" / "sathub" / "api" / "static" / "console"
CATALOG = json.loads((CONSOLE / "messages" / "en.json").read_text())

JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
LETTERS = re.compile(r"[^\W\d_]{1}", re.U)
VISIBLE_ATTRS = {"title", "alt", "placeholder", "aria-label", "aria-roledescription", "label",
                 "aria-valuetext"}  # fmt: skip
KEYISH = re.compile(r"^[a-z0-9_][a-z0-9_:\-]*(\.[a-z0-9_\-]+)*\.?$")  # keys, ids, permissions
CODE = re.compile(r"^[A-Z]{3}$")  # a currency code
PATHISH = re.compile(r"^/[\w/{}.\-?=&#]*$")
METHOD = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) $")


def _lit(text: str) -> list[str]:
    return [a or b for a, b in re.findall(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", text)]


def _prose(literal: str) -> bool:
    """A literal a person would read: words, not keys, ids, paths or punctuation."""
    if not LETTERS.search(literal):
        return False
    return not (KEYISH.match(literal) or PATHISH.match(literal) or METHOD.match(literal)
                or CODE.match(literal))


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        kinds = dict(attrs).get("type") or ""
        for name, value in attrs:
            visible = name in VISIBLE_ATTRS or (name == "value" and tag == "input"
                                                and kinds in ("submit", "button", "reset"))  # fmt: skip
            if visible and value and LETTERS.search(value.replace("\x00", "")):
                self.found.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        text = data.replace("\x00", "").strip()
        if not self._skip and LETTERS.search(text):
            self.found.append(text)


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_templates_have_no_literal_text(template: str) -> None:
    source = (TEMPLATES / template).read_text()
    parser = _Visible()
    parser.feed(JINJA.sub(" \x00 ", source))
    assert not parser.found, f"{template}: literal text outside the catalog: {parser.found}"
    prose = [lit for expr in JINJA.findall(source) for lit in _lit(expr) if _prose(lit)]
    assert not prose, f"{template}: sentences inside Jinja expressions: {prose}"


def test_the_literal_checks_catch_literals() -> None:
    """The checks above fail on what they are for (so they cannot pass vacuously)."""
    for bad in ("<p>Sign in</p>", '<button aria-label="Close">×</button>',
                '<input type="submit" value="Send">', '<img alt="logo" src="x.png">',
                "<td>{{ x }} items</td>"):  # fmt: skip
        parser = _Visible()
        parser.feed(JINJA.sub(" \x00 ", bad))
        assert parser.found, bad
    for good in ("<p>{{ t('login.intro') }}</p>", '<td class="num">{{ n }} —</td>',
                 '<a href="{{ root }}/console" aria-label="{{ t(\'nav.label\') }}">{{ x }}</a>'):  # fmt: skip
        parser = _Visible()
        parser.feed(JINJA.sub(" \x00 ", good))
        assert not parser.found, good
    assert _prose("Hello") and _prose("sign in") and not _prose("nav.dashboard")
    assert not _prose("/admin/keys") and not _prose("POST ") and not _prose(" — ")


# ----------------------------------------------------------------------------- scripts
JS_STRING = re.compile(r"""(?<![\w$])(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)'|`((?:[^`\\]|\\.)*)`)""")
JS_TECHNICAL = {"Accept", "Content-Type", "X-CSRF-Token", "Feature", "FeatureCollection", "Polygon",
                "MultiPolygon", "Point", "LineString", "GeometryCollection", "Map.Title",
                "NavigationControl.ZoomIn", "NavigationControl.ZoomOut",
                "NavigationControl.ResetBearing", "Popup.Close", "Marker.Title", "GET", "HEAD",
                "POST", "PUT", "DELETE", "use strict"}  # fmt: skip
URLISH = re.compile(r"^[^\s]*[/=?&][^\s]*$")  # a path, a query string or a piece of one
SELECTOR = re.compile(r"^[\w\-#.\[\]=:'\"*>, ()|/]+$")


def _js_literals(source: str) -> list[str]:
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    source = re.sub(r"(?m)^\s*//.*$|(?<=[;{}),])\s*//.*$", "", source)
    return [a or b or c for a, b, c in JS_STRING.findall(source)]


def _js_prose(lit: str) -> bool:
    lit = re.sub(r"\\.", "", lit)  # escapes (\n, \") are not words
    if not LETTERS.search(lit) or lit in JS_TECHNICAL or URLISH.match(lit):
        return False
    if re.search(r"[A-Za-z]{2,}\s+[A-Za-z]{2,}", lit) and not re.search(r"[\[\]#=]", lit):
        return True  # two words: a sentence, unless it is a selector
    if re.search(r"\b[A-Z][a-z]{2,}", lit):
        return True  # a capitalised word
    return not SELECTOR.match(lit)


@pytest.mark.parametrize("script", sorted(p.name for p in SCRIPTS.glob("*.js")))
def test_scripts_have_no_literal_text(script: str) -> None:
    source = (SCRIPTS / script).read_text()
    prose = [lit for lit in _js_literals(source) if _js_prose(lit)]
    assert not prose, f"{script}: literal text outside the catalog: {prose}"
    for key in re.findall(r"""\bt\(\s*["']([\w.\-]+)["']""", source):
        if key.endswith("."):
            continue  # a prefix: t("js.job.status." + status)
        assert key in CATALOG, f"{script}: t({key!r}) is not in the catalog"


def test_the_script_check_catches_literals() -> None:
    assert _js_prose("Sign in again") and _js_prose("Close") and _js_prose("nothing found")
    assert not _js_prose("js.map.title") and not _js_prose("#confirm [data-answer]")
    assert not _js_prose("input[name=csrf]") and not _js_prose("Content-Type")


# ----------------------------------------------------------------------------- catalog
def _sources() -> dict[Path, str]:
    files = [*TEMPLATES.glob("*.html"), *SCRIPTS.glob("*.js"), *CONSOLE.glob("*.py")]
    return {p: p.read_text() for p in files}


def test_every_key_used_exists_and_every_key_is_used() -> None:
    sources = _sources()
    text = "\n".join(sources.values())
    # keys built from a prefix and a value: t('role.' ~ x), labels="level.", t("js.job.status." + s)
    prefixes = set(re.findall(r"""["']([a-z0-9_]+(?:\.[a-z0-9_]+)*\.)(?:["']|\{)""", text))
    quoted = set(re.findall(r"""["']([a-z0-9_]+(?:\.[A-Za-z0-9_\-]+)+)["']""", text))
    used = {k for k in quoted if k in CATALOG}
    called = set(re.findall(r"""\bt\(\s*["']([a-z0-9_]+(?:\.[a-z0-9_\-]+)+)["']""", text))
    missing = sorted(called - set(CATALOG))
    assert not missing, f"keys used but not in messages/en.json: {missing}"
    unused = sorted(k for k in CATALOG if k not in used and not any(k.startswith(p) for p in prefixes))
    assert not unused, f"keys in messages/en.json that nothing uses: {unused}"


def test_messages_are_well_formed() -> None:
    import string

    for key, text in CATALOG.items():
        assert text.strip() == text and text, key
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
        assert all(re.fullmatch(r"[a-z_]+", f) for f in fields), (key, fields)


def test_another_language_falls_back_to_english(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A catalog with a few keys is enough to serve a language: the page is in that language
    where it has the message and in English elsewhere, and says so (lang)."""
    from fastapi.testclient import TestClient

    sys.path.insert(0, str(Path(__file__).parent))
    from sathub.api.app import create_app
    from sathub.api.console import i18n
    from sathub.app import Installation
    from sathub.config import Settings

    msgs = tmp_path / "messages"
    msgs.mkdir()
    (msgs / "en.json").write_text(json.dumps(CATALOG))
    (msgs / "my.json").write_text(json.dumps({"login.title": "ဝင်ရောက်ရန်", "login.submit": "ဝင်မည်"}))
    monkeypatch.setattr(i18n, "MESSAGES", msgs)
    i18n._load.cache_clear()
    try:
        app = create_app(Installation.create(Settings(data=tmp_path / "data")))
        with TestClient(app) as c:
            page = c.get("/console/login", headers={"Accept-Language": "my-MM, en;q=0.5"}).text
            assert '<html lang="my">' in page and "ဝင်ရောက်ရန်" in page and "ဝင်မည်" in page
            assert CATALOG["login.key"] in page  # not translated yet: English
            page = c.get("/console/login", headers={"Accept-Language": "fr, de;q=0.8"}).text
            assert '<html lang="en">' in page and CATALOG["login.title"] in page
    finally:
        i18n._load.cache_clear()
