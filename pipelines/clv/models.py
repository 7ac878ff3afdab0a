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
from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

BGNBD_PARAMS = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMS = ("p", "q", "gamma")
# a fit whose parameter leaves this range ran off to a boundary: the data do not identify it
PARAM_BOUNDS = (1e-6, 1e6)
# ... except BG/NBD's dropout going to zero (a -> 0, b -> inf): the model's limit without
# dropout (the NBD), whose predictions are finite; the fit stops at the bound and says so
NO_DROPOUT_LIMIT = frozenset({("a", "lower"), ("b", "upper")})
# BLAS threads of the fits: the weighted sums are dot products of ~10^4 elements, which a pool
# of one thread per core makes 10x slower on a busy machine (threads spinning on each other;
# 2.6 s vs 0.2 s for the scale-1 BG/NBD fit at load 6), as for the k-means fits
FIT_THREADS = 1


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


def _distinct_rows(*columns) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of the columns (one column each) and how often each occurs."""
    stacked = np.column_stack([np.asarray(c, dtype=float) for c in columns])
    if not len(stacked):
        return stacked, np.zeros(0)
    rows, counts = np.unique(stacked, axis=0, return_counts=True)
    return rows, counts.astype(float)


class BgnbdLikelihood:
    """The summed BG/NBD log-likelihood of a customer base, evaluated once per distinct
    (x, t_x, T) triple with its count as weight (customers of one triple have equal terms).

    The terms of eq. 6 that depend on x alone (the gamma functions) are computed once per
    distinct x, ln(alpha + T) and ln(alpha + t_x) once per distinct T and t_x (days / 7:
    at most one per day of history); only ln(A3 + A4) is per triple. Equal to
    ``bgnbd_log_likelihood(...).sum()`` up to the order of the floating-point additions.
    """

    def __init__(self, frequency, recency, T):
        rows, self.weights = _distinct_rows(frequency, recency, T)
        self.n = int(self.weights.sum())
        x = rows[:, 0]
        self.x_values, x_index = np.unique(x, return_inverse=True)
        self.x_index = x_index.reshape(-1)
        self.x_weights = np.bincount(self.x_index, weights=self.weights)
        self.t_values, t_index = np.unique(rows[:, 1], return_inverse=True)
        self.t_index = t_index.reshape(-1)
        self.T_values, T_index = np.unique(rows[:, 2], return_inverse=True)
        self.T_index = T_index.reshape(-1)
        self.repeat_x = self.x_values > 0
        self.x_repeat = x > 0

    def __call__(self, params) -> float:
        return self.value_and_gradient(params, gradient=False)[0]

    def value_and_gradient(self, params, gradient: bool = True) -> tuple[float, np.ndarray]:
        """The summed log-likelihood and its gradient in (r, alpha, a, b) (digamma terms;
        A3 and A4 weighted by their shares of exp(A3) + exp(A4))."""
        r, alpha, a, b = params
        xs, ix = self.x_values, self.x_index
        by_x = (
            special.gammaln(r + xs)
            - special.gammaln(r)
            + r * np.log(alpha)
            + special.gammaln(a + b)
            + special.gammaln(b + xs)
            - special.gammaln(b)
            - special.gammaln(a + b + xs)
        )
        r_x = (r + xs)[ix]
        log_alpha_T = np.log(alpha + self.T_values)[self.T_index]
        log_alpha_t = np.log(alpha + self.t_values)[self.t_index]
        a3 = -r_x * log_alpha_T
        log_b = np.full_like(xs, -np.inf)
        log_b[self.repeat_x] = np.log(a) - np.log(b + xs[self.repeat_x] - 1)
        a4 = np.full_like(a3, -np.inf)
        repeat = self.x_repeat
        a4[repeat] = (log_b[ix] - r_x * log_alpha_t)[repeat]
        both = np.logaddexp(a3, a4)
        value = float(by_x @ self.x_weights + both @ self.weights)
        if not gradient:
            return value, np.empty(0)
        w3 = self.weights * np.exp(a3 - both)  # count x share of A3
        w4 = self.weights * np.exp(a4 - both)  # 0 where x = 0
        psi_ab = special.digamma(a + b)
        psi_abx = special.digamma(a + b + xs) @ self.x_weights
        b_x = np.where(self.repeat_x, b + xs - 1, 1.0)[ix]
        d_r = (
            (special.digamma(r + xs) - special.digamma(r) + np.log(alpha)) @ self.x_weights
            - w3 @ log_alpha_T
            - w4 @ log_alpha_t
        )
        d_alpha = (
            r / alpha * self.n
            - w3 @ (r_x / (alpha + self.T_values[self.T_index]))
            - w4 @ (r_x / (alpha + self.t_values[self.t_index]))
        )
        d_a = psi_ab * self.n - psi_abx + w4.sum() / a
        d_b = (
            (special.digamma(b + xs) - special.digamma(b)) @ self.x_weights
            + psi_ab * self.n
            - psi_abx
            - w4 @ (1 / b_x)
        )
        return value, np.array([d_r, d_alpha, d_a, d_b])


class GammaGammaLikelihood:
    """The summed Gamma-Gamma log-likelihood over the distinct (x, m_x) pairs with their
    counts as weights: the gamma functions and p·x·ln x once per distinct x, the terms in
    ln m_x summed once (they are linear in p), only ln(gamma + x·m_x) per pair. Equal to
    ``gamma_gamma_log_likelihood(...).sum()`` up to the order of the additions."""

    def __init__(self, frequency, monetary):
        rows, self.weights = _distinct_rows(frequency, monetary)
        self.n = int(self.weights.sum())
        x, m = rows[:, 0], rows[:, 1]
        self.x_values, x_index = np.unique(x, return_inverse=True)
        self.x_weights = np.bincount(x_index.reshape(-1), weights=self.weights)
        self.x_log_x = self.x_values * np.log(self.x_values)
        self.x, self.xm = x, x * m
        with np.errstate(all="ignore"):
            log_m = np.log(m)
        # sum of w·(p·x − 1)·ln m = p·Σ w·x·ln m − Σ w·ln m
        self.sum_x_log_m = float((self.weights * x) @ log_m)
        self.sum_log_m = float(self.weights @ log_m)

    def __call__(self, params) -> float:
        return self.value_and_gradient(params, gradient=False)[0]

    def value_and_gradient(self, params, gradient: bool = True) -> tuple[float, np.ndarray]:
        """The summed log-likelihood and its gradient in (p, q, gamma)."""
        p, q, gamma = params
        xs = self.x_values
        px = p * xs
        by_x = (
            special.gammaln(px + q)
            - special.gammaln(px)
            - special.gammaln(q)
            + q * np.log(gamma)
            + p * self.x_log_x
        )
        log_gamma_xm = np.log(gamma + self.xm)
        per_pair = (p * self.x + q) * log_gamma_xm
        value = float(
            by_x @ self.x_weights + p * self.sum_x_log_m - self.sum_log_m - per_pair @ self.weights
        )
        if not gradient:
            return value, np.empty(0)
        psi_pxq = special.digamma(px + q)
        d_p = (
            (xs * (psi_pxq - special.digamma(px)) + self.x_log_x) @ self.x_weights
            + self.sum_x_log_m
            - (self.weights * self.x) @ log_gamma_xm
        )
        d_q = (
            psi_pxq - special.digamma(q) + np.log(gamma)
        ) @ self.x_weights - self.weights @ log_gamma_xm
        d_gamma = q / gamma * self.n - self.weights @ ((p * self.x + q) / (gamma + self.xm))
        return value, np.array([d_p, d_q, d_gamma])


# converged: no parameter not held at a bound could move the log-likelihood by more than this
# per unit of its logarithm (scaling it by e); on a flat ridge (BG/NBD without dropout, see
# NO_DROPOUT_LIMIT) the optimisers creep on long after the predictions stopped changing
GRADIENT_TOLERANCE = 0.05
# the gradient search is taken when it ends next to an isolated optimum: the Hessian there is
# positive definite and the Newton step onto the optimum moves no log-parameter by more than
# this (real fits: < 1e-6); else (a ridge, an optimum at a bound) the derivative-free search
NEWTON_TOLERANCE = 1e-4


def _gradient(function, x, step=1e-6) -> np.ndarray:
    """Central-difference gradient."""
    out = np.empty(len(x))
    for i in range(len(x)):
        up, down = x.copy(), x.copy()
        up[i] += step
        down[i] -= step
        out[i] = (function(up) - function(down)) / (2 * step)
    return out


def _maximise(log_likelihood, names, start, allowed_at_bound=frozenset()) -> Fit:
    """Maximise the summed log-likelihood ``log_likelihood`` (a :class:`BgnbdLikelihood` /
    :class:`GammaGammaLikelihood`) over log-parameters within PARAM_BOUNDS: L-BFGS-B on the
    analytic gradient (tens of evaluations) and one Newton step, taken when it ends next to an
    isolated optimum (NEWTON_TOLERANCE) that counts as converged (see below); else the
    derivative-free search from the same start (Nelder-Mead, then L-BFGS-B from its optimum:
    thousands of evaluations; a ridge or an optimum at a bound). A parameter that ends at a bound of the search has no finite estimate:
    the fit does not count as converged unless that bound is in ``allowed_at_bound``
    ({(name, "lower" | "upper")}: a limit the model is still defined at), which the message
    then names."""

    def negative(log_params):
        values = np.exp(log_params)
        total = log_likelihood(values)
        return -total if np.isfinite(total) else np.inf

    def negative_and_gradient(log_params):
        values = np.exp(log_params)
        total, gradient = log_likelihood.value_and_gradient(values)
        if not (np.isfinite(total) and np.all(np.isfinite(gradient))):
            return np.inf, np.zeros(len(values))
        return -total, -gradient * values  # d/d(ln θ) = θ · d/dθ

    bounds = [tuple(np.log(PARAM_BOUNDS))] * len(names)
    x0 = np.log(np.asarray(start, dtype=float))
    with np.errstate(all="ignore"), threadpool_limits(limits=FIT_THREADS):
        best = optimize.minimize(
            negative_and_gradient,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 1000},
        )
        iterations = int(best.nit)
        step = _newton_step(negative_and_gradient, best.x) if np.isfinite(best.fun) else None
        if step is not None and np.max(np.abs(step)) < NEWTON_TOLERANCE:
            # an isolated optimum next to where L-BFGS-B stopped: one Newton step onto it
            polished = np.clip(best.x + step, bounds[0][0], bounds[0][1])
            value = negative(polished)
            if value <= best.fun:
                best = optimize.OptimizeResult(
                    x=polished, fun=value, message=best.message, nit=best.nit
                )
            fit = _assess(negative, best, names, bounds, allowed_at_bound, log_likelihood.n)
            if fit.converged:
                fit.iterations = iterations
                return fit
        first = optimize.minimize(
            negative,
            x0,
            method="Nelder-Mead",
            bounds=bounds,
            options={"maxiter": 4000, "xatol": 1e-10, "fatol": 1e-10},
        )
        result = optimize.minimize(negative, first.x, method="L-BFGS-B", bounds=bounds)
    iterations += int(first.nit + getattr(result, "nit", 0))
    best = result if np.isfinite(result.fun) and result.fun <= first.fun else first
    fit = _assess(negative, best, names, bounds, allowed_at_bound, log_likelihood.n)
    fit.iterations = iterations
    return fit


def _newton_step(negative_and_gradient, x, step=1e-5) -> np.ndarray | None:
    """The Newton step -H⁻¹g at ``x`` (H from central differences of the analytic gradient);
    None where H is not positive definite (no isolated minimum of the negative likelihood)."""
    gradient = negative_and_gradient(x)[1]
    hessian = np.empty((len(x), len(x)))
    for i in range(len(x)):
        up, down = x.copy(), x.copy()
        up[i] += step
        down[i] -= step
        hessian[i] = (negative_and_gradient(up)[1] - negative_and_gradient(down)[1]) / (2 * step)
    hessian = (hessian + hessian.T) / 2
    if not np.all(np.isfinite(hessian)):
        return None
    try:
        factor = np.linalg.cholesky(hessian)
    except np.linalg.LinAlgError:
        return None
    return -np.linalg.solve(factor.T, np.linalg.solve(factor, gradient))


def _assess(negative, best, names, bounds, allowed_at_bound, customers) -> Fit:
    """The fit of an optimiser's result: parameters, bounds reached, converged or not."""
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
        n=customers,
        extra={"at_bound": at_bound, "gradient": [float(g) for g in gradient]},
    )


def fit_bgnbd(frequency, recency, T) -> Fit:
    """Maximum-likelihood BG/NBD parameters (r, alpha, a, b)."""
    likelihood = BgnbdLikelihood(frequency, recency, T)
    fit = _maximise(likelihood, BGNBD_PARAMS, (1.0, 1.0, 1.0, 1.0), NO_DROPOUT_LIMIT)
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
    start_gamma = max(float(np.mean(np.asarray(monetary, dtype=float))), 1e-3)
    likelihood = GammaGammaLikelihood(frequency, monetary)
    fit = _maximise(likelihood, GAMMA_GAMMA_PARAMS, (1.0, 2.0, start_gamma))
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


def expected_purchases_by_horizon(params: dict, horizons, frequency, recency, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T] for every horizon t (rows) and customer (columns), in one
    evaluation over the distinct (x, t_x, T) triples (equal customers, equal predictions)."""
    horizons = np.asarray(horizons, dtype=float).reshape(-1, 1)
    columns = [np.asarray(v, dtype=float).reshape(-1) for v in (frequency, recency, T)]
    if not len(columns[0]):
        return np.zeros((len(horizons), 0))
    rows, index = np.unique(np.column_stack(columns), axis=0, return_inverse=True)
    values = expected_purchases(params, horizons, rows[:, 0], rows[:, 1], rows[:, 2])
    return values[:, index.reshape(-1)]


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
    cumulative = expected_purchases_by_horizon(
        params, np.arange(1, months + 1) * weeks_per_month, frequency, recency, T
    )
    increments = np.diff(cumulative, axis=0, prepend=0.0)
    discount = (1 + monthly_discount_rate) ** np.arange(1, months + 1, dtype=float)
    total = (increments / discount[:, None]).sum(axis=0)
    return total * np.asarray(spend, dtype=float) * margin
