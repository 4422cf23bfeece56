"""The learned ranker (issue 9): multi-source candidates, features, a LightGBM LambdaMART model.

- `candidates`: vector / recent-item vectors / order-aware ItemKNN / transitions / popular, merged and
  de-duplicated, each candidate keeping its sources;
- `context`: the per-item arrays and ordered user histories those read, built from one time slice;
- `features`: grouped (user, candidate) features; `scoring`: one batch through candidates → features;
- `model`: train / predict / contributions / save / load; `train`: examples from an earlier slice;
- `ranker`: `LearnedRanker`, the `recsys.ranking.blend_ranker.Ranker` that serves an index's model.
Submodules are imported explicitly (this package stays light: `lightgbm` loads only when used).
"""
