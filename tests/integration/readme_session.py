"""A scratch working directory in which the README's runnable blocks run as written, against the shipped sample.

The directory looks like the repository root to a command: `.venv`, `data/` and `pipelines/` are links to the
repository's, and `indexes/gift_cards` is a copy of the session's sample index, so `recsys build` or
`POST /v1/admin/reload` change the copy and never the repository.

- `recsys serve …` starts a real server process on a free loopback port (the README's `--port` is replaced),
  waited for once the block has run. The newest open-mode one (no `--keys`) stays up for later blocks; `$B`
  (the README's base URL) points to it, and one is started when a block uses `$B` before any.
- Other `recsys …` commands run through the console script's own entry point (`recsys.cli.main:main`) in this
  process with the same argv and working directory: a fresh process would spend ~15 s of the 2 cores
  importing sentence-transformers and loading the encoder again. `RECSYS_README_SUBPROCESS=1` runs them as
  processes instead.
- Anything else (`curl …`, `python pipelines/…`) runs under bash with `.venv/bin` first on PATH.
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import httpx

from ..conftest import REPO
from ..readme_blocks import Command

__all__ = ["Ran", "Server", "Workspace"]

RECSYS = ("recsys", ".venv/bin/recsys")
SAMPLE_INDEX = Path("indexes/gift_cards")


@dataclass(frozen=True)
class Ran:
    command: str
    rc: int
    stdout: str
    stderr: str


@dataclass
class Server:
    argv: list[str]
    proc: subprocess.Popen
    base: str
    log: Path
    ready: bool = False

    @property
    def open_mode(self) -> bool:
        return "--keys" not in self.argv

    def wait_ready(self, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready:
            if self.proc.poll() is not None:
                raise AssertionError(f"`{shlex.join(self.argv)}` exited {self.proc.returncode}:\n"
                                     f"{self.log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                self.ready = httpx.get(self.base + "/readyz", timeout=2.0).status_code == 200
            if time.monotonic() > deadline:
                raise AssertionError(f"`{shlex.join(self.argv)}` was not ready after {timeout:.0f} s")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Workspace:
    root: Path
    servers: list[Server] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    history: list[Ran] = field(default_factory=list)

    @classmethod
    def create(cls, root: Path, index: Path) -> Workspace:
        for name in (".venv", "data", "pipelines"):
            (root / name).symlink_to(REPO / name)
        shutil.copytree(index, root / SAMPLE_INDEX, symlinks=True)
        return cls(root)

    @property
    def env(self) -> dict[str, str]:
        path = f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, "PATH": path, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "TOKENIZERS_PARALLELISM": "false", **self.variables}

    def run(self, command: Command) -> Ran:
        argv = shlex.split(command.text)
        name, _, value = command.text.partition("=")
        if len(argv) == 1 and "=" in command.text and name.isidentifier():
            # The README's base URL becomes the URL of a real server here.
            self.variables[name] = self.open_server().base if name == "B" else value
            ran = Ran(command.text, 0, "", "")
        elif argv[0] in RECSYS and argv[1:2] == ["serve"]:
            self.start_server(argv)
            ran = Ran(command.text, 0, "", "")
        elif argv[0] in RECSYS and os.environ.get("RECSYS_README_SUBPROCESS") != "1":
            ran = self._in_process(command.text, argv[1:])
        else:
            if "$B" in command.text and "B" not in self.variables:
                self.variables["B"] = self.open_server().base
            r = subprocess.run(["bash", "-c", command.text], cwd=self.root, env=self.env, capture_output=True,
                               text=True, timeout=600)
            ran = Ran(command.text, r.returncode, r.stdout, r.stderr)
        self.history.append(ran)
        return ran

    def _in_process(self, text: str, args: list[str]) -> Ran:
        from recsys.cli.main import main

        out, err = io.StringIO(), io.StringIO()
        rc = 0
        with (contextlib.chdir(self.root), mock.patch.object(sys, "argv", ["recsys", *args]),
              contextlib.redirect_stdout(out), contextlib.redirect_stderr(err)):
            try:
                main()
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return Ran(text, rc, out.getvalue(), err.getvalue())

    def start_server(self, argv: list[str]) -> Server:
        port = free_port()
        argv = list(argv)
        if "--port" in argv:
            argv[argv.index("--port") + 1] = str(port)
        else:
            argv += ["--port", str(port)]
        log = self.root / f"serve-{port}.log"
        with log.open("w") as sink:
            proc = subprocess.Popen(argv, cwd=self.root, env=self.env, stdout=sink, stderr=subprocess.STDOUT)
        server = Server(argv, proc, f"http://127.0.0.1:{port}", log)
        self.servers.append(server)
        return server

    def open_server(self, *, with_option: str | None = None) -> Server:
        """The newest open-mode server (with `with_option` among its arguments), started if there is none."""
        for server in reversed(self.servers):
            if server.open_mode and (with_option is None or with_option in server.argv) and server.proc.poll() is None:
                break
        else:
            extra = [with_option, "data/amazon2018_gift_cards/campaigns.jsonl"] if with_option == "--campaigns" else []
            server = self.start_server([".venv/bin/recsys", "serve", "--index", str(SAMPLE_INDEX), *extra])
        server.wait_ready()
        return server

    def settle(self) -> None:
        """After a block: every server it started must be ready; keep only the newest open-mode one."""
        for server in self.servers:
            server.wait_ready()
        keep = next((s for s in reversed(self.servers) if s.open_mode), None)
        for server in self.servers:
            if server is not keep:
                server.stop()
        self.servers = [keep] if keep is not None else []
        if keep is None:
            self.variables.pop("B", None)
        else:
            self.variables["B"] = keep.base

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers = []
