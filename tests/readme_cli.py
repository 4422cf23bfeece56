"""Check a documented command against what really accepts it, without running it.

- `recsys …`: the subcommand path must exist in the real typer app, every `--flag` must be an option of
  that command, and choices shown for a choice option (`--engine local|dask`) must be among its choices.
- `python script.py …`: the script must exist and its `--help` must name every flag shown.
- `curl …`: the URL's path must be a route of the HTTP app, for the method used.
- `make target`: the Makefile must define the target.

Placeholders (`DIR`, `N`, `<tenant>`) are not checked; they are how a synopsis says "a value goes here".
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import typing
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from .readme_blocks import flags_of

__all__ = ["check_command", "recsys_problems"]

_ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=\S*$")


def _words(command: str) -> list[str]:
    """Bare words and flags of a synopsis, brackets and alternatives removed; quoted text becomes TEXT."""
    text = re.sub(r"\"[^\"]*\"|'[^']*'", " TEXT ", command)
    return [w for w in re.sub(r"[\[\]()]", " ", text).split() if w not in ("|", "…", "...")]


def check_command(command: str, repo: Path) -> list[str]:
    """What is wrong with `command` (empty when nothing is)."""
    words = _words(command)
    if not words:
        return []
    program = words[0]
    if program in ("recsys", ".venv/bin/recsys"):
        return recsys_problems(words[1:])
    if program in ("python", ".venv/bin/python"):
        return _script_problems(words[1:], command, repo)
    if program == "curl":
        return _curl_problems(shlex.split(command))
    if program == "make":
        return _make_problems(words[1:], repo)
    if _ASSIGNMENT.match(command.strip()):
        return []
    return [f"unknown program {program!r}: the README runner checks recsys, python scripts, curl and make"]


def _choices(param: object) -> tuple[str, ...] | None:
    """The allowed values of a choice option: click's `Choice`, or the `Literal` annotation typer keeps (its
    own parameters have no click type; the unit tests pin that a wrong choice is still caught)."""
    choices = getattr(getattr(param, "type", None), "choices", None)
    if choices is not None:
        return tuple(str(c) for c in choices)
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if typing.get_origin(annotation) is typing.Literal:
        return tuple(str(c) for c in typing.get_args(annotation))
    return None


def _is_placeholder(value: str) -> bool:
    return value.isupper() or value.startswith(("<", "$")) or value == "TEXT" or bool(re.fullmatch(r"[\d.]+", value))


def recsys_problems(words: list[str]) -> list[str]:
    """`words` follow `recsys`: the subcommand path, then flags and values."""
    import typer

    from recsys.cli.main import app

    cmd = typer.main.get_command(app)
    path = ["recsys"]
    params = list(cmd.params)
    i = 0
    while hasattr(cmd, "commands") and i < len(words) and not words[i].startswith("-"):
        sub = cmd.commands.get(words[i])
        if sub is None:
            return [f"`{' '.join(path)}` has no subcommand {words[i]!r} (it has {sorted(cmd.commands)})"]
        cmd, i = sub, i + 1
        path.append(words[i - 1])
        params += list(cmd.params)
    by_flag = {o: p for p in params for o in (*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ()))}
    problems = []
    rest = words[i:]
    for flag in flags_of(" ".join(rest)):
        if flag != "--help" and flag not in by_flag:
            problems.append(f"`{' '.join(path)}` has no option {flag}")
    for j, word in enumerate(rest[:-1]):
        param = by_flag.get(word)
        choices = None if param is None else _choices(param)
        if choices is None or rest[j + 1].startswith("-"):
            continue
        for value in rest[j + 1].split("|"):
            if not _is_placeholder(value) and value not in choices:
                problems.append(f"`{' '.join(path)} {word}` does not accept {value!r} (choices: {choices})")
    return problems


@cache
def _script_help(script: Path) -> str:
    r = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120,
                       cwd=script.parent)
    return r.stdout + r.stderr if r.returncode == 0 else ""


def _script_problems(words: list[str], command: str, repo: Path) -> list[str]:
    if not words or not words[0].endswith(".py"):
        return [f"`{command}`: expected `python SCRIPT.py …`"]
    script = repo / words[0]
    if not script.is_file():
        return [f"{words[0]} does not exist"]
    help_text = _script_help(script)
    if not help_text:
        return [f"`python {words[0]} --help` failed"]
    return [f"`python {words[0]}` has no option {flag}" for flag in flags_of(command)
            if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", help_text)]


@cache
def _routes() -> tuple[tuple[re.Pattern[str], frozenset[str]], ...]:
    from recsys.service import Settings, create_app

    app = create_app(Settings(index=Path("unused")))  # routes only: nothing is loaded before start-up
    return tuple((re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$"),
                  frozenset(m.upper() for m in ops)) for path, ops in app.openapi()["paths"].items())


def _curl_problems(tokens: list[str]) -> list[str]:
    urls = [t for t in tokens if "://" in t or t.startswith("$")]
    if not urls:
        return ["curl without a URL"]
    method = "POST" if {"-d", "--data"} & set(tokens) else "GET"
    if "-X" in tokens:
        method = tokens[tokens.index("-X") + 1].upper()
    path = urlsplit(re.sub(r"^\$\{?\w+\}?", "http://host", urls[0])).path
    for pattern, methods in _routes():
        if pattern.match(path):
            return [] if method in methods else [f"{method} {path}: the route answers only {sorted(methods)}"]
    return [f"{method} {path}: no such route in the HTTP app"]


def _make_problems(targets: list[str], repo: Path) -> list[str]:
    defined = set(re.findall(r"^([\w.-]+)\s*:(?!=)", (repo / "Makefile").read_text(), flags=re.M))
    return [f"the Makefile has no target {t!r}" for t in targets if not t.startswith("-") and t not in defined]
