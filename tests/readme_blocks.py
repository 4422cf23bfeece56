"""The fenced code blocks of a Markdown file, classified, and the shell commands inside them.

Every fenced block is one of:

- `run`: executed against the shipped sample (tests/integration/test_readme.py). Unmarked ```bash and
  ```python blocks are `run`; any other unmarked block is an error, so new docs cannot escape the runner.
- `synopsis`: commands with placeholders (`DIR`, `[--optional]`, `a|b`); not run, but every subcommand, flag
  and choice shown must be accepted by the real command line (tests/readme_cli.py).
- `blend-config`: a JSON blend config, parsed by recsys's own config parser.
- `skip (reason)`: neither run nor checked, for a reason written in the marker.

A marker is an HTML comment on the line right before the fence, so it does not show in rendered Markdown:
`<!-- readme: synopsis -->`, `<!-- readme: skip (needs a PostgreSQL server) -->`.

In a runnable command, `[--flag value]` groups are optional arguments: the command runs without them, and
they are checked against the command line like a synopsis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DOCS", "Block", "Command", "KINDS", "read_blocks", "parse_blocks", "unclassified", "run_commands",
           "synopsis_commands", "flags_of"]

#: The Markdown files whose blocks are classified, checked and run (benchmarks/README.md records how
#: measurements were taken, with hour-long runs and data that is not shipped, so it is left out).
DOCS = ("README.md", "indexes/README.md", "data/amazon2018_gift_cards/README.md")
KINDS = ("run", "synopsis", "blend-config", "skip")
RUNNABLE_LANGS = ("bash", "python")

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)[ \t]*$")
_MARKER = re.compile(r"^[ \t]*<!--[ \t]*readme:[ \t]*(?P<kind>[\w-]+)[ \t]*(?:\((?P<reason>[^)]*)\))?[ \t]*-->[ \t]*$")
_ANY_MARKER = re.compile(r"^[ \t]*<!--[ \t]*readme:")
#: A long or short option as written in a command: `--events-db`, `-k` (not the `-` inside `cold-start`).
_FLAG = re.compile(r"(?<![\w-])(--[A-Za-z][\w-]*|-[A-Za-z])(?![\w-])")


@dataclass(frozen=True)
class Block:
    file: str
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    kind: str  # one of KINDS, or "" when unmarked and not runnable
    reason: str = ""
    problem: str = ""  # why the block's marker or fence is invalid

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Command:
    text: str  # what runs: optional `[--…]` groups removed, continuations joined, comments dropped
    line: int  # of its first line inside the block, 1-based
    optional: tuple[str, ...] = field(default=())  # the `[--…]` groups, without brackets


def parse_blocks(markdown: str, file: str) -> list[Block]:
    lines = markdown.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            if _ANY_MARKER.search(lines[i]) and not (i + 1 < len(lines) and _FENCE.match(lines[i + 1])):
                blocks.append(Block(file, i + 1, "", "", "", problem="a readme marker must be the line right "
                                                                      "before a fenced block"))
            i += 1
            continue
        indent, fence, lang = m["indent"], m["fence"], m["lang"].lower()
        end = i + 1
        while end < len(lines) and not (lines[end].strip().startswith(fence[0] * len(fence))
                                        and not lines[end].strip().strip(fence[0])):
            end += 1
        body = "\n".join(ln[len(indent):] if ln.startswith(indent) else ln.lstrip() for ln in lines[i + 1:end])
        blocks.append(_classify(file, i + 1, lang, body, lines[i - 1] if i else ""))
        i = end + 1
    return blocks


def _classify(file: str, line: int, lang: str, text: str, before: str) -> Block:
    marker = _MARKER.match(before)
    if marker is None:
        if _ANY_MARKER.search(before):
            return Block(file, line, lang, text, "", problem=f"malformed readme marker {before.strip()!r}")
        return Block(file, line, lang, text, "run" if lang in RUNNABLE_LANGS else "")
    kind, reason = marker["kind"], (marker["reason"] or "").strip()
    if kind not in KINDS:
        return Block(file, line, lang, text, "", problem=f"unknown readme marker kind {kind!r} (known: {KINDS})")
    if kind == "skip" and not reason:
        return Block(file, line, lang, text, "", problem="`readme: skip` needs a reason: skip (why)")
    if kind == "run" and lang not in RUNNABLE_LANGS:
        return Block(file, line, lang, text, "", problem=f"only {RUNNABLE_LANGS} blocks can run, not {lang!r}")
    return Block(file, line, lang, text, kind, reason)


def read_blocks(path: Path, root: Path) -> list[Block]:
    return parse_blocks(path.read_text(encoding="utf-8"), str(path.relative_to(root)))


def unclassified(blocks: list[Block]) -> list[str]:
    """One message per block that is neither runnable nor marked, or whose marker is invalid."""
    out = []
    for b in blocks:
        if b.problem:
            out.append(f"{b.where}: {b.problem}")
        elif not b.kind:
            out.append(f"{b.where}: a ```{b.lang or '(no language)'} block is not runnable; mark it with "
                       "<!-- readme: synopsis --> or <!-- readme: skip (why) --> on the line before the fence")
    return out


def run_commands(text: str) -> list[Command]:
    """Split a shell block the way bash would: quotes may span lines, `\\` + newline continues a line,
    `#` starts a comment at a word start, and newlines and `;` end a command."""
    commands: list[Command] = []
    buf: list[str] = []
    optional: list[str] = []
    quote = ""
    line = start = 1
    i = 0

    def flush() -> None:
        cmd = re.sub(r"[ \t]+", " ", "".join(buf)).strip()
        if cmd:
            commands.append(Command(cmd, start, tuple(optional)))
        buf.clear()
        optional.clear()

    while i < len(text):
        c = text[i]
        at_word_start = not buf or buf[-1] in " \t"
        if not buf or not "".join(buf).strip():
            start = line
        if quote:
            buf.append(c)
            if c == "\\" and quote == '"' and i + 1 < len(text):
                buf.append(text[i + 1])
                i += 1
            elif c == quote:
                quote = ""
        elif c == "\\" and text[i + 1:i + 2] == "\n":
            buf.append(" ")
            i += 1
        elif c in "'\"":
            quote = c
            buf.append(c)
        elif c == "#" and at_word_start:
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        elif c == "[" and at_word_start and text[i + 1:i + 2] == "-":
            close = text.index("]", i)
            optional.append(text[i + 1:close].strip())
            i = close
        elif c in "\n;":
            flush()
        else:
            buf.append(c)
        if c == "\n" or (c == "\\" and text[i:i + 1] == "\n"):
            line += 1
        i += 1
    if quote:
        raise ValueError(f"unterminated {quote} quote in a shell block")
    flush()
    return commands


def synopsis_commands(text: str) -> list[Command]:
    """Commands of a synopsis: an indented line continues the command above it (as does a trailing `\\`);
    `#` comments are dropped. Placeholders stay, brackets and all."""
    commands: list[Command] = []
    for n, raw in enumerate(text.splitlines(), 1):
        body = _strip_comment(raw)
        if not body.strip():
            continue
        continues = raw[:1] in " \t" or (commands and commands[-1].text.endswith("\\"))
        if continues and commands:
            prev = commands[-1]
            commands[-1] = Command(prev.text.rstrip("\\").rstrip() + " " + body.strip(), prev.line)
        else:
            commands.append(Command(body.strip(), n))
    return commands


def _strip_comment(line: str) -> str:
    quote = ""
    for i, c in enumerate(line):
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def flags_of(command: str) -> list[str]:
    """The options a command shows, outside quoted strings: `--index`, `-k`."""
    return _FLAG.findall(re.sub(r"\"[^\"]*\"|'[^']*'", " ", command))
