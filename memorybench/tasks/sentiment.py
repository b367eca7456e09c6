"""Sentiment with negation at a controlled distance from the end (after Socher et al. 2013,
whose treebank showed that negation flips polarity and defeats bag-of-words models)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from memorybench.tasks import TASKS
from memorybench.tasks.base import Batch, Task, TaskIO, balanced_labels

# A built-in lexicon: neutral filler, the negation, intensifiers, and opinion adjectives
# (POSITIVE[i] and NEGATIVE[i] are antonyms, so a probe can flip one into the other).
FILLER = ("the", "movie", "was", "and", "plot", "it", "a", "film", "then", "we", "saw", "cast")
INTENSIFIERS = ("very", "really", "truly")
POSITIVE = ("good", "great", "fine", "fun", "nice", "clever")
NEGATIVE = ("bad", "awful", "poor", "dull", "nasty", "stupid")
WORDS = FILLER + ("not",) + INTENSIFIERS + POSITIVE + NEGATIVE
NOT = len(FILLER)
FIRST_INTENSIFIER = NOT + 1
FIRST_POSITIVE = FIRST_INTENSIFIER + len(INTENSIFIERS)
FIRST_NEGATIVE = FIRST_POSITIVE + len(POSITIVE)
SLOT = 3  # position of the opinion word; "not" and an intensifier may precede it


@TASKS.register("sentiment")
@dataclass(frozen=True)
class Sentiment(Task):
    """Say whether a sequence is positive (1) or negative (0) from one opinion phrase.

    Layout (``length + 4`` tokens): three tokens of neutral filler, into whose end may go
    "not" and an intensifier, then the opinion word, then exactly ``length`` tokens of
    filler. The label is the word's polarity, flipped by "not"; an intensifier scales
    the opinion without changing its sign. No other token carries sentiment.

    >>> from memorybench.tasks.base import lined_up
    >>> task = Sentiment()
    >>> b = task.sample(1, 4, np.random.default_rng(20))
    >>> words = [WORDS[t] for t in b.x[0]]
    >>> print(lined_up({"input": words, "target": ["."] * 7 + [("neg", "pos")[b.y[0]]]}))
    input     saw    not really   fine    saw  movie    was      a
    target      .      .      .      .      .      .      .    neg
    >>> bool(b.meta["negated"][0]), bool(b.meta["intensified"][0])
    (True, True)

    Chance is 0.5 (classes are balanced). With ``negation`` < 0.5 a bag of words learns the
    adjectives' polarity and gets negated phrases wrong (the ``bow-logreg`` baseline,
    stored as ``accuracy_negated``), as Socher et al. (2013) observed on real reviews.
    """

    description = "polarity of an opinion phrase, maybe negated, `length` tokens before the " \
                  "end (Socher et al. 2013)"
    length_meaning = "number of filler tokens between the opinion word and the end"
    balanced = True

    negation: float = 0.3  # share of phrases negated with "not"
    intensity: float = 0.5  # share of phrases with an intensifier ("very good")
    solved: float = 0.9

    def validate(self) -> None:
        self.require("negation", 0.0 <= self.negation <= 1.0, "0 <= negation <= 1")
        self.require("intensity", 0.0 <= self.intensity <= 1.0, "0 <= intensity <= 1")

    @property
    def io(self) -> TaskIO:
        return TaskIO(inputs="tokens", in_size=len(WORDS), targets="class", out_size=2,
                      positions="last")

    def sample(self, n: int, length: int, rng: np.random.Generator) -> Batch:
        rows = np.arange(n)
        x = rng.integers(0, len(FILLER), (n, length + SLOT + 1))  # (n, T)
        label = balanced_labels(n, 2, rng)  # 1 positive, 0 negative
        negated = rng.random(n) < self.negation
        intensified = rng.random(n) < self.intensity
        positive = label != negated  # the adjective's own polarity
        x[:, SLOT] = np.where(positive, FIRST_POSITIVE, FIRST_NEGATIVE) \
            + rng.integers(0, len(POSITIVE), n)
        x[intensified, SLOT - 1] = FIRST_INTENSIFIER + rng.integers(0, len(INTENSIFIERS),
                                                                     intensified.sum())
        x[rows[negated], SLOT - 1 - intensified[negated].astype(int)] = NOT
        meta = {"negated": negated, "intensified": intensified}
        return Batch(torch.from_numpy(x), torch.from_numpy(label), meta)

    def probe(self, n: int, length: int, rng: np.random.Generator) -> tuple[Batch, Batch, Batch]:
        base = self.sample(n, length, rng)
        deciding = base.x.clone()
        word = base.x[:, SLOT]
        deciding[:, SLOT] = torch.where(word < FIRST_NEGATIVE, word + len(POSITIVE),
                                        word - len(POSITIVE))  # good <-> bad
        filler = base.x.clone()
        filler[:, SLOT + 1:] = (base.x[:, SLOT + 1:] + 1) % len(FILLER)
        return (base, Batch(deciding, 1 - base.y, base.meta),
                Batch(filler, base.y.clone(), base.meta))

    def score(self, out: torch.Tensor, batch: Batch) -> dict[str, float]:
        right = (out.argmax(-1) == batch.y).cpu().numpy()
        metrics = {"accuracy": float(right.mean())}
        for name, where in (("negated", batch.meta["negated"]),
                            ("plain", ~batch.meta["negated"]),
                            ("intensified", batch.meta["intensified"])):
            if where.any():
                metrics[f"accuracy_{name}"] = float(right[where].mean())
        return metrics

    def chance(self, length: int) -> float:
        return 0.5
