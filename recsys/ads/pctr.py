"""pCTR from relevance: a calibrated logistic mapping ``pCTR = 1 / (1 + exp(-(a + b · relevance)))``.

Fitted by maximum likelihood on (relevance, impressions, clicks) aggregates of the ad events in the
store when there are enough of them (`min_impressions`, `min_clicks`); otherwise the documented
default is used: pCTR 0.2 % at relevance 0.2 and 3 % at relevance 0.8 (typical display-ad CTRs,
rising with relevance). The model says which one it is (`fitted`, `note`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

__all__ = ["CtrModel", "DEFAULT_CTR", "fit_ctr"]


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


_SLOPE = (_logit(0.03) - _logit(0.002)) / (0.8 - 0.2)
_INTERCEPT = _logit(0.002) - 0.2 * _SLOPE


@dataclass(frozen=True)
class CtrModel:
    intercept: float
    slope: float
    fitted: bool
    impressions: int = 0
    clicks: int = 0
    note: str = ""

    def predict(self, relevance: np.ndarray | float) -> np.ndarray:
        return expit(self.intercept + self.slope * np.asarray(relevance, dtype=np.float64))

    def describe(self) -> dict[str, object]:
        return {"intercept": round(self.intercept, 4), "slope": round(self.slope, 4), "fitted": self.fitted,
                "impressions": self.impressions, "clicks": self.clicks, "note": self.note}


DEFAULT_CTR = CtrModel(_INTERCEPT, _SLOPE, False, note="default: pCTR 0.2% at relevance 0.2, 3% at 0.8")


def fit_ctr(relevance: np.ndarray, impressions: np.ndarray, clicks: np.ndarray, *, min_impressions: int = 500,
            min_clicks: int = 20, l2: float = 1.0) -> CtrModel:
    """Binomial logistic regression of clicks on relevance over aggregated rows.

    Each row is one (user, campaign) pair: its relevance, how many impressions it got and how many of
    them were clicked. Falls back to `DEFAULT_CTR` (saying why) below the evidence thresholds or when
    the fitted slope is not positive (more relevant ads must not be predicted to be clicked less).
    """
    rel = np.asarray(relevance, np.float64)
    n = np.asarray(impressions, np.float64)
    k = np.minimum(np.asarray(clicks, np.float64), n)
    total_n, total_k = int(n.sum()), int(k.sum())
    if total_n < min_impressions or total_k < min_clicks:
        return CtrModel(DEFAULT_CTR.intercept, DEFAULT_CTR.slope, False, total_n, total_k,
                        f"default: {total_n} impressions / {total_k} clicks is below the {min_impressions} / "
                        f"{min_clicks} needed to fit")

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = theta[0] + theta[1] * rel
        # −log-likelihood of k successes in n trials: n·log(1+e^z) − k·z
        nll = float(np.sum(n * np.logaddexp(0.0, z) - k * z)) + l2 * float(theta @ theta)
        p = expit(z)
        g = n * p - k
        grad = np.array([g.sum(), (g * rel).sum()]) + 2 * l2 * theta
        return nll, grad

    res = minimize(loss, np.array([DEFAULT_CTR.intercept, DEFAULT_CTR.slope]), jac=True, method="L-BFGS-B")
    a, b = (float(x) for x in res.x)
    if not res.success or b <= 0:
        why = res.message if not res.success else f"the fitted slope {b:.3f} is not positive"
        return CtrModel(DEFAULT_CTR.intercept, DEFAULT_CTR.slope, False, total_n, total_k,
                        f"default: fit rejected ({why})")
    return CtrModel(a, b, True, total_n, total_k, f"fitted on {total_n} impressions, {total_k} clicks")
