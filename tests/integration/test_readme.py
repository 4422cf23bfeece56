"""Every runnable block of the README runs against the shipped sample built with the real encoder, so the docs
cannot drift from the code (slow: servers start with the real model).

Blocks run in document order in one scratch working directory (`readme_session.Workspace`). A command passes
when it exits 0 and its output is sane: JSON where it asks for JSON (`--json`, every curl but `/metrics`),
with no `error` key and, where it has `results`, at least one. A Python block runs statement by statement;
each expression whose value has `results` must have some. Which blocks run and how the others are checked
(synopses against the real parser) is in tests/readme_blocks.py and tests/unit/test_readme_docs.py.
"""

from __future__ import annotations

import ast
import contextlib
import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..conftest import REPO
from ..readme_blocks import DOCS, Block, read_blocks, run_commands
from .readme_session import Ran, Workspace

pytestmark = pytest.mark.slow

RUNNABLE = [b for doc in DOCS for b in read_blocks(REPO / doc, REPO) if b.kind == "run"]


@pytest.fixture(scope="module")
def workspace(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    ws = Workspace.create(tmp_path_factory.mktemp("readme"), sample_index)
    try:
        yield ws
    finally:
        ws.close()


def _expects_json(ran: Ran) -> bool:
    argv = shlex.split(ran.command)
    if argv[0] == "curl":
        return not any(a.endswith("/metrics") for a in argv)
    return "--json" in argv


def check_output(ran: Ran) -> Any:
    """The parsed JSON body (None for text output) after asserting the command worked."""
    assert ran.rc == 0, f"`{ran.command}` exited {ran.rc}:\n{ran.stderr[-3000:]}\n{ran.stdout[-1000:]}"
    assert "error:" not in ran.stderr, f"`{ran.command}` reported:\n{ran.stderr[-3000:]}"
    if not _expects_json(ran):
        if ran.command.startswith("curl"):  # /metrics: the Prometheus text format
            assert "# TYPE" in ran.stdout, f"`{ran.command}` answered:\n{ran.stdout[:2000]}"
        return None
    try:
        body = json.loads(ran.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"`{ran.command}` printed no JSON ({exc}):\n{ran.stdout[:2000]}") from exc
    if isinstance(body, dict):
        assert "error" not in body, f"`{ran.command}` answered an error: {body}"
        assert body.get("results", [None]), f"`{ran.command}` answered no results: {body}"
    return body


def run_python(block: Block, root: Path) -> list[Any]:
    """Run the block statement by statement in `root`; return the values of its expression statements."""
    values = []
    namespace: dict[str, Any] = {"__name__": "readme"}
    with contextlib.chdir(root):
        for node in ast.parse(block.text, block.where).body:
            if isinstance(node, ast.Expr):
                values.append(eval(compile(ast.Expression(node.value), block.where, "eval"), namespace))
            else:
                exec(compile(ast.Module([node], []), block.where, "exec"), namespace)
    return values


@pytest.mark.parametrize("block", RUNNABLE, ids=[f"{b.where}-{b.lang}" for b in RUNNABLE])
def test_readme_block_runs(block: Block, workspace: Workspace):
    if block.lang == "python":
        for value in run_python(block, workspace.root):
            if hasattr(value, "results"):
                assert value.results, f"{block.where}: an answer without results: {value}"
        return
    for command in run_commands(block.text):
        check_output(workspace.run(command))
    workspace.settle()


def test_ads_answers_say_why_other_campaigns_were_excluded(workspace: Workspace):
    """The README's promise: an ads answer lists why other candidates were excluded, from `recsys ads match
    --json` and from an explained HTTP answer of a server with the sample's campaigns (one is paused)."""
    shown = [c for b in RUNNABLE if b.lang == "bash" for c in run_commands(b.text)
             if "ads match" in c.text and "--json" in c.text]
    assert shown, "the README runs no `recsys ads match … --json`"
    ran = next((r for r in workspace.history if r.command == shown[0].text), None) or workspace.run(shown[0])
    assert check_output(ran)["ads_excluded"]["outback-spring-steak"] == "paused"
    server = workspace.open_server(with_option="--campaigns")
    body = httpx.get(server.base + "/v1/users/A1U1G73EI5IRZF/recommendations",
                     params={"k": 5, "explain": "true"}, timeout=60).json()
    assert body["ads"], body
    assert {"campaign_id": "outback-spring-steak", "reason": "paused"} in body["ads_excluded"]
