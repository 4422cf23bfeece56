"""Campaign vectors in the index's embedding space (the same encoder as products and users).

- A product campaign: the encoded ad text (headline, body, keywords, categories — or copy generated
  from its landing products) plus the mean of its landing products' vectors, equally weighted.
- A lookalike campaign: the mean profile vector of its seed users known to the index.
Every vector is unit length. A campaign none of whose parts resolves (unknown landing products, no
text, no known seeds) is an error naming it; unknown ids beside known ones are reported as warnings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recsys.artifacts import Artifacts
from recsys.campaigns.campaign import Campaign
from recsys.campaigns.copy import AdCopy, LandingProduct, make_copy
from recsys.data import schema as S
from recsys.encoders import Encoder
from recsys.encoders.base import l2_normalize
from recsys.errors import DataValidationError, Problem

__all__ = ["CampaignVectors", "campaign_vectors", "landing_positions", "campaign_copy", "ad_text"]


@dataclass(frozen=True)
class CampaignVectors:
    campaigns: tuple[Campaign, ...]
    vectors: np.ndarray  # (n_campaigns, dim), unit rows, aligned with `campaigns`
    copies: tuple[AdCopy, ...]
    landing: tuple[np.ndarray, ...]  # catalogue positions of each campaign's known landing products
    warnings: tuple[str, ...] = ()

    def index_of(self, campaign_id: str) -> int:
        for i, c in enumerate(self.campaigns):
            if c.campaign_id == campaign_id:
                return i
        raise KeyError(campaign_id)


def _float_or_none(v: object) -> float | None:
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if np.isfinite(x) else None


def landing_positions(c: Campaign, art: Artifacts) -> np.ndarray:
    pos = [art.product_position(p) for p in c.landing_product_ids]
    return np.array([p for p in pos if p is not None], dtype=np.int64)


def campaign_copy(c: Campaign, positions: np.ndarray, art: Artifacts) -> AdCopy:
    rows = art.product_rows(positions[:5])  # a served version reads these rows from its products file
    landing = [LandingProduct(str(r[S.TITLE] or ""), str(r[S.DESCRIPTION] or ""), str(r[S.BRAND] or ""),
                              str(r[S.CATEGORY] or ""), _float_or_none(r[S.PRICE]))
               for r in rows.to_dict("records")]
    return make_copy(c.headline, c.body, landing)


def ad_text(c: Campaign, copy: AdCopy) -> str:
    parts = [copy.headline, copy.body, " ".join(c.keywords), " ".join(c.categories)]
    return ". ".join(p for p in parts if p)


def campaign_vectors(campaigns: Sequence[Campaign], art: Artifacts, encoder: Encoder) -> CampaignVectors:
    """Encode every campaign; raise `DataValidationError` for campaigns that resolve to nothing."""
    problems: list[Problem] = []
    warnings: list[str] = []
    landing = [landing_positions(c, art) for c in campaigns]
    copies = [campaign_copy(c, pos, art) for c, pos in zip(campaigns, landing, strict=True)]
    texts = [ad_text(c, cp) if not c.is_lookalike else "" for c, cp in zip(campaigns, copies, strict=True)]
    encoded = encoder.encode([t for t in texts if t], kind="passage") if any(texts) else None
    text_row = {t: i for i, t in enumerate(dict.fromkeys(t for t in texts if t))}
    vectors = np.zeros((len(campaigns), art.item_vectors.shape[1]), np.float32)
    for i, c in enumerate(campaigns):
        missing = [p for p in c.landing_product_ids if art.product_position(p) is None]
        if missing:
            warnings.append(f"campaign {c.campaign_id!r}: {len(missing)} landing product(s) not in the catalogue "
                            f"of index {art.version} (e.g. {missing[0]!r})")
        if c.is_lookalike:
            seeds = [v for v in (art.user_vector(u) for u in c.seed_user_ids) if v is not None]
            if len(seeds) < len(c.seed_user_ids):
                warnings.append(f"campaign {c.campaign_id!r}: {len(c.seed_user_ids) - len(seeds)} of "
                                f"{len(c.seed_user_ids)} seed users have no profile in index {art.version}")
            if not seeds:
                problems.append(Problem("campaigns", "seed_user_ids",
                                        f"campaign {c.campaign_id!r}: none of its seed users has a profile in "
                                        f"index {art.version}; give seeds with history"))
                continue
            vectors[i] = l2_normalize(np.mean(seeds, axis=0))
            continue
        acc = np.zeros(vectors.shape[1], np.float32)
        if texts[i] and encoded is not None:
            acc += encoded[text_row[texts[i]]]
        if len(landing[i]):
            acc += l2_normalize(art.item_vectors[landing[i]].mean(axis=0))
        if not np.any(acc):
            problems.append(Problem("campaigns", "landing_product_ids",
                                    f"campaign {c.campaign_id!r}: no landing product is in the catalogue and it has "
                                    "no ad text; fix the product ids or add a headline"))
            continue
        vectors[i] = l2_normalize(acc)
    if problems:
        raise DataValidationError(problems)
    return CampaignVectors(tuple(campaigns), vectors, tuple(copies), tuple(landing), tuple(warnings))
