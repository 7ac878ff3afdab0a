"""BG/NBD and Gamma-Gamma: maximum-likelihood fits and the predictions CLV needs.

The published likelihoods, written out with numpy/scipy (see pipelines/clv/README.md for why no
library): Fader, Hardie & Lee (2005a), "Counting your customers the easy way: an alternative to
the Pareto/NBD model", Marketing Science 24(2), equation (6) and the conditional expectation
(10); Fader, Hardie & Lee (2005b), "RFM and CLV: using iso-value curves for customer base
analysis", JMR 42(4), and Fader & Hardie (2013), "The Gamma-Gamma model of monetary value",
for the spend model.

Inputs per customer: ``frequency`` x (repeat transactions), ``recency`` t_x (time of the last
transaction after the first), ``T`` (time from the first transaction to the end of the
period), all in one time unit (weeks here); ``monetary`` the mean value of the x repeat
transactions. Parameters are fitted on their logarithms (all four / three are positive).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special

BGNBD_PARAMS = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMS = ("p", "q", "gamma")
# a fit whose parameter leaves this range ran off to a boundary: the data do not identify it
PARAM_BOUNDS = (1e-6, 1e6)
# ... except BG/NBD's dropout going to zero (a -> 0, b -> inf): the model's limit without
# dropout (the NBD), whose predictions are finite; the fit stops at the bound and says so
NO_DROPOUT_LIMIT = frozenset({("a", "lower"), ("b", "upper")})


@dataclass
class Fit:
    """One maximum-likelihood fit: parameters, log-likelihood, whether the optimiser converged."""

    params: dict[str, float]
    log_likelihood: float
    converged: bool
    message: str = ""
    n: int = 0
    iterations: int = 0
    extra: dict = field(default_factory=dict)


def bgnbd_log_likelihood(params, frequency, recency, T) -> np.ndarray:
    """Per-customer log-likelihood of BG/NBD (FHL 2005a, eq. 6)."""
    r, alpha, a, b = params
    x = np.asarray(frequency, dtype=float)
    t_x = np.asarray(recency, dtype=float)
    T = np.asarray(T, dtype=float)
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = (
        special.gammaln(a + b)
        + special.gammaln(b + x)
        - special.gammaln(b)
        - special.gammaln(a + b + x)
    )
    a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    a4 = np.full_like(x, -np.inf)
    a4[repeat] = (
        np.log(a) - np.log(b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    )
    return a1 + a2 + np.logaddexp(a3, a4)


def gamma_gamma_log_likelihood(params, frequency, monetary) -> np.ndarray:
    """Per-customer log-likelihood of the mean spend m_x of x transactions (Fader & Hardie 2013)."""
    p, q, gamma = params
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary, dtype=float)
    return (
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(gamma + x * m)
    )


# converged: no parameter not held at a bound could move the log-likelihood by more than this
# per unit of its logarithm (scaling it by e); on a flat ridge (BG/NBD without dropout, see
# NO_DROPOUT_LIMIT) the optimisers creep on long after the predictions stopped changing
GRADIENT_TOLERANCE = 0.05


def _gradient(function, x, step=1e-6) -> np.ndarray:
    """Central-difference gradient."""
    out = np.empty(len(x))
    for i in range(len(x)):
        up, down = x.copy(), x.copy()
        up[i] += step
        down[i] -= step
        out[i] = (function(up) - function(down)) / (2 * step)
    return out


def _maximise(log_likelihood, names, data, start, allowed_at_bound=frozenset()) -> Fit:
    """Maximise the summed log-likelihood over log-parameters within PARAM_BOUNDS
    (Nelder-Mead, then L-BFGS-B from its optimum). A parameter that ends at a bound of the
    search has no finite estimate: the fit does not count as converged unless that bound is
    in ``allowed_at_bound`` ({(name, "lower" | "upper")}: a limit the model is still defined
    at), which the message then names."""

    def negative(log_params):
        values = np.exp(log_params)
        total = log_likelihood(values, *data).sum()
        return -total if np.isfinite(total) else np.inf

    bounds = [tuple(np.log(PARAM_BOUNDS))] * len(names)
    x0 = np.log(np.asarray(start, dtype=float))
    with np.errstate(all="ignore"):
        first = optimize.minimize(
            negative,
            x0,
            method="Nelder-Mead",
            bounds=bounds,
            options={"maxiter": 4000, "xatol": 1e-10, "fatol": 1e-10},
        )
        result = optimize.minimize(negative, first.x, method="L-BFGS-B", bounds=bounds)
    best = result if np.isfinite(result.fun) and result.fun <= first.fun else first
    params = dict(zip(names, (float(v) for v in np.exp(best.x)), strict=True))
    finite = bool(np.isfinite(best.fun)) and all(np.isfinite(v) for v in params.values())
    at_bound = {}
    for name, value in zip(names, best.x, strict=True):
        if value <= bounds[0][0] + 1e-3:
            at_bound[name] = "lower"
        elif value >= bounds[0][1] - 1e-3:
            at_bound[name] = "upper"
    unexplained = {n: side for n, side in at_bound.items() if (n, side) not in allowed_at_bound}
    # the optimisers' own flags stop short on a flat ridge (a line-search warning, the
    # iteration limit) although the optimum is reached: converged = the first-order
    # condition holds, a gradient of ~0 in every parameter not held at a bound
    gradient = _gradient(negative, best.x) if finite else np.array([np.inf])
    free = [i for i, name in enumerate(names) if name not in at_bound]
    stationary = bool(np.all(np.abs(gradient[free]) < GRADIENT_TOLERANCE)) if free else True
    converged = bool(finite and not unexplained and stationary)
    message = "" if converged else str(best.message)
    if unexplained:
        message = f"a parameter ran off to a bound of the search: {params}"
    return Fit(
        params=params,
        log_likelihood=float(-best.fun) if finite else float("nan"),
        converged=converged,
        message=message,
        n=len(data[0]),
        iterations=int(first.nit + getattr(result, "nit", 0)),
        extra={"at_bound": at_bound, "gradient": [float(g) for g in gradient]},
    )


def fit_bgnbd(frequency, recency, T) -> Fit:
    """Maximum-likelihood BG/NBD parameters (r, alpha, a, b)."""
    data = tuple(np.asarray(v, dtype=float) for v in (frequency, recency, T))
    fit = _maximise(
        bgnbd_log_likelihood, BGNBD_PARAMS, data, (1.0, 1.0, 1.0, 1.0), NO_DROPOUT_LIMIT
    )
    dropout = fit.params["a"] / (fit.params["a"] + fit.params["b"])
    if fit.converged and (fit.extra["at_bound"] or dropout < 1e-4):
        fit.message = (
            f"almost no dropout in the data (mean dropout probability after a purchase "
            f"{dropout:.1e}, a -> 0 / b -> inf): the predictions are those of the NBD model "
            "without dropout"
        )
    return fit


def fit_gamma_gamma(frequency, monetary) -> Fit:
    """Maximum-likelihood Gamma-Gamma parameters (p, q, gamma) on repeat customers (x > 0)."""
    data = tuple(np.asarray(v, dtype=float) for v in (frequency, monetary))
    start_gamma = max(float(np.mean(data[1])), 1e-3)
    fit = _maximise(gamma_gamma_log_likelihood, GAMMA_GAMMA_PARAMS, data, (1.0, 2.0, start_gamma))
    if fit.converged and fit.params["q"] <= 1:
        # E[mean spend] = p·gamma / (q - 1) exists only for q > 1
        fit.converged = False
        fit.message = f"q = {fit.params['q']:.4g} <= 1: the expected spend is unbounded"
    return fit


def probability_alive(params: dict, frequency, recency, T) -> np.ndarray:
    """P(alive | x, t_x, T) (FHL 2005a, eq. 14 of the technical note); 1 for x = 0."""
    r, alpha, a, b = (params[k] for k in BGNBD_PARAMS)
    x = np.asarray(frequency, dtype=float)
    t_x = np.asarray(recency, dtype=float)
    T = np.asarray(T, dtype=float)
    log_ratio = (
        np.log(a)
        - np.log(np.maximum(b + x - 1, 1e-300))
        + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    )
    odds = np.where(x > 0, np.exp(np.minimum(log_ratio, 700)), 0.0)
    return 1.0 / (1.0 + odds)


def expected_purchases(params: dict, t, frequency, recency, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected transactions in the next ``t`` (FHL 2005a, eq. 10)."""
    r, alpha, a, b = (params[k] for k in BGNBD_PARAMS)
    x = np.asarray(frequency, dtype=float)
    T = np.asarray(T, dtype=float)
    t = np.asarray(t, dtype=float)
    if np.all(t == 0):
        return np.zeros(np.broadcast(x, t).shape)
    z = t / (alpha + T + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    numerator = (
        (a + b + x - 1)
        / (a - 1)
        * (1 - np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t))) * hyp)
    )
    return numerator * probability_alive(params, frequency, recency, T)


def expected_spend(params: dict, frequency, monetary) -> np.ndarray:
    """E[M | x, m_x]: the expected mean transaction value; the population mean for x = 0."""
    p, q, gamma = (params[k] for k in GAMMA_GAMMA_PARAMS)
    x = np.asarray(frequency, dtype=float)
    m = np.nan_to_num(np.asarray(monetary, dtype=float), nan=0.0)
    m = np.where(x > 0, m, 0.0)
    return p * (gamma + x * m) / (p * x + q - 1)


def discounted_value(
    params: dict,
    frequency,
    recency,
    T,
    spend,
    margin: float,
    months: int,
    monthly_discount_rate: float,
    weeks_per_month: float,
) -> np.ndarray:
    """Σ_m margin · spend · (E[Y(m)] − E[Y(m−1)]) / (1 + d)^m over the next ``months`` months."""
    total = np.zeros(np.shape(np.asarray(frequency, dtype=float)))
    previous = np.zeros_like(total)
    for month in range(1, months + 1):
        cumulative = expected_purchases(params, month * weeks_per_month, frequency, recency, T)
        total += (cumulative - previous) / (1 + monthly_discount_rate) ** month
        previous = cumulative
    return total * np.asarray(spend, dtype=float) * margin
