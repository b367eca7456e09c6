"""Forecast the next value of a series whose dynamics reach ``length`` steps back: a seasonal
series, NARMA-n (Atiya & Parlos 2000) or Mackey-Glass (Mackey & Glass 1977)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from memorybench.tasks import TASKS
from memorybench.tasks.base import Batch, Task, TaskIO

SERIES = ("seasonal", "narma", "mackey-glass")
# The Mackey-Glass map: the constants a=0.2, b=0.1 of Mackey & Glass (1977) times a time step
# of 8, so its fixed point stays at x=1 (where a g(x) = b x) while consecutive values are nearly
# uncorrelated (lag-1 autocorrelation ~0.2): a window of recent values says almost nothing about
# the value `length` steps back, which the next value depends on.
MG_A, MG_B = 1.6, 0.8
REFERENCE = 4000  # fixed-seed examples behind the tolerance scale and the memoryless scores


def hill(x: np.ndarray) -> np.ndarray:
    """Mackey & Glass's production term g(x) = x / (1 + x^10), for x >= 0 (|x| below 0, so
    noise cannot push the series onto the mirrored negative attractor)."""
    a = np.abs(x)
    a2 = a * a
    a8 = np.square(np.square(a2))
    return a / (1.0 + a8 * a2)  # a^10 by squaring: this is the generator's inner loop


@TASKS.register("forecasting")
@dataclass(frozen=True)
class Forecasting(Task):
    """Read ``2 * length`` values of a series and predict the next one.

    ``series`` chooses the dynamics; in each, the next value depends on an input ``length``
    steps before it, so no window shorter than ``length`` can forecast it:

    - ``seasonal``: the first ``length`` values ~ N(0, 1) are a random season, then
      ``x[t] = phi * x[t - length] + noise * N(0, 1)``.
    - ``narma``: NARMA-n with n = ``length`` (Atiya & Parlos 2000), inputs u ~ U[0, 0.5]:
      ``y[t+1] = 0.3 y[t] + 0.05 s y[t] sum_{i<n} y[t-i] + 1.5 u[t-n+1] u[t] + 0.1`` with
      ``s = min(1, 10 / n)``: the classic NARMA-10 at n <= 10; for larger n the sum is
      rescaled, as unscaled it diverges (and squashed by tanh it saturates to a constant).
      Two channels (u, y); y is forecast.
    - ``mackey-glass``: a noisy discrete map of the Mackey & Glass (1977) delay equation
      dx/dt = a x(t-tau) / (1 + x(t-tau)^10) - b x(t):
      ``x[t+1] = (1 - b) x[t] + a g(x[t+1-length]) + noise * N(0, 1)``, g(x) = x / (1 + x^10),
      with a = 1.6, b = 0.8: the paper's a = 0.2, b = 0.1 taken in one Euler step of 8 time
      units, delay tau = 8 * ``length``. This is not an accurate solution of the equation: a
      fine step (e.g. 1) gives a smooth series that a short window forecasts well (ridge on 10
      values: R^2 1.00 at tau = 17..100), whereas this coarse, noise-driven map decorrelates
      neighbouring values, so the delayed term is what a forecast needs. Measured at
      length 20..100 on 2,000 training examples: ridge on the last 10 values R^2 0.01-0.03,
      accuracy 0.09-0.10 (memoryless forecasts: 0.08); ridge on all 2 * ``length`` values
      R^2 0.2-0.3 (g is far from linear); the noiseless map (``accuracy_oracle``) 0.98.

    >>> from memorybench.tasks.base import lined_up
    >>> task = Forecasting(noise=0.0)
    >>> b = task.sample(1, 3, np.random.default_rng(0))
    >>> print(lined_up({"input": b.x[0, :, 0], "target": ["."] * 5 + [f"{b.y[0, 0]:.2f}"]}))
    input   0.13 -0.13  0.64  0.13 -0.13  0.64
    target     .     .     .     .     .  0.13

    A forecast counts as correct when its error is below ``tolerance`` times the typical
    size of the step to forecast (the standard deviation of target minus last value, for
    these parameters and length, estimated once on 4,000 fixed-seed examples): with the
    default 0.1 it must get the change right to within 10%, whatever batch it is scored in.
    MSE and R^2 are stored too, with the memoryless references: predicting the last value
    (``accuracy_last_value``, ``mse_last_value``) and the mean (``accuracy_mean``,
    ``mse_mean``); ``chance`` is the better of the two accuracies on other fixed-seed
    examples: 0.07-0.12 for every series at the default lengths 5..100, while the noiseless
    forecast (``accuracy_oracle``) is right on 100% (seasonal, NARMA) and 97-98%
    (mackey-glass, whose noise is 0.04 of the step's scale) of examples.
    """

    description = "forecast the next value of a seasonal, NARMA-n or Mackey-Glass series " \
                  "with lag `length`"
    length_meaning = "lag: the next value depends on the input `length` steps before it " \
                     "(seasonal period, NARMA order n, Mackey-Glass delay)"
    metric = "accuracy"
    version = 2  # 2: the noisy Mackey-Glass map; tolerance scale fixed per length, not batch
    min_length = 2

    series: str = "seasonal"  # seasonal | narma | mackey-glass
    tolerance: float = 0.1  # in standard deviations of the step to forecast
    phi: float = 1.0  # seasonal: weight of the value one season back
    noise: float = 0.02  # seasonal and mackey-glass: innovation standard deviation
    solved: float = 0.8

    def validate(self) -> None:
        self.require("series", self.series in SERIES, " | ".join(SERIES))
        self.require("tolerance", 0.0 < self.tolerance < 1.0,
                     "0 < tolerance < 1 (standard deviations of the step)")
        self.require("phi", -1.0 <= self.phi <= 1.0, "-1 <= phi <= 1")
        self.require("noise", self.noise >= 0, "noise >= 0")

    @property
    def io(self) -> TaskIO:
        return TaskIO(inputs="reals", in_size=2 if self.series == "narma" else 1,
                      targets="real", out_size=1, positions="last")

    @property
    def channel(self) -> int:
        """The input channel holding the series being forecast."""
        return 1 if self.series == "narma" else 0

    # --- generators: inputs (n, 2L, channels) float32 and the next value (n,) ----------
    def sample(self, n: int, length: int, rng: np.random.Generator) -> Batch:
        make = {"seasonal": self._seasonal, "narma": self._narma,
                "mackey-glass": self._mackey_glass}[self.series]
        x, y = make(n, length, rng)
        return Batch(torch.from_numpy(x.astype(np.float32)),
                     torch.from_numpy(y.astype(np.float32)[:, None]))  # y: (n, 1)

    def _seasonal(self, n: int, lag: int, rng: np.random.Generator):
        season = rng.standard_normal((n, lag))
        again = self.phi * season + self.noise * rng.standard_normal((n, lag))
        y = self.phi * again[:, 0] + self.noise * rng.standard_normal(n)
        return np.concatenate([season, again], axis=1)[..., None], y

    def _narma(self, n: int, order: int, rng: np.random.Generator):
        total = 4 * order + 1  # 2*order steps of washout, then 2*order inputs and the target
        u = rng.uniform(0.0, 0.5, (total, n))  # time-major for the loop
        y = np.zeros((total, n))
        window = np.zeros(n)  # sum of the last `order` outputs
        scale = 0.05 * min(1.0, 10 / order)
        for t in range(total - 1):
            window += y[t] - (y[t - order] if t >= order else 0.0)
            lagged = u[t - order + 1] if t >= order - 1 else 0.0
            y[t + 1] = 0.3 * y[t] + scale * y[t] * window + 1.5 * lagged * u[t] + 0.1
        seen = slice(total - 1 - 2 * order, total - 1)
        return np.stack([u[seen].T, y[seen].T], axis=-1), y[-1]

    def _mackey_glass(self, n: int, lag: int, rng: np.random.Generator):
        washout = 10 * lag + 100  # every residue mod `lag` is iterated ~10 times: stationary
        total = washout + 2 * lag + 1
        x = np.empty((total, n))  # time-major for the loop
        x[:lag] = rng.uniform(0.5, 1.3, (lag, n))
        for t in range(lag - 1, total - 1):
            x[t + 1] = ((1 - MG_B) * x[t] + MG_A * hill(x[t + 1 - lag])
                        + self.noise * rng.standard_normal(n))
        return x[-2 * lag - 1:-1].T[..., None], x[-1]

    def expected(self, x: np.ndarray) -> np.ndarray:
        """The best forecast from the inputs (n, 2L, channels): the next value without its
        noise. It reads the input ``length`` steps before the target."""
        lag = x.shape[1] // 2
        if self.series == "seasonal":
            return self.phi * x[:, -lag, 0]
        if self.series == "narma":
            u, y = x[..., 0], x[..., 1]
            scale = 0.05 * min(1.0, 10 / lag)
            return (0.3 * y[:, -1] + scale * y[:, -1] * y[:, -lag:].sum(1)
                    + 1.5 * u[:, -lag] * u[:, -1] + 0.1)
        return (1 - MG_B) * x[:, -1, 0] + MG_A * hill(x[:, -lag, 0])

    def probe(self, n: int, length: int, rng: np.random.Generator) -> tuple[Batch, Batch, Batch]:
        base = self.sample(n, length, rng)
        x = base.x.numpy().astype(np.float64)

        def retarget(changed: np.ndarray) -> Batch:
            y = base.y[:, 0].numpy() + self.expected(changed) - self.expected(x)
            return Batch(torch.from_numpy(changed.astype(np.float32)),
                         torch.from_numpy(y.astype(np.float32)[:, None]))

        deciding = x.copy()
        deciding[:, -length, 0] += 0.3  # seasonal/MG: x[T-L]; NARMA: u[T-n]
        filler = x.copy()
        keep = [-length, -1]
        others = np.setdiff1d(np.arange(-2 * length, 0), keep)
        if self.series == "narma":  # u between the two it multiplies; y outside the sum
            filler[:, others, 0] += 0.1
            filler[:, : -length, 1] += 0.1
        else:
            filler[:, others, 0] += 0.1
        return base, retarget(deciding), retarget(filler)

    # --- scores -------------------------------------------------------------------------
    def score(self, out: torch.Tensor, batch: Batch) -> dict[str, float]:
        y = batch.y[:, 0].double().cpu().numpy()
        x = batch.x.double().cpu().numpy()
        last = x[:, -1, self.channel]
        scale, mean = _reference(self, x.shape[1] // 2)
        tol = self.tolerance * scale
        var = max(float(y.var()), 1e-12)

        def rate(pred: np.ndarray) -> tuple[float, float]:
            err = pred - y
            return float((np.abs(err) < tol).mean()), float(np.mean(err ** 2))

        accuracy, mse = rate(out[:, 0].double().cpu().numpy())
        acc_last, mse_last = rate(last)
        acc_mean, mse_mean = rate(np.full_like(y, mean))
        acc_oracle, mse_oracle = rate(self.expected(x))
        return {"accuracy": accuracy, "mse": mse, "r2": 1.0 - mse / var,
                "accuracy_last_value": acc_last, "mse_last_value": mse_last,
                "accuracy_mean": acc_mean, "mse_mean": mse_mean,
                "accuracy_oracle": acc_oracle, "mse_oracle": mse_oracle}

    def chance(self, length: int) -> float:
        return _memoryless(self, length)


@cache
def _reference(task: Forecasting, length: int) -> tuple[float, float]:
    """(standard deviation of the step to forecast, mean of the target) on ``REFERENCE``
    fixed-seed examples: the scale of the tolerance and the memoryless mean forecast, the
    same for every batch scored at these parameters and length."""
    batch = task.sample(REFERENCE, length, np.random.default_rng([length, REFERENCE]))
    y = batch.y[:, 0].double().numpy()
    step = y - batch.x[:, -1, task.channel].double().numpy()
    return max(float(step.std()), 1e-12), float(y.mean())


@cache
def _memoryless(task: Forecasting, length: int) -> float:
    """The better memoryless accuracy (last value or mean) on ``REFERENCE`` other
    fixed-seed examples."""
    batch = task.sample(REFERENCE, length, np.random.default_rng([length, REFERENCE, 1]))
    scores = task.score(batch.y * 0, batch)
    return max(scores["accuracy_last_value"], scores["accuracy_mean"])
