"""Ad-targeting audiences: batch builds (rank users per campaign, caps, holdout), summaries, evaluation."""

from recsys.audience.build import AudienceBuild, AudienceParams, build_for_index, select_audiences
from recsys.audience.executor import DaskExecutor, DaskOptions, LocalExecutor, make_executor
from recsys.audience.select import Candidates, assign_capped, filter_candidates, holdout_mask, user_hashes
from recsys.audience.summary import CostAssumptions, render_html, summarize

__all__ = ["AudienceBuild", "AudienceParams", "build_for_index", "select_audiences", "DaskExecutor", "DaskOptions",
           "LocalExecutor", "make_executor", "Candidates", "assign_capped", "filter_candidates", "holdout_mask",
           "user_hashes", "CostAssumptions", "render_html", "summarize"]
