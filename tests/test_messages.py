"""Messages to visitors: hostile text escaped, no server paths, no secrets, one way to show them."""

from __future__ import annotations

import ast
import json
import re
import tempfile
import zipfile
from pathlib import Path

import gradio as gr
import pytest
from gradio.utils import get_upload_folder

from components.panels import messages
from components.panels.classes_panel import _import_list, class_status
from components.panels.descriptions_panel import _import
from components.panels.images_panel import _load_zip
from prompting.llm.config import LLMConfig
from prompting.service.public_text import PublicText, public_text_for
from prompting.service.session_files import SessionFiles

ROOT = Path(__file__).resolve().parent.parent
FILES = SessionFiles(2**20, 100, 2**21)
HOSTILE = [
    '<img src="https://evil.example/pixel.png" onerror="alert(1)">',
    "<a href=\"javascript:alert(1)\">log in again</a>",
    "[log in again](javascript:alert(1))",
    "![pixel](https://evil.example/pixel.png)",
    "<script>alert(1)</script>",
]


def _no_markup(text: str) -> None:
    """Nothing in ``text`` would become an element if rendered as HTML."""
    assert "<" not in text and ">" not in text, text


@pytest.mark.parametrize("hostile", HOSTILE)
def test_pop_up_text_is_html_escaped(hostile: str) -> None:
    text = messages.toast_text(f"Class '{hostile}' is listed twice.")
    _no_markup(text)
    assert "&lt;" in text or "](" in text  # kept readable, as text


@pytest.mark.parametrize("hostile", HOSTILE)
def test_markdown_status_text_renders_literally(hostile: str) -> None:
    text = messages.markdown(hostile)
    _no_markup(text)
    assert "](" not in text  # a Markdown link or image needs "](": it is escaped as \]\(
    assert "javascript:" not in text and "https:" not in text  # no autolinks either


def test_server_paths_become_the_visitors_own_names() -> None:
    public = PublicText(server_roots=("/srv/app", "/tmp/gradio", "/tmp"))
    upload = "Cannot read class file '/tmp/gradio/3f9a0c/my classes.txt': not UTF-8."
    assert public(upload) == "Cannot read class file 'my classes.txt': not UTF-8."
    extracted = "'/tmp/zsp-eval-x1y2/cat/1.jpg' is truncated or corrupt"
    assert public(extracted) == "'cat/1.jpg' is truncated or corrupt"
    assert public("see /srv/app/assets/style.css now") == "see style.css now"
    assert public("the folder /tmp is full") == "the folder a server folder is full"
    assert public("cat/1.jpg and /etc/passwd stay") == "cat/1.jpg and /etc/passwd stay"  # not a server folder


def test_the_real_temp_and_upload_folders_are_covered() -> None:
    public = public_text_for({"/models/clip-b32": "clip-b32"}, None, [get_upload_folder()])
    upload = Path(get_upload_folder()) / "0a1b2c" / "photo.png"
    extracted = Path(tempfile.gettempdir()) / "zsp-eval-abc" / "dog" / "2.png"
    message = public(f"'{upload}' and '{extracted}' failed; model /models/clip-b32 too; repo {ROOT}/app.py")
    assert message == "'photo.png' and 'dog/2.png' failed; model clip-b32 too; repo app.py"


def test_llm_endpoint_and_secrets_never_shown() -> None:
    llm = LLMConfig(base_url="http://bob:pa55word@10.0.0.7:8000/v1", api_key="sk-live-abcdef123456")
    public = public_text_for({}, llm)
    text = public(f"LLM endpoint {llm.endpoint} answered 500: key sk-live-abcdef123456, auth "
                  f"{llm.auth_headers['Authorization']}, url {llm.base_url}")
    assert text.startswith("The language-model server answered 500")
    for leak in ("10.0.0.7", "pa55word", "sk-live", llm.auth_headers["Authorization"].split()[1]):
        assert leak not in text


def _calls(source: str, names: set[str]) -> list[str]:
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in names \
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "gr":
            found.append(f"gr.{node.func.attr} at line {node.lineno}")
    return found


def test_every_pop_up_goes_through_messages() -> None:
    """A panel calling gr.Error/gr.Warning/gr.Info directly could show unescaped text."""
    offenders = {}
    for path in [ROOT / "app.py", *sorted((ROOT / "components").rglob("*.py"))]:
        if path.name == "messages.py":
            continue
        calls = _calls(path.read_text(encoding="utf-8"), {"Error", "Warning", "Info"})
        if calls:
            offenders[str(path.relative_to(ROOT))] = calls
    assert offenders == {}


def test_hostile_class_names_in_the_status_line_and_an_imported_list(tmp_path: Path) -> None:
    hostile = HOSTILE[0]
    status = class_status(f"{hostile}\n{hostile.upper()}")  # a duplicate: the message quotes the name
    assert "twice" in status or "duplicate" in status.lower()
    _no_markup(status)
    listed = tmp_path / "classes.txt"
    listed.write_text(f"{HOSTILE[1]}\n{HOSTILE[1]}\n", encoding="utf-8")
    with pytest.raises(gr.Error) as caught:
        _import_list(str(listed))
    _no_markup(caught.value.message)
    assert "&lt;a href" in caught.value.message


def test_hostile_json_keys_in_an_imported_descriptions_file(tmp_path: Path) -> None:
    path = tmp_path / "cupl.json"
    path.write_text(json.dumps({HOSTILE[0]: "not a list", HOSTILE[2]: 3}), encoding="utf-8")
    with pytest.raises(gr.Error) as caught:
        _import(str(path))
    _no_markup(caught.value.message)
    assert "&lt;img" in caught.value.message


def test_hostile_zip_entry_names_and_no_server_path_in_zip_errors(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(f"{HOSTILE[0]}/../../x.png", b"data")
    with pytest.raises(gr.Error) as caught:
        _load_zip(str(archive), "", FILES, "session")
    _no_markup(caught.value.message)
    assert "climbs out" in caught.value.message
    empty = tmp_path / "notes.zip"
    with zipfile.ZipFile(empty, "w") as zipped:
        zipped.writestr("readme.txt", b"no images here")
    with pytest.raises(gr.Error) as caught:
        _load_zip(str(empty), "", FILES, "session")
    assert "notes.zip" in caught.value.message
    assert get_upload_folder() not in caught.value.message and tempfile.gettempdir() not in caught.value.message


def test_gradio_renders_pop_up_messages_as_html() -> None:
    """The reason for all of the above: Gradio says so in its own docstring."""
    doc = re.sub(r"\s+", " ", gr.Error.__init__.__doc__ or "")
    assert "Can be HTML, which will be rendered" in doc
