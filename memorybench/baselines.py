"""Classical baselines: scikit-learn estimators and rules fitted on the task's own data.

A baseline runs where a model would, as one cell per (task, length, seed): it draws its
training examples from the same training stream, is scored on the same held-out batch by
``task.score``, and is stored in the same row schema. Its name says what it cannot do:
``bow-logreg`` sees no order, ``recent-noun`` only the last noun, ``ridge-window`` only the
last ``window`` steps. A model that beats them has used what they lack.
"""

from __future__ import annotations

import inspect
from typing import ClassVar

import numpy as np
import torch

from memorybench.registry import Registry
from memorybench.tasks.agreement import N_NOUNS, NOUNS, Agreement
from memorybench.tasks.base import Batch, Task, input_rows, sample_unseen


class Baseline:
    """A fit-and-score rule. Constructor arguments are its parameters (like a model's)."""

    name: ClassVar[str] = "baseline"  # set by the registry
    description: ClassVar[str] = ""
    version: ClassVar[int] = 1  # as ``Core.version``: part of every cell key

    def __init__(self, examples: int = 2000):
        self.examples = examples  # training examples drawn from the task's generator

    @classmethod
    def parameters_of(cls) -> dict[str, object]:
        sig = inspect.signature(cls.__init__)
        return {k: p.default for k, p in sig.parameters.items() if k != "self"}

    def applies_to(self, task: Task) -> bool:
        raise NotImplementedError

    def fit_score(self, task: Task, length: int, train_rng: np.random.Generator,
                  eval_batch: Batch) -> dict:
        """Fit on ``examples`` fresh examples, none of them in ``eval_batch``, and score
        ``eval_batch`` with ``task.score``. The metrics also hold ``coefficients`` (fitted
        numbers) and ``train_examples``."""
        train = None
        if self.examples:
            train = sample_unseen(task, self.examples, length, train_rng,
                                  input_rows(task, eval_batch))
        out, coefficients = self.fit_predict(task, train, eval_batch)
        metrics = task.score(out, eval_batch)
        metrics["coefficients"] = coefficients
        metrics["train_examples"] = self.examples if train is not None else 0
        return metrics

    def fit_predict(self, task: Task, train: Batch | None, test: Batch
                    ) -> tuple[torch.Tensor, int]:
        """Outputs for ``test`` shaped like a model's, and the number of fitted numbers."""
        raise NotImplementedError


BASELINES = Registry("baseline", "memorybench.baselines", Baseline)


def _class_at_end(task: Task) -> bool:
    io = task.io
    return io.targets == "class" and io.positions == "last"


def _logits(classes: np.ndarray, proba: np.ndarray, size: int) -> torch.Tensor:
    """Log-probabilities over all ``size`` classes from an estimator's ``classes_``."""
    out = np.full((len(proba), size), -1e9, dtype=np.float32)
    out[:, classes] = np.log(np.clip(proba, 1e-12, None))
    return torch.from_numpy(out)


@BASELINES.register("bow-logreg")
class BagOfWords(Baseline):
    """Logistic regression on token counts: word order and negation scope are invisible
    to it, so it fails negated phrases and attractors (Socher et al. 2013)."""

    version = 1  # bump when a change alters the fit or the predictions
    description = "baseline: logistic regression on a bag of words (no word order)"

    def __init__(self, examples: int = 2000, c: float = 1.0):
        super().__init__(examples)
        self.c = c

    def applies_to(self, task: Task) -> bool:
        return task.io.inputs == "tokens" and _class_at_end(task)

    def fit_predict(self, task, train, test):
        from sklearn.linear_model import LogisticRegression

        def counts(batch: Batch) -> np.ndarray:
            x = batch.x.cpu().numpy()
            rows = np.repeat(np.arange(len(x)), x.shape[1])
            return np.bincount(rows * task.io.in_size + x.ravel(),
                               minlength=len(x) * task.io.in_size).reshape(len(x), -1)

        fit = LogisticRegression(C=self.c, max_iter=2000).fit(counts(train), train.y.numpy())
        out = _logits(fit.classes_, fit.predict_proba(counts(test)), task.io.out_size)
        return out, int(fit.coef_.size + fit.intercept_.size)


@BASELINES.register("recent-noun")
class RecentNoun(Baseline):
    """The verb agrees with the most recent noun: right without attractors, wrong whenever
    the last noun is one (Linzen et al. 2016)."""

    version = 1  # bump when a change alters the fit or the predictions
    description = "baseline: the verb agrees with the most recent noun (agreement only)"

    def __init__(self):
        super().__init__(examples=0)

    def applies_to(self, task: Task) -> bool:
        return isinstance(task, Agreement)

    def fit_predict(self, task, train, test):
        x = test.x.cpu().numpy()
        noun = x >= NOUNS
        last = x.shape[1] - 1 - np.argmax(noun[:, ::-1], axis=1)  # index of the last noun
        plural = x[np.arange(len(x)), last] >= NOUNS + N_NOUNS
        return torch.nn.functional.one_hot(torch.from_numpy(plural).long(), 2).float(), 0


@BASELINES.register("ridge-window")
class RidgeWindow(Baseline):
    """Ridge regression on the last ``window`` inputs: a linear forecaster with a fixed,
    finite memory. It solves a seasonal series whose lag fits the window, and fails beyond."""

    version = 1  # bump when a change alters the fit or the predictions
    description = "baseline: ridge regression on the last `window` steps (reals tasks)"

    def __init__(self, examples: int = 2000, window: int = 10, alpha: float = 1e-3):
        super().__init__(examples)
        self.window, self.alpha = window, alpha

    def applies_to(self, task: Task) -> bool:
        io = task.io
        return io.inputs == "reals" and io.targets == "real" and io.positions == "last"

    def fit_predict(self, task, train, test):
        from sklearn.linear_model import Ridge

        def window(batch: Batch) -> np.ndarray:
            return batch.x[:, -self.window:].reshape(len(batch), -1).cpu().numpy()

        fit = Ridge(alpha=self.alpha).fit(window(train), train.y.numpy())
        out = torch.from_numpy(fit.predict(window(test)).astype(np.float32))
        return out.reshape(len(test), -1), int(fit.coef_.size + np.size(fit.intercept_))


@BASELINES.register("majority")
class Majority(Baseline):
    """The most frequent training class, whatever the input: the floor of a class task."""

    version = 1  # bump when a change alters the fit or the predictions
    description = "baseline: always the most frequent class (class tasks read at the end)"

    def applies_to(self, task: Task) -> bool:
        return _class_at_end(task)

    def fit_predict(self, task, train, test):
        top = int(np.bincount(train.y.numpy(), minlength=task.io.out_size).argmax())
        out = torch.zeros(len(test), task.io.out_size)
        out[:, top] = 1.0
        return out, 1


def is_baseline(name: str) -> bool:
    return name in BASELINES.names()
