"""What the endpoints compute, written against `Served`, `EventStore` and `Resolved` configs only:
recommendations that reflect ingested events, the user portrait, and the JSON body of an answer."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
from fastapi import Response

from recsys.ads.answer import ads_beside
from recsys.ads.matcher import AdAnswer
from recsys.artifacts import POSITION
from recsys.config.catalog import Resolved
from recsys.errors import UnknownUserError
from recsys.explain.portraits import portrait
from recsys.online.profiles import UserState, online_user
from recsys.ranking.base import Filters
from recsys.recommender import RecommendationList
from recsys.service.schemas import AdExclusion, ProfileOut, RecommendationsOut
from recsys.service.tenants import Served
from recsys.store import EventStore

__all__ = ["UserQuery", "UserAnswer", "ItemQuery", "answer_key", "recommend_for_user", "similar_to_item", "ads_for",
           "ads_wanted", "user_portrait", "portrait_key", "render", "answer_record", "answer_log"]

answer_log = logging.getLogger("recsys.service.answers")
T = TypeVar("T")


@dataclass(frozen=True)
class UserQuery:
    user_id: str
    k: int
    filters: Filters = Filters()
    exclude_seen: bool = True
    texts: tuple[str, ...] = ()
    #: "raise": unknown users are a 404; "fallback": answer from texts, else popular (cold start).
    on_unknown: str = "raise"
    explain: bool = False


def _state(served: Served, tenant: str, store: EventStore, user_id: str, resolved: Resolved, limit: int,
           seq: int) -> UserState | None:
    """The user's online state at their last stored event `seq` (None when they have no stored events)."""
    if not seq:
        return None
    key = (resolved.config.id, user_id)
    state = served.states.get(key, seq)
    if state is None:
        stored = store.user_events(tenant, user_id, limit=limit)
        state = online_user(user_id, served.art, stored, resolved.config, served.texts)
        served.states.put(key, seq, state)
    return state


@dataclass(frozen=True)
class UserAnswer:
    """The organic answer plus what ads are matched on: the profile vector and history positions used."""

    answer: RecommendationList
    vector: np.ndarray | None
    history_pos: np.ndarray


def recommend_for_user(served: Served, tenant: str, store: EventStore, q: UserQuery, resolved: Resolved,
                       *, max_user_events: int = 1000) -> UserAnswer:
    """`served` is read once per request by the caller (`tenant.served`), so a hot swap cannot tear it.

    The organic answer is reused from `served.answers` for the same request while neither the user's
    stored events nor the live counters moved (`recsys.online.cache` has the exact rule); ads are matched
    by the caller on every request, so budgets and frequency caps are never served from the cache.
    Requests with texts are not cached (their texts would be part of the key)."""
    seq = store.user_last_seq(tenant, q.user_id)  # one index probe; most users have no new events
    key = answer_key(resolved, q)
    return _reused(served, key, seq, lambda: _ranked(served, tenant, store, q, resolved, max_user_events, seq))


def answer_key(resolved: Resolved, q: UserQuery | ItemQuery) -> tuple[str, Hashable] | None:
    """Where `served.answers` keeps the answer to `q` under `resolved` (None: never cached, as requests with
    texts are not: their texts would be part of the key)."""
    if isinstance(q, UserQuery) and q.texts:
        return None
    return (resolved.config.id, q)


@dataclass(frozen=True)
class ItemQuery:
    product_id: str
    k: int
    filters: Filters = Filters()


def similar_to_item(served: Served, q: ItemQuery, resolved: Resolved) -> RecommendationList:
    """Items similar to one product, reused from `served.answers` like a user's answer (no user: seq 0)."""
    rec = served.recommender(resolved.config)
    return _reused(served, answer_key(resolved, q), 0,
                   lambda: rec.similar_items(q.product_id, q.k, filters=q.filters))


def _reused(served: Served, key: tuple[str, Hashable] | None, seq: int, compute: Callable[[], T]) -> T:
    """`compute()`, or what it gave for `key` before while still valid (None: never cached). The counters'
    watermark is read before computing, so an answer is stored with counters at least as new as it says."""
    if key is None:
        return compute()
    watermark = served.feed.watermark
    cached = served.answers.answer(key, seq, watermark)
    if cached is not None:
        return cast(T, cached)
    value = compute()
    served.answers.put(key, seq, (value, watermark))
    return value


def _ranked(served: Served, tenant: str, store: EventStore, q: UserQuery, resolved: Resolved,
            max_user_events: int, seq: int) -> UserAnswer:
    rec = served.recommender(resolved.config)
    state = _state(served, tenant, store, q.user_id, resolved, max_user_events, seq)
    if state is None:
        answer = rec.for_user(q.user_id, q.k, filters=q.filters, exclude_seen=q.exclude_seen, texts=q.texts,
                              on_unknown="fallback" if q.on_unknown == "fallback" else "raise", explain=q.explain)
        return UserAnswer(answer, served.art.user_vector(q.user_id), served.art.user_positions(q.user_id)[0])
    answer = rec.for_history(q.user_id, state.history, state.vector, q.k, filters=q.filters,
                             exclude_seen=q.exclude_seen, texts=q.texts, explain=q.explain)
    return UserAnswer(answer, state.vector, state.history[POSITION].to_numpy(np.int64))


def ads_wanted(served: Served, n_ads: int | None, default: int) -> int:
    """How many ads a request gets matched (0 when the tenant has no campaigns)."""
    return 0 if served.ads is None else (default if n_ads is None else n_ads)


def ads_for(served: Served, answer: RecommendationList, n_ads: int | None, default: int, *,
            user: UserAnswer | None = None, texts: Sequence[str] = (), item_id: str | None = None) -> AdAnswer:
    """The ads beside `answer` and why the other campaigns were excluded; none when the tenant has no
    campaigns or ads are off."""
    n = ads_wanted(served, n_ads, default)
    if served.ads is None or n <= 0:
        return AdAnswer([])
    rec = served.recommender(served.art.config)
    return ads_beside(served.ads, rec, answer, n_ads=n, user_vector=None if user is None else user.vector,
                      history_pos=None if user is None else user.history_pos, texts=texts, item_id=item_id)


def portrait_key(resolved: Resolved, user_id: str, top: int) -> tuple[str, str, int]:
    """Where `served.portraits` keeps a user's portrait."""
    return (resolved.config.id, user_id, top)


def user_portrait(served: Served, tenant: str, store: EventStore, user_id: str, resolved: Resolved,
                  *, max_user_events: int = 1000, top: int = 10) -> ProfileOut:
    """The user's portrait, reused from `served.portraits` until their next stored event or the TTL (it
    reads only their own events and the catalogue, never the live counters)."""
    seq = store.user_last_seq(tenant, user_id)
    key = portrait_key(resolved, user_id, top)
    cached = served.portraits.get(key, seq)
    if cached is not None:
        return cached
    state = _state(served, tenant, store, user_id, resolved, max_user_events, seq)
    if state is None:
        if not served.art.knows_user(user_id):
            raise UnknownUserError(f"user {user_id!r} has no history in index {served.version} and no ingested "
                                   "events")
        state = UserState(served.art.user_history(user_id), served.art.user_vector(user_id), 0)
    body = portrait(user_id, state.history, state.vector, served.art, top=top, terms=served.terms)
    out = ProfileOut.model_validate({**body, "index_version": served.version, "live_events": state.live_events})
    served.portraits.put(key, seq, out)
    return out


#: Left out of every answer unless the request asked for explanations.
_UNEXPLAINED: dict[str, Any] = {"results": {"__all__": {"sources", "because"}}, "ads_excluded": True}


def answer_record(answer: RecommendationList, resolved: Resolved, tenant: str, ads: AdAnswer | None = None
                  ) -> dict[str, Any]:
    """The answer log's line for one answer (tenant, user, config, arm, version, what was shown)."""
    return {"tenant": tenant, "user_id": answer.user_id, "config_id": answer.config_id,
            "experiment": resolved.experiment, "arm": resolved.arm, "index_version": answer.index_version,
            "strategy": answer.strategy, "fallback": answer.fallback, "n": len(answer.results),
            "ads": [a.campaign_id for a in (ads.ads if ads is not None else [])]}


def render(answer: RecommendationList, resolved: Resolved, tenant: str, *, explain: bool,
           log: bool, ads: AdAnswer | None = None) -> Response:
    """The answer as the declared `RecommendationsOut`, serialised by pydantic.

    A `Response` rather than the model itself because which fields a result carries depends on the
    request (`explain`), which FastAPI's per-route serialisation options cannot express; the body is
    still exactly the model's JSON, so nothing undeclared reaches the client."""
    ads = ads or AdAnswer([])
    excluded = [AdExclusion(campaign_id=c, reason=r) for c, r in ads.excluded.items()]
    out = RecommendationsOut(results=answer.results, ads=ads.ads, ads_excluded=excluded, strategy=answer.strategy,
                             config_id=answer.config_id, index_version=answer.index_version,
                             fallback=answer.fallback, user_id=answer.user_id, experiment=resolved.experiment,
                             arm=resolved.arm)
    if log and answer_log.isEnabledFor(logging.INFO):
        answer_log.info(json.dumps(answer_record(answer, resolved, tenant, ads)))
    return Response(out.model_dump_json(exclude=None if explain else _UNEXPLAINED), media_type="application/json")
