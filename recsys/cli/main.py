"""The `recsys` command line. Contract (stable; other tools call it):

    recsys build --data DIR --index INDEX_DIR [--encoder NAME] [--engine local|dask] [--full] [--ranker auto|blend|ltr]
    recsys rollback --index INDEX_DIR
    recsys finetune --data DIR [--out models/finetuned] [--split last-day] [--epochs 1]
    recsys recommend --index INDEX_DIR --user USER_ID [-k 10] [--json]
    recsys similar --index INDEX_DIR --item PRODUCT_ID [-k 10] [--json]
    recsys query --index INDEX_DIR [-k 10] [--json] "free text" ["more text" …]
    recsys inspect --index INDEX_DIR
    recsys encoders [prepare --encoder NAME --engine torch|onnx-int8|all]
    recsys profile --index INDEX_DIR --user USER_ID [--json]
    recsys serve --index INDEX_DIR [--host 127.0.0.1] [--port 8000] [--events-db FILE] [--config FILE] [--keys FILE]
    recsys keys create --keys FILE --tenant NAME [--admin]
    recsys ads match --index INDEX_DIR --campaigns FILE (--user ID | --text "..." | --item ID) [--json]
    recsys audience build --index INDEX_DIR --campaigns FILE --out DIR [--size N] [--min-score S]
                          [--holdout 0.1] [--max-per-user M] [--engine local|dask]
    recsys audience evaluate --data DIR --out OUT_DIR

Errors go to stderr with the exit code of their class (see recsys.errors).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.markup import escape

from recsys.cli.render import err, print_json, print_results
from recsys.config import BlendConfig, load_config
from recsys.errors import RecsysError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="recsys: embedding-based recommendations for e-commerce.")

IndexOpt = Annotated[Path, typer.Option("--index", help="Index folder (root with `current`, or one version).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object for scripts.")]
KOpt = Annotated[int, typer.Option("-k", "--k", min=1, max=1000, help="How many results.")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Blend config (.json/.toml) to use.")]
CategoryOpt = Annotated[str | None, typer.Option("--category", help="Only products whose category contains this.")]
MinPriceOpt = Annotated[float | None, typer.Option("--min-price", min=0)]
MaxPriceOpt = Annotated[float | None, typer.Option("--max-price", min=0)]
DiversityOpt = Annotated[float | None, typer.Option("--diversity", min=0.0, max=1.0,
                                                       help="MMR diversity 0..1 (0 = pure relevance).")]


def _recommender(index: Path, config: Path | None, diversity: float | None = None):
    from recsys.index import set_search_threads
    from recsys.recommender import Recommender

    set_search_threads(1)

    from recsys.config import BlendCatalog

    cfg = load_config(config) if config else None
    rec = Recommender.load(index, config=cfg)
    # The same resolution as the HTTP API's (named configs, experiments and diversity → MMR λ).
    resolved = BlendCatalog().resolve(rec.config, diversity=diversity)
    return rec if resolved.config.id == rec.config.id else rec.with_config(resolved.config)


def _filters(**given: Any) -> Any:
    """`Filters(**given)`, imported here: the ranking package loads the recommender's libraries, which
    commands that do not rank (`recsys serve`'s supervisor among them) should not carry."""
    from recsys.ranking.base import Filters

    return Filters(**given)


def _emit(answer, as_json: bool, heading: str) -> None:
    if as_json:
        print_json(answer.to_dict())
    else:
        print_results(answer, heading)


def _memory_budget(value: str | None) -> str | None:
    from recsys.index.choose import parse_bytes

    if value is not None:
        try:
            parse_bytes(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
    return value


@app.command()
def build(
    data: Annotated[Path, typer.Option("--data", help="Dataset folder in the canonical schema.")],
    index: IndexOpt,
    encoder: Annotated[str, typer.Option("--encoder", help="Encoder name (see `recsys encoders`).")
                       ] = "all-MiniLM-L6-v2",
    config: ConfigOpt = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Ignore events after this UTC time.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
    encoder_engine: Annotated[Literal["torch", "onnx-int8", "openvino", "auto"], typer.Option(
        "--encoder-engine", help="Run the encoder with torch (CUDA fp16 when present), ONNX int8 or OpenVINO "
        "(optional extra) on CPU; auto = the faster CPU engine for this CPU that `recsys encoders prepare` has "
        "built, else torch.")] = "torch",
    engine: Annotated[Literal["local", "dask"], typer.Option(
        "--engine", help="Encode in this process (local) or on a Dask cluster (dask).")] = "local",
    dask_address: Annotated[str | None, typer.Option(
        "--dask-address", help="Dask scheduler address; default: a LocalCluster (2 workers × 1 thread).")] = None,
    full: Annotated[bool, typer.Option(
        "--full", help="Re-encode everything instead of reusing the current version's unchanged vectors.")] = False,
    target_recall: Annotated[float, typer.Option(
        "--target-recall", min=0.5, max=1.0,
        help="ANN auto-tuning target: recall@10 against exact search (≥ 50k items).")] = 0.95,
    ranker: Annotated[Literal["auto", "blend", "ltr"], typer.Option(
        "--ranker", help="auto: measure the blend, the tuned blend and the learned ranker on the last step of the "
                         "events and serve the winner; blend: the weighted blend; ltr: the LightGBM learned ranker.")
    ] = "auto",
    max_index_memory: Annotated[str | None, typer.Option(
        "--max-index-memory", callback=_memory_budget, metavar="SIZE",
        help="Memory budget of the index (e.g. 800M, 1G): only index types estimated to fit it are measured, "
             "so a large catalogue gets 8-bit codes (SQ8, HNSW32,SQ8, IVF…,SQ8) instead of float32 vectors; "
             "servers then also read the item vectors from those codes. Default: no budget.")] = None,
) -> None:
    """Validate DATA, encode products and histories, build the FAISS index and signals.

    By default only texts whose hash changed since the current version (same encoder) are encoded."""
    import pandas as pd

    from recsys.build.pipeline import BuildOptions, build_index
    from recsys.cli.ops import build_encoder
    from recsys.data.dataset import load_dataset
    from recsys.index.choose import parse_bytes

    ds = load_dataset(data)
    err.print(f"[bold]validated[/] {len(ds.products):,} products, {len(ds.events):,} events from {data}")
    opts = BuildOptions(
        config=load_config(config) if config else BlendConfig(),
        as_of=pd.Timestamp(as_of, tz="UTC") if as_of else None,
        progress=not quiet,
        incremental=not full,
        target_recall=target_recall,
        ranker=ranker,
        max_memory_bytes=None if max_index_memory is None else parse_bytes(max_index_memory),
    )
    with build_encoder(encoder, engine, index, dask_address=dask_address, encoder_engine=encoder_engine) as enc:
        result = build_index(ds, index, enc, opts, log=lambda m: err.print(m))
    m = result.manifest
    err.print(
        f"[green]built[/] {result.path} — {m.index.count:,} items, {m.data.n_users_with_profile:,} user profiles, "
        f"{m.index.factory}, encode {m.encode_texts_per_s:.0f} texts/s, total {result.timings['total_s']:.1f}s"
    )
    err.print(f"lineage: {m.lineage.strategy}, {m.lineage.encoded:,} texts encoded, "
              f"{m.lineage.reused_vectors:,} vectors reused from {m.parent or 'nothing'}")


@app.command()
def recommend(
    index: IndexOpt,
    user: Annotated[str, typer.Option("--user", help="User id.")],
    k: KOpt = 10,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    category: CategoryOpt = None,
    min_price: MinPriceOpt = None,
    max_price: MaxPriceOpt = None,
    include_seen: Annotated[bool, typer.Option("--include-seen",
                                               help="Do not exclude items the user interacted with.")] = False,
    diversity: DiversityOpt = None,
    text: Annotated[list[str] | None, typer.Option("--text",
                                                   help="Cold-start text for unknown or empty users.")] = None,
    fallback: Annotated[bool, typer.Option(
        "--fallback", help="Unknown user: answer with text/popular instead of an error.")] = False,
) -> None:
    """Top-k products for a user, with score parts and reasons."""
    rec = _recommender(index, config, diversity)
    answer = rec.for_user(user, k, filters=_filters(category=category, min_price=min_price, max_price=max_price),
                          exclude_seen=not include_seen, texts=text or (),
                          on_unknown="fallback" if fallback else "raise")
    _emit(answer, as_json, f"Recommendations for user {user}")


@app.command()
def similar(
    index: IndexOpt,
    item: Annotated[str, typer.Option("--item", help="Product id.")],
    k: KOpt = 10,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    category: CategoryOpt = None,
) -> None:
    """Products similar to one product (text similarity + co-occurrence)."""
    rec = _recommender(index, config)
    answer = rec.similar_items(item, k, filters=_filters(category=category))
    _emit(answer, as_json, f"Similar to {item}")


@app.command()
def query(
    index: IndexOpt,
    texts: Annotated[list[str], typer.Argument(help="One or several free texts (past reviews, searches).")],
    k: KOpt = 10,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    category: CategoryOpt = None,
    min_price: MinPriceOpt = None,
    max_price: MaxPriceOpt = None,
) -> None:
    """Cold start: products for free texts."""
    rec = _recommender(index, config)
    answer = rec.for_text(texts, k, filters=_filters(category=category, min_price=min_price, max_price=max_price))
    _emit(answer, as_json, "Products for: " + " | ".join(t[:40] for t in texts))


@app.command()
def inspect(index: IndexOpt, as_json: JsonOpt = False,
            verify: Annotated[bool, typer.Option(
                "--verify", help="Also read every artifact (a full load), beyond the size and hash check "
                                 "every command does.")] = False) -> None:
    """Show the manifest of the current index version and its file sizes (after checking them)."""
    from recsys.index import Manifest, list_versions, resolve_version

    root = resolve_version(index)
    manifest = Manifest.load(root)
    manifest.verify(root)
    if verify:
        from recsys.artifacts import load_artifacts

        load_artifacts(root)
    sizes = {name: (root / name).stat().st_size for name in manifest.files}
    info = {"path": str(root), "versions": list_versions(root.parent), "manifest": manifest.model_dump(),
            "sizes_bytes": sizes, "total_bytes": sum(sizes.values()), "verified": True, "loaded": verify}
    if as_json:
        print_json(info)
        return
    from rich.pretty import Pretty

    from recsys.cli.render import out

    out.print(Pretty(info, expand_all=False))


from recsys.cli.encoders_cli import encoders_app as _encoders_app  # noqa: E402

app.add_typer(_encoders_app, name="encoders")

from recsys.cli.evaluate import evaluate as _evaluate, tune as _tune  # noqa: E402

app.command(name="evaluate")(_evaluate)
app.command(name="tune")(_tune)

from recsys.cli.serve import keys_app as _keys_app, serve as _serve  # noqa: E402

app.command(name="serve")(_serve)
app.add_typer(_keys_app, name="keys")

from recsys.cli.ads import ads_app as _ads_app  # noqa: E402

app.add_typer(_ads_app, name="ads")

from recsys.cli.audience import audience_app as _audience_app  # noqa: E402

app.add_typer(_audience_app, name="audience")

from recsys.cli.profile_cli import profile as _profile  # noqa: E402

app.command(name="profile")(_profile)

from recsys.cli.ops import rollback as _rollback  # noqa: E402

app.command(name="rollback")(_rollback)

from recsys.cli.finetune_cli import finetune as _finetune  # noqa: E402

app.command(name="finetune")(_finetune)


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        app()  # standalone: usage errors exit 2 with click's message
    except RecsysError as exc:
        # The message is text, not rich markup: "products[price]" must print as written.
        err.print(f"[red]error:[/] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
