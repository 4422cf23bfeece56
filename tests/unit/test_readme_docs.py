"""The docs' code blocks, without running them: every fenced block is runnable or explicitly marked, every
command shown (synopses and the optional `[--…]` arguments of runnable commands) is accepted by the real
command line, HTTP app or Makefile, and blend configs parse. The runnable blocks themselves run in
tests/integration/test_readme.py. The parser and checker are pinned on small synthetic documents."""

from __future__ import annotations

import importlib.metadata
import json

import pytest

from recsys.config.blend import parse_config

from ..conftest import REPO
from ..readme_blocks import DOCS, parse_blocks, read_blocks, run_commands, synopsis_commands, unclassified
from ..readme_cli import check_command

BLOCKS = [b for doc in DOCS for b in read_blocks(REPO / doc, REPO)]
SHELL = [b for b in BLOCKS if b.lang == "bash" and b.kind in ("run", "synopsis")]


@pytest.mark.parametrize("doc", DOCS)
def test_every_fenced_block_is_runnable_or_marked(doc: str):
    assert unclassified(read_blocks(REPO / doc, REPO)) == []


@pytest.mark.parametrize("block", SHELL, ids=[f"{b.where}-{b.kind}" for b in SHELL])
def test_commands_shown_are_accepted_by_the_real_cli(block):
    """Synopses in full; runnable commands with their optional `[--…]` arguments, which do not run."""
    commands = synopsis_commands(block.text) if block.kind == "synopsis" else run_commands(block.text)
    assert commands
    problems = [f"{block.file}:{block.line + c.line}: {p}" for c in commands
                for p in check_command(" ".join((c.text, *c.optional)), REPO)]
    assert problems == []


def test_blend_configs_parse_and_python_blocks_compile():
    configs = [b for b in BLOCKS if b.kind == "blend-config"]
    assert configs
    for b in configs:
        parse_config(json.loads(b.text), b.where)
    for b in (b for b in BLOCKS if b.lang == "python"):
        compile(b.text, b.where, "exec")


def test_the_recsys_console_script_is_the_entry_point_run_in_process():
    """tests/integration/readme_session.py runs `recsys …` through `recsys.cli.main:main` in-process."""
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="recsys")
    assert script.value == "recsys.cli.main:main"


# -- the parser and the checker on synthetic documents --------------------------------------------------------

DOC = """\
Intro.

```bash
recsys inspect --index i
```

<!-- readme: synopsis -->
```bash
recsys build --data DIR --index INDEX
```

```json
{"id": "x"}
```

<!-- readme: skip -->
```
tree
```

<!-- readme: bogus -->
```bash
echo
```

<!-- readme: skip (a layout) -->

```
dangling marker above: a blank line separates it from the fence
```
"""


def test_unmarked_and_badly_marked_blocks_are_reported():
    blocks = parse_blocks(DOC, "doc.md")
    assert [(b.lang, b.kind) for b in blocks[:2]] == [("bash", "run"), ("bash", "synopsis")]
    problems = "\n".join(unclassified(blocks))
    assert "doc.md:12: a ```json block is not runnable" in problems
    assert "doc.md:17: `readme: skip` needs a reason" in problems
    assert "doc.md:22: unknown readme marker kind 'bogus'" in problems
    assert "doc.md:26: a readme marker must be the line right before a fenced block" in problems
    assert "doc.md:28: a ```(no language) block is not runnable" in problems
    marked = parse_blocks("  <!-- readme: skip (layout) -->\n  ```\n  x\n  ```\n", "d.md")
    assert unclassified(marked) == [] and marked[0].reason == "layout" and marked[0].text == "x"


def test_shell_blocks_split_like_bash():
    text = ("# a comment\n"
            "B=http://h:1\n"
            "curl -s -X POST $B/v1/events -d '{\"events\": [\n  {\"a\": \"# not a comment\"}]}'   # trailing\n"
            "curl -s \"$B/healthz\"; curl -s \"$B/readyz\"\n"
            "recsys serve --index i \\\n    --keys k.json [--host 127.0.0.1] [--port 8000]\n")
    cmds = run_commands(text)
    assert [c.text for c in cmds] == [
        "B=http://h:1",
        "curl -s -X POST $B/v1/events -d '{\"events\": [\n {\"a\": \"# not a comment\"}]}'",
        'curl -s "$B/healthz"', 'curl -s "$B/readyz"',
        "recsys serve --index i --keys k.json"]
    assert [c.line for c in cmds] == [2, 3, 5, 5, 6]
    assert cmds[-1].optional == ("--host 127.0.0.1", "--port 8000")
    synopsis = synopsis_commands("recsys build --data DIR   # build\n      [--full]\n\nrecsys inspect --index I\n")
    assert [c.text for c in synopsis] == ["recsys build --data DIR [--full]", "recsys inspect --index I"]


@pytest.mark.parametrize(("command", "problem"), [
    ("recsys build --data DIR --index I [--no-such-flag]", "`recsys build` has no option --no-such-flag"),
    ("recsys frobnicate --index I", "`recsys` has no subcommand 'frobnicate'"),
    ("recsys build --data DIR [--engine local|spark]", "`recsys build --engine` does not accept 'spark'"),
    ("recsys build --data D --index I --ranker auto|best", "`recsys build --ranker` does not accept 'best'"),
    ("recsys ads match --index I --campaigns F (--user ID | --txt T)", "`recsys ads match` has no option --txt"),
    ("python pipelines/ratings_only.py --data D --bogus O", "`python pipelines/ratings_only.py` has no option --bogus"),
    ("python pipelines/nope.py --data D", "pipelines/nope.py does not exist"),
    ("curl -s $B/v1/users/u/recomendations", "GET /v1/users/u/recomendations: no such route"),
    ("curl -s -X DELETE $B/v1/events", "DELETE /v1/events: the route answers only ['POST']"),
    ("make demo frobnicate", "the Makefile has no target 'frobnicate'"),
    ("echo hello", "unknown program 'echo'"),
])
def test_a_wrong_command_is_caught(command: str, problem: str):
    problems = check_command(command, REPO)
    assert len(problems) == 1 and problem in problems[0], problems


def test_right_commands_pass():
    for command in ("recsys build --data DIR --index I [--engine local|dask] [--ranker blend|ltr]",
                    "recsys query --index I [-k 10] [--json] \"free text\" [\"more\" …]",
                    "recsys encoders [prepare --encoder NAME --engine torch|onnx-int8|all]",
                    "curl -s \"$B/v1/users/A1/recommendations?k=5\"", "curl -s -X POST $B/v1/recommendations -d '{}'",
                    "make demo test", "B=http://127.0.0.1:8000"):
        assert check_command(command, REPO) == [], command
