"""Forecast the next value of a series whose dynamics reach ``length`` steps back: a seasonal
series, NARMA-n (Atiya & Parlos 2000) or Mackey-Glass (Mackey & Glass 1977)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from memorybench.errors import UserError
from memorybench.tasks import TASKS
from memorybench.tasks.base import Batch, Task, TaskIO

SERIES = ("seasonal", "narma", "mackey-glass")
MG_A, MG_B, MG_POWER, MG_CHAOTIC = 0.2, 0.1, 10, 17  # Mackey & Glass (1977); chaos from tau=17


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
    - ``mackey-glass``: the delay equation dx/dt = a x(t-tau) / (1 + x(t-tau)^10) - b x(t),
      a=0.2, b=0.1, with tau = ``length`` >= 17 (chaotic) and Euler steps of 1:
      ``x[t+1] = (1 - b) x[t] + a g(x[t+1-tau])``. Smooth, so a short window already
      forecasts it well: a test of dynamics more than of memory (see ``ridge-window``).

    >>> from memorybench.tasks.base import lined_up
    >>> task = Forecasting(noise=0.0)
    >>> b = task.sample(1, 3, np.random.default_rng(0))
    >>> print(lined_up({"input": b.x[0, :, 0], "target": ["."] * 5 + [f"{b.y[0, 0]:.2f}"]}))
    input   0.13 -0.13  0.64  0.13 -0.13  0.64
    target     .     .     .     .     .  0.13

    A forecast counts as correct when its error is below ``tolerance`` times the standard
    deviation of the step to forecast (target minus last value, over the batch): it must
    get the change right to within 10%. MSE and R^2 are stored too, with the memoryless
    references: predicting the last value (``accuracy_last_value``, ``mse_last_value``) and
    the mean (``accuracy_mean``, ``mse_mean``); ``chance`` is the better of the two accuracies,
    estimated on 2,000 fixed-seed examples: about 0.08-0.11 for every series, while the
    noiseless forecast (``accuracy_oracle``) is right on 100% of examples.
    """

    description = "forecast the next value of a seasonal, NARMA-n or Mackey-Glass series " \
                  "with lag `length`"
    length_meaning = "lag: the next value depends on the input `length` steps before it " \
                     "(seasonal period, NARMA order n, Mackey-Glass delay tau)"
    metric = "accuracy"

    series: str = "seasonal"  # seasonal | narma | mackey-glass
    tolerance: float = 0.1  # in standard deviations of the step to forecast
    phi: float = 1.0  # seasonal: weight of the value one season back
    noise: float = 0.02  # seasonal: innovation standard deviation
    solved: float = 0.8

    def validate(self) -> None:
        self.require("series", self.series in SERIES, " | ".join(SERIES))
        self.require("tolerance", self.tolerance > 0, "tolerance > 0 (standard deviations)")
        self.require("phi", -1.0 <= self.phi <= 1.0, "-1 <= phi <= 1")
        self.require("noise", self.noise >= 0, "noise >= 0")

    @property
    def min_length(self) -> int:
        return MG_CHAOTIC if self.series == "mackey-glass" else 2

    def check_length(self, length: int) -> None:
        if self.series == "mackey-glass" and isinstance(length, int) and 2 <= length < 17:
            raise UserError(f"task {self.name}: length {length} is invalid for series "
                            f"mackey-glass; expected tau >= {MG_CHAOTIC} (chaotic regime)")
        super().check_length(length)

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

    def _mackey_glass(self, n: int, tau: int, rng: np.random.Generator):
        washout = max(300, 3 * tau)
        total = washout + 2 * tau + 1
        x = np.empty((total, n))
        x[:tau] = rng.uniform(0.5, 1.3, n) + 0.05 * rng.standard_normal((tau, n))
        for t in range(tau - 1, total - 1):
            delayed = x[t + 1 - tau]
            x[t + 1] = (1 - MG_B) * x[t] + MG_A * delayed / (1 + delayed ** MG_POWER)
        return x[-2 * tau - 1:-1].T[..., None], x[-1]

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
        delayed = x[:, -lag, 0]
        return (1 - MG_B) * x[:, -1, 0] + MG_A * delayed / (1 + delayed ** MG_POWER)

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
        tol = self.tolerance * (y - last).std()
        var = max(float(y.var()), 1e-12)

        def rate(pred: np.ndarray) -> tuple[float, float]:
            err = pred - y
            return float((np.abs(err) < tol).mean()), float(np.mean(err ** 2))

        accuracy, mse = rate(out[:, 0].double().cpu().numpy())
        acc_last, mse_last = rate(last)
        acc_mean, mse_mean = rate(np.full_like(y, y.mean()))
        acc_oracle, mse_oracle = rate(self.expected(x))
        return {"accuracy": accuracy, "mse": mse, "r2": 1.0 - mse / var,
                "accuracy_last_value": acc_last, "mse_last_value": mse_last,
                "accuracy_mean": acc_mean, "mse_mean": mse_mean,
                "accuracy_oracle": acc_oracle, "mse_oracle": mse_oracle}

    def chance(self, length: int) -> float:
        return _memoryless(self, length)


@cache
def _memoryless(task: Forecasting, length: int) -> float:
    """The better memoryless accuracy (last value or mean) on 2,000 fixed-seed examples."""
    batch = task.sample(2000, length, np.random.default_rng([length, 2000]))
    scores = task.score(batch.y * 0, batch)
    return max(scores["accuracy_last_value"], scores["accuracy_mean"])
