"""The learned ranker: multi-source candidates, features, a LightGBM LambdaMART model.

- `candidates`: vector / recent-item vectors / order-aware ItemKNN / transitions / EASE / popular, merged
  and de-duplicated, each candidate keeping its sources;
- the per-item arrays they read are `recsys.features.items.ItemFeatures` of one time slice;
- `features`: grouped (user, candidate) features; `scoring`: one batch through candidates → features;
- `model`: train (with early stopping, boosted from the best single source) / predict / contributions /
  save / load; `train`: query groups from every step of each history, features from the slice before it;
- `ranker`: `LearnedRanker`, the `recsys.ranking.blend_ranker.Ranker` that serves an index's model.
Submodules are imported explicitly (this package stays light: `lightgbm` loads only when used).
"""
