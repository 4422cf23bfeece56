"""Recommendations: for a user, similar to an item, and cold start from texts.

Ranking is CPU-bound: the GET endpoints rank on the event loop or in the threadpool as the settings say
(`recsys.service.deps.read_endpoint`); free-text requests encode their texts in the threadpool first (the
encoder remembers query vectors, so the ranking's own encode calls are then hits).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from recsys.config.catalog import Resolved
from recsys.encoders.cached import CachedEncoder
from recsys.errors import ConfigError
from recsys.ranking.base import Filters
from recsys.recommender import RecommendationList
from recsys.service.answers import (
    ItemQuery,
    UserQuery,
    ads_for,
    ads_wanted,
    answer_key,
    answer_record,
    recommend_for_user,
    render,
    similar_to_item,
)
from recsys.service.deps import CatalogDep, SettingsDep, StoreDep, TenantDep, check_k, read_endpoint
from recsys.service.replay import Offer, offer
from recsys.service.schemas import RecommendationsOut, TextRequest, error_responses
from recsys.service.settings import Settings
from recsys.service.tenants import Served

router = APIRouter(prefix="/v1", tags=["recommendations"], responses=error_responses(401, 403, 422, 503))

UserId = Annotated[str, Path(min_length=1, max_length=256)]
K = Annotated[int, Query(ge=1, description="How many results (at most the server's max_k).")]


def _weights(raw: str | None) -> dict[str, float] | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"weights must be a JSON object such as {{\"popularity\": 0.5}}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError("weights must be a JSON object such as {\"popularity\": 0.5}")
    return data


def _offer(request: Request, served: Served, resolved: Resolved, q: UserQuery | ItemQuery, value: object,
           answer: RecommendationList, tenant: str, settings: Settings, n_ads: int | None) -> None:
    """Offer the response for replay (`recsys.service.replay`) when it is a pure function of the cached
    answer: cached at all, and no ads (they are matched afresh on every request)."""
    key = answer_key(resolved, q)
    if key is None or ads_wanted(served, n_ads, settings.ads_per_answer) > 0:
        return
    record = answer_record(answer, resolved, tenant) if settings.log_answers else None
    offer(request, Offer(served, value, lambda seq: served.answers.answer(key, seq, served.feed.watermark),
                         q.user_id if isinstance(q, UserQuery) else None, record))


@router.get("/users/{user_id}/recommendations", response_model=RecommendationsOut, responses=error_responses(404))
@read_endpoint
def user_recommendations(
    request: Request, user_id: UserId, tenant: TenantDep, store: StoreDep, catalog: CatalogDep, settings: SettingsDep,
    k: K = 10,
    category: Annotated[str | None, Query(max_length=200)] = None,
    min_price: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
    max_price: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
    exclude_seen: bool = True,
    diversity: Annotated[float | None, Query(ge=0, le=1, allow_inf_nan=False,
                                             description="MMR diversity, 0 = pure relevance")] = None,
    explain: bool = False,
    config: Annotated[str | None, Query(max_length=100, description="A named blend config")] = None,
    experiment: Annotated[str | None, Query(max_length=100, description="Assign an arm of this experiment")] = None,
    weights: Annotated[str | None, Query(max_length=1000, description="Inline blend weights as JSON")] = None,
    ads: Annotated[int | None, Query(ge=0, le=20, description="Ads beside the results (default: server's)")] = None,
) -> Response:
    served = tenant.served  # one index version for the whole request, even across a hot swap
    resolved = catalog.resolve(served.art.config, user_id=user_id, name=config, experiment=experiment,
                               weights=_weights(weights), diversity=diversity)
    q = UserQuery(user_id, check_k(k, settings), Filters(category=category, min_price=min_price, max_price=max_price),
                  exclude_seen, explain=explain)
    found = recommend_for_user(served, tenant.name, store, q, resolved, max_user_events=settings.max_user_events)
    matched = ads_for(served, found.answer, ads, settings.ads_per_answer, user=found)
    _offer(request, served, resolved, q, found, found.answer, tenant.name, settings, ads)
    return render(found.answer, resolved, tenant.name, explain=explain, log=settings.log_answers, ads=matched)


@router.get("/items/{product_id}/similar", response_model=RecommendationsOut, responses=error_responses(404))
@read_endpoint
def similar_items(
    request: Request, product_id: Annotated[str, Path(min_length=1, max_length=256)], tenant: TenantDep,
    catalog: CatalogDep, settings: SettingsDep, k: K = 10,
    category: Annotated[str | None, Query(max_length=200)] = None,
    config: Annotated[str | None, Query(max_length=100)] = None, explain: bool = False,
    ads: Annotated[int | None, Query(ge=0, le=20, description="Ads for this product page")] = None,
) -> Response:
    served = tenant.served
    resolved = catalog.resolve(served.art.config, name=config)
    q = ItemQuery(product_id, check_k(k, settings), Filters(category=category))
    answer = similar_to_item(served, q, resolved)
    matched = ads_for(served, answer, ads, settings.ads_per_answer, item_id=product_id)
    _offer(request, served, resolved, q, answer, answer, tenant.name, settings, ads)
    return render(answer, resolved, tenant.name, explain=explain, log=settings.log_answers, ads=matched)


def _texts_to_encode(body: TextRequest, request: Request, tenant: TenantDep, store: StoreDep, catalog: CatalogDep,
                     settings: SettingsDep) -> Callable[[], object] | None:
    """Encoding the request's texts as the ranking asks for them (stripped for a text query or a user's
    fallback; for a user, also as sent, for the profile), or None when the query cache already holds them all."""
    texts = sorted({v for raw in body.texts if raw.strip()
                    for v in ((raw, raw.strip()) if body.user_id else (raw.strip(),))})
    encoder = tenant.served.encoder
    if isinstance(encoder, CachedEncoder):
        texts = encoder.missing(texts, "query")
    return functools.partial(encoder.encode, texts, kind="query") if texts else None


@router.post("/recommendations", response_model=RecommendationsOut, responses=error_responses(413))
@functools.partial(read_endpoint, thread_work=_texts_to_encode)
def text_recommendations(body: TextRequest, request: Request, tenant: TenantDep, store: StoreDep,
                         catalog: CatalogDep, settings: SettingsDep) -> Response:
    """Cold start: `{"texts": [...]}` ranks by the texts; `{"user_id": ...}` (optionally with texts) answers
    for the user, falling back to the texts and then to popular items when the user is unknown."""
    served = tenant.served
    resolved = catalog.resolve(served.art.config, user_id=body.user_id, name=body.config,
                               experiment=body.experiment, weights=body.weights, diversity=body.diversity)
    filters = Filters(category=body.category, min_price=body.min_price, max_price=body.max_price)
    k = check_k(body.k, settings)
    if body.user_id:
        q = UserQuery(body.user_id, k, filters, body.exclude_seen, tuple(body.texts), on_unknown="fallback",
                      explain=body.explain)
        found = recommend_for_user(served, tenant.name, store, q, resolved, max_user_events=settings.max_user_events)
        answer = found.answer
        matched = ads_for(served, answer, body.ads, settings.ads_per_answer, user=found, texts=body.texts)
    else:
        answer = served.recommender(resolved.config).for_text(body.texts, k, filters=filters)
        matched = ads_for(served, answer, body.ads, settings.ads_per_answer, texts=body.texts)
    return render(answer, resolved, tenant.name, explain=body.explain, log=settings.log_answers, ads=matched)
