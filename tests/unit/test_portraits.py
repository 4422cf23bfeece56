"""Interest portraits: clustering of a history's vectors, TF-IDF labels in the user's language, examples,
the portrait body, the explanations that name a cluster, and the `profile` CLI command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from recsys.artifacts import POSITION
from recsys.cli.profile_cli import profile
from recsys.explain.portraits import (
    CatalogueTerms,
    PortraitParams,
    catalogue_terms,
    category_levels,
    cluster_items,
    interest_clusters,
    interests_for,
    item_label_texts,
    portrait,
)
from recsys.explain.reasons import because_texts

# Two orthogonal directions with small perturbations: items 0–2 are "coffee", 3–4 "running".
VECS = np.array([[1, 0.1, 0], [1, 0, 0.1], [1, 0.05, 0.05], [0, 1, 0.1], [0.1, 1, 0]], np.float32)
VECS /= np.linalg.norm(VECS, axis=1, keepdims=True)


def test_cluster_items_separates_directions_and_caps_the_count():
    labels = cluster_items(VECS)
    assert len(set(labels[:3])) == 1 and len(set(labels[3:])) == 1 and labels[0] != labels[3]
    assert set(cluster_items(VECS, PortraitParams(max_clusters=1)).tolist()) == {0}
    assert set(cluster_items(VECS, PortraitParams(merge_distance=0.001)).tolist()) == {0, 1, 2}  # capped at 3
    assert cluster_items(VECS[:1]).tolist() == [0]


def test_idf_sinks_terms_every_product_shares():
    terms = CatalogueTerms.from_texts(["coffee gift card", "running gift card", "book gift card"])
    assert terms.idf("gift") == 0.0 < terms.idf("coffee") and terms.idf("unknownword") == 0.0


ZH_TITLES = ["星巴克咖啡豆", "咖啡研磨机", "咖啡杯", "跑步鞋", "跑步袜子"]


def test_clusters_are_time_weighted_labelled_and_ordered_by_share():
    terms = CatalogueTerms.from_texts(ZH_TITLES)
    pos = np.array([0, 1, 3, 4, 2])
    w = np.array([2.0, 1.0, 0.5, 0.5, -1.0])  # the mug (2) was disliked: not an interest
    texts = ["很好喝", "", "", "", "太难看了"]
    clusters, lang = interest_clusters(pos, w, texts, VECS, terms, ZH_TITLES)
    assert lang == "zh"
    assert [c.positions for c in clusters] == [(0, 1), (3, 4)]
    assert [c.share for c in clusters] == pytest.approx([0.75, 0.25])
    # jieba words; weight × idf: the heavier, rarer 咖啡豆/星巴克 (tie broken by term) beat the shared 咖啡
    assert clusters[0].label == "咖啡豆、星巴克、咖啡"
    assert clusters[1].label == "跑步、袜子、鞋"  # 跑步 is in both running items
    assert sum(x for _, x in clusters[0].terms) == pytest.approx(1.0, abs=1e-3)


# A gift-card shop: items 0–2 (the first direction of VECS) are restaurant cards, 3–4 movie cards, 5–7 others
# that no history below touches. "Gift Cards" is in every product, "Gift Cards > Restaurants" in 3 of 8.
CARD_TITLES = ["Firehouse Subs Gift Card", "Taco Bell Gift Card", "Red Robin Gift Card", "AMC Theatres Gift Card",
               "Regal Cinemas Gift Card", "Hotels.com Gift Card", "Southwest Airlines Gift Card", "Petco Gift Card"]
CARD_CATEGORIES = ["Gift Cards > Restaurants > Subs", "Gift Cards > Restaurants > Mexican", "Gift Cards > Restaurants",
                   "Gift Cards > Movies", "Gift Cards > Movies", "Gift Cards > Travel", "Gift Cards > Travel",
                   "Gift Cards > Pets"]
CARD_BRANDS = ["Firehouse Subs", "Taco Bell", "Red Robin", "AMC", "Regal", "Hotels.com", "Southwest", "Petco"]


def _cards(weights, *, categories=CARD_CATEGORIES, brands=CARD_BRANDS, texts=None, titles=CARD_TITLES):
    pos = np.arange(len(weights))
    terms = CatalogueTerms.from_texts(titles, categories, brands)
    return interest_clusters(pos, np.asarray(weights, float), texts or [""] * len(weights), VECS[: len(weights)],
                             terms, titles)


def test_a_cluster_of_restaurant_cards_is_named_by_its_category_with_terms_as_detail():
    clusters, lang = _cards([1.0, 1.0, 1.0])
    (c,) = clusters
    # no sub-category holds 60 % (Subs 1/3, Mexican 1/3), so the shared shallower prefix names the cluster
    assert lang == "en" and c.label == "Gift Cards > Restaurants" and c.category == "Gift Cards > Restaurants"
    assert c.brand is None  # every card a different brand
    assert {"firehouse", "subs", "bell"} <= {t for t, _ in c.terms}  # the distinctive terms stay as detail


def test_the_deepest_prefix_with_sixty_percent_of_the_weight_wins():
    (c,), _ = _cards([3.0, 1.0, 1.0])  # Subs holds exactly 3/5 of the weight
    assert c.category == "Gift Cards > Restaurants > Subs"
    (c,), _ = _cards([2.9, 1.0, 1.0])  # just under: one level up
    assert c.category == "Gift Cards > Restaurants"


def test_the_brand_is_added_when_it_dominates():
    brands = ["Starbucks", "Starbucks", "Peet's"] + [""] * 5
    (c,), _ = _cards([2.0, 1.0, 1.0], brands=brands)  # Starbucks: 3/4 of the weight
    assert (c.label, c.brand) == ("Gift Cards > Restaurants from Starbucks", "Starbucks")
    (c,), _ = _cards([1.0, 1.0, 2.0], brands=brands)  # Starbucks: 1/2
    assert (c.label, c.brand) == ("Gift Cards > Restaurants", None)
    # unbranded items count against a brand: Red Robin is the only brand but holds 1.5 / 2.7 of the weight
    (c,), _ = _cards([1.0, 0.2, 1.5], brands=["", "", "Red Robin"] + [""] * 5)
    assert c.brand is None
    (c,), _ = _cards([0.5, 0.2, 1.5], brands=["", "", "Red Robin"] + [""] * 5)  # 1.5 / 2.2
    assert c.label == "Gift Cards > Restaurants from Red Robin"


def test_without_a_category_the_terms_name_the_cluster():
    (c,), _ = _cards([1.0, 1.0, 1.0], categories=[""] * 8)
    assert c.category is None and c.label == ", ".join(t for t, _ in c.terms[:3])
    (c,), _ = _cards([1.0, 1.0, 1.0], categories=None, brands=None)  # no catalogue columns at all
    assert c.category is None and c.label == ", ".join(t for t, _ in c.terms[:3])
    (c,), _ = _cards([1.0, 1.0, 1.0], categories=["Gift Cards > Restaurants"] + [""] * 7)  # 1/3 is no majority
    assert c.category is None
    # a brand with no category: the terms, then the brand
    (c,), _ = _cards([1.0, 1.0, 1.0], categories=[""] * 8, brands=["Sysco"] * 8)
    assert c.label == ", ".join(t for t, _ in c.terms[:3]) + " from Sysco"


def test_a_category_most_of_the_catalogue_shares_names_nothing():
    # the Amazon sample: nearly every product is "Gift Cards > Gift Cards", so that path would name every
    # interest of every user; like a term in every product it is skipped and the terms name the cluster
    (c,), _ = _cards([1.0, 1.0, 1.0], categories=["Gift Cards > Gift Cards"] * 6 + ["Gift Cards > Pets"] * 2)
    assert c.category is None and c.label == ", ".join(t for t, _ in c.terms[:3])
    # 4 of 8 (not more than half) still names it
    (c,), _ = _cards([1.0, 1.0, 1.0], categories=["Gift Cards > Food"] * 4 + ["Gift Cards > Pets"] * 4)
    assert c.label == "Gift Cards > Food"
    # the shallower fallback is no way around it: "Gift Cards" is in all 8
    (c,), _ = _cards([1.0, 1.0, 1.0], categories=["Gift Cards > A", "Gift Cards > B", "Gift Cards > C"] + [
        "Gift Cards > D"] * 5)
    assert c.category is None


def test_a_chinese_user_gets_chinese_connectors_around_catalogue_text():
    titles = ["星巴克咖啡卡", "星巴克星冰乐卡", "瑞幸咖啡卡", "万达电影卡", "影城观影卡", "宠物店卡", "酒店卡"]
    categories = ["礼品卡 > 咖啡"] * 3 + ["礼品卡 > 电影"] * 2 + ["礼品卡 > 宠物", "礼品卡 > 旅行"]
    brands = ["星巴克", "星巴克", "瑞幸", "万达", "万达", "", ""]
    args = dict(categories=categories, brands=brands, titles=titles)
    (zh,), lang = _cards([1.0, 1.0, 0.5], texts=["很好喝", "不错", ""], **args)
    assert lang == "zh" and zh.label == "来自星巴克的礼品卡 > 咖啡"
    (en,), lang = _cards([1.0, 1.0, 0.5], texts=["lovely coffee", "great", ""], **args)
    assert lang == "en" and en.label == "礼品卡 > 咖啡 from 星巴克"  # the catalogue's text, the user's connectors
    (terms_only,), _ = _cards([1.0, 1.0, 0.5], texts=["很好喝", "不错", ""], titles=titles,
                              categories=[""] * 7, brands=[""] * 7)
    assert "、" in terms_only.label


def test_category_paths_stop_before_pasted_feature_bullets():
    # as in the Amazon sample, where product bullets were appended to the category path
    assert category_levels("Gift Cards > Gift Cards > No expiration, no fees. > Redeemable toward millions") == (
        "Gift Cards", "Gift Cards")
    assert category_levels("Gift Cards > Gift Card Accessories > " + "Made with thick, recycled paper " * 3) == (
        "Gift Cards", "Gift Card Accessories")
    assert category_levels("") == () and category_levels(None) == ()
    assert category_levels("Clothing, Shoes & Jewelry > Women") == ("Clothing, Shoes & Jewelry", "Women")


@pytest.mark.parametrize(("reviews", "lang"), [(["great beans", "nice"], "en"), (["很好", "不错"], "zh")])
def test_terms_in_the_users_language_come_first(reviews, lang):
    titles = ["coffee beans 咖啡豆", "coffee grinder 咖啡研磨机", "running shoes 跑步鞋"]
    terms = CatalogueTerms.from_texts(titles)
    clusters, got = interest_clusters(np.array([0, 1]), np.array([1.0, 1.0]), reviews, VECS[:2], terms, titles)
    han = [any("\u4e00" <= ch <= "\u9fff" for ch in t) for t, _ in clusters[0].terms]
    assert got == lang and len(han) == 5 and set(han) == {True, False}
    assert han == sorted(han, reverse=lang == "zh")  # one language's terms first, then the other's


def test_no_positive_items_means_no_clusters():
    terms = CatalogueTerms.from_texts(ZH_TITLES)
    clusters, _ = interest_clusters(np.array([0, -1]), np.array([-1.0, 1.0]), ["", "咖啡"], VECS, terms, ZH_TITLES)
    assert clusters == []


def test_catalogue_terms_are_computed_once_per_recommender(tiny_rec):
    products = pd.DataFrame({"title": ["a b"], "category": ["x > coffee"], "brand": [""]})
    assert item_label_texts(products) == ["a b · coffee"]
    assert "coffee" in catalogue_terms(products).df
    other = tiny_rec.with_config(tiny_rec.config.with_updates(mmr_lambda=0.5))
    assert other.terms is tiny_rec.terms


def test_portrait_of_tiny_users(tiny_rec):
    art = tiny_rec.art
    hater = portrait("u_hater", art.user_history("u_hater"), art.user_vector("u_hater"), art)
    assert [e["product_id"] for e in hater["interests"][0]["examples"]] == ["b2"]  # the grinder was hated
    items = {i["product_id"]: i for i in hater["items"]}
    assert items["c2"]["weight"] < 0 and items["c2"]["sentiment"] == -1.0 and items["b2"]["sentiment"] == 1.0
    coffee = portrait("u_coffee", art.user_history("u_coffee"), art.user_vector("u_coffee"), art)
    assert coffee["language"] == "en" and coffee["interests"][0]["terms"][0]["term"] == "coffee"
    # the grinder (Kitchen > Coffee, a purchase) and the beans (Grocery > Coffee, a review) split the weight
    # 57/43, below the 60 % a category path needs: the terms name the cluster
    assert coffee["interests"][0]["category"] is None and coffee["interests"][0]["label"].startswith("coffee")
    run = portrait("u_run", art.user_history("u_run"), art.user_vector("u_run"), art)
    assert run["interests"][0]["label"] == run["interests"][0]["category"] == "Sports > Running"
    assert run["interests"][0]["brand"] is None  # the tiny catalogue has no brands


def test_because_texts_name_the_interest_cluster_and_speak_chinese(tiny_rec):
    art = tiny_rec.art
    hist = pd.concat([art.user_history("u_coffee"), art.user_history("u_run")], ignore_index=True)
    clusters, _ = interests_for(art, hist)
    assert len(clusters) == 2
    targets = np.array([art.product_position("c3"), art.product_position("r3")])
    en = because_texts(art, targets, hist, interests=clusters)
    assert en[0].startswith("because you") and "(your interest: coffee" in en[0]
    assert en[1].startswith("because you bought “lightweight running shoes” (your interest: ")
    assert en[1].endswith("(your interest: Sports > Running)")  # one category holds all of u_run's weight
    zh = because_texts(art, targets, hist, interests=clusters, lang="zh")
    assert zh[0].startswith("因为你") and "（你的兴趣：" in zh[0]
    assert "your interest" not in (because_texts(art, targets, hist)[0] or "")
    assert hist[POSITION].ge(0).all()


def test_profile_command_prints_json_and_text(tiny_index: Path):
    app = typer.Typer()
    app.command()(profile)
    runner = CliRunner()
    r = runner.invoke(app, ["--index", str(tiny_index), "--user", "u_coffee", "--json"])
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert body["interests"][0]["label"].startswith("coffee") and body["index_version"]
    text = runner.invoke(app, ["--index", str(tiny_index), "--user", "u_coffee"])
    assert text.exit_code == 0 and "coffee" in text.stdout and "Interest portrait" in text.stdout
    missing = runner.invoke(app, ["--index", str(tiny_index), "--user", "nobody"])
    assert missing.exit_code != 0 and "no history" in str(missing.exception)


def test_api_profile_and_answers_carry_portrait_and_sentiment(tiny_index: Path, tmp_path: Path):
    from fastapi.testclient import TestClient

    from recsys.service import Settings, create_app

    ts = "2024-03-01T00:00:00Z"
    with TestClient(create_app(Settings(index=tiny_index, events_db=tmp_path / "ev.db"))) as client:
        r = client.post("/v1/events", json={"events": [
            {"user_id": "zh_user", "product_id": "c2", "event_type": "review", "timestamp": ts,
             "text": "质量太差了，用了一天就坏了，很失望"},  # no rating: the text sets the sign
            {"user_id": "zh_user", "product_id": "b1", "event_type": "purchase", "timestamp": ts},
            {"user_id": "zh_user", "product_id": "b3", "event_type": "review", "timestamp": ts,
             "text": "非常好看的小说"}]})
        assert r.status_code == 200
        prof = client.get("/v1/users/zh_user/profile").json()
        items = {i["product_id"]: i for i in prof["items"]}
        assert items["c2"]["weight"] < 0 and items["c2"]["sentiment"] < -0.5 and items["c2"]["events"] == ["评价过"]
        assert prof["language"] == "zh" and prof["interests"][0]["examples"][0]["product_id"] in {"b1", "b3"}
        assert {e["product_id"] for i in prof["interests"] for e in i["examples"]} <= {"b1", "b3"}
        ans = client.get("/v1/users/zh_user/recommendations", params={"k": 3, "explain": "true"}).json()
        assert all("sentiment" in x["parts"] for x in ans["results"])
        assert ans["results"][0]["because"].startswith("因为你")


def test_per_item_sums_weights_averages_known_sentiments_and_lists_event_types_like_a_groupby():
    from recsys.explain.portraits import _per_item

    rng = np.random.default_rng(7)
    pos = rng.integers(0, 12, 200)
    w = rng.normal(size=200)
    sent = np.where(rng.random(200) < 0.5, np.nan, rng.uniform(-1, 1, 200))
    kinds = rng.choice(["view", "cart", "purchase", "review"], 200)
    sent[pos == 11] = np.nan  # an item none of whose events carries a sentiment
    idx, summed, mean, types = _per_item(pos, w, sent, kinds)
    ref = pd.DataFrame({"p": pos, "w": w, "s": sent, "t": kinds}).groupby("p", sort=False).agg(
        w=("w", "sum"), s=("s", "mean"), t=("t", lambda x: sorted(set(x))))
    assert idx.tolist() == ref.index.tolist()  # first appearance in the history, never by id
    np.testing.assert_allclose(summed, ref["w"].to_numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mean, ref["s"].to_numpy(), rtol=1e-12, atol=1e-12, equal_nan=True)
    assert types == ref["t"].tolist()
    assert np.isnan(mean[idx == 11]).all()
