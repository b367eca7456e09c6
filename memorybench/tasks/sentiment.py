"""Sentiment with negation at a controlled distance from the end (after Socher et al. 2013,
whose treebank showed that negation flips polarity and defeats bag-of-words models)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from memorybench.tasks import TASKS
from memorybench.tasks.base import Batch, Task, TaskIO, balanced_labels

# A built-in lexicon: neutral filler, neutral adjectives (which "not" and intensifiers also
# modify), the negation, intensifiers, and opinion adjectives (POSITIVE[i] and NEGATIVE[i]
# are antonyms, so a probe can flip one into the other).
FILLER = ("the", "movie", "was", "and", "plot", "it", "a", "film", "then", "we", "saw", "cast")
NEUTRAL = ("long", "new", "old", "short", "late", "big")
INTENSIFIERS = ("very", "so", "truly")
POSITIVE = ("good", "great", "fine", "fun", "nice", "sweet")
NEGATIVE = ("bad", "awful", "poor", "dull", "nasty", "sour")
WORDS = ("<pad>",) + FILLER + NEUTRAL + ("not",) + INTENSIFIERS + POSITIVE + NEGATIVE
PAD, FIRST_FILLER = 0, 1
FIRST_NEUTRAL = FIRST_FILLER + len(FILLER)
NOT = FIRST_NEUTRAL + len(NEUTRAL)
FIRST_INTENSIFIER = NOT + 1
FIRST_POSITIVE = FIRST_INTENSIFIER + len(INTENSIFIERS)
FIRST_NEGATIVE = FIRST_POSITIVE + len(POSITIVE)

# A sequence is a grid of 3-token cells [modifier, modifier, head]: LEAD cells (the first ones
# partly padded), the opinion cell, then `length` tokens: length // 3 cells and length % 3
# plain words. A filler cell's head is a neutral adjective, its modifiers plain words, "not"
# or an intensifier ("and not so long"), exactly as the opinion cell's ("it not good").
LEAD = 3  # cells before the opinion cell
MAX_PAD = 3 * LEAD - 3  # pads before the first word: the last lead cell is always whole
OPINION = 3 * LEAD + 2  # index of the opinion word


def spread(total: np.ndarray, own: np.ndarray, free: np.ndarray,
           rng: np.random.Generator) -> np.ndarray:
    """(n, cells) mask: ``total - own`` of the ``free`` cells per row, at random."""
    rank = np.where(free, rng.random(free.shape), 2.0).argsort(1).argsort(1)
    return rank < (total - own)[:, None]


def sibling(tokens: np.ndarray) -> np.ndarray:
    """Each plain word, neutral adjective and intensifier replaced by another of its kind."""
    out = tokens.copy()
    for first, size in ((FIRST_FILLER, len(FILLER)), (FIRST_NEUTRAL, len(NEUTRAL)),
                        (FIRST_INTENSIFIER, len(INTENSIFIERS))):
        inside = (tokens >= first) & (tokens < first + size)
        out[inside] = first + (tokens[inside] - first + 1) % size
    return out


@TASKS.register("sentiment")
@dataclass(frozen=True)
class Sentiment(Task):
    """Say whether a sequence is positive (1) or negative (0) from one opinion phrase.

    The sequence (``length + 12`` tokens) is 0..6 pads, filler, the opinion phrase, then
    exactly ``length`` tokens of filler. The phrase is an opinion word, maybe preceded by
    "not" and an intensifier ("not very good"); the label is the word's polarity, flipped
    by "not"; an intensifier scales the opinion without changing its sign. Filler holds
    neutral words and neutral adjectives, which "not" and intensifiers also modify ("not so
    long"), so neither the presence nor the count of "not" says whether the phrase is
    negated: every sequence has 1..E "not"s, uniformly, E being its number of filler cells
    (groups of three tokens ending in a neutral adjective), whether or not one of them is
    the phrase's. Only the word right after a "not" (or after "not" and an intensifier)
    tells which it negates.

    >>> from memorybench.tasks.base import lined_up
    >>> task = Sentiment()
    >>> b = task.sample(1, 3, np.random.default_rng(26))
    >>> words = [WORDS[t] for t in b.x[0]]
    >>> print(lined_up({"input": words, "label": ["."] * 14 + [("neg", "pos")[b.y[0]]]}))
    input <pad> <pad> <pad>     a   not   big   and  plot   big   not truly awful  film   not   big
    label     .     .     .     .     .     .     .     .     .     .     .     .     .     .   pos
    >>> bool(b.meta["negated"][0]), bool(b.meta["intensified"][0])
    (True, True)

    Chance is 0.5 (classes are balanced). With ``negation`` < 0.5 a bag of words learns the
    adjectives' polarity and gets negated phrases wrong (the ``bow-logreg`` baseline,
    stored as ``accuracy_negated``), as Socher et al. (2013) observed on real reviews; a
    feature "not present and a positive word present" added to the counts does not help,
    as every sequence has a "not".
    """

    description = "polarity of an opinion phrase, maybe negated, `length` tokens before the " \
                  "end (Socher et al. 2013)"
    length_meaning = "number of filler tokens between the opinion word and the end"
    version = 2  # 2: "not" and intensifiers in filler too, a variable amount of lead filler
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
        cells = LEAD + 1 + length // 3
        label = balanced_labels(n, 2, rng)  # 1 positive, 0 negative
        negated = rng.random(n) < self.negation
        intensified = rng.random(n) < self.intensity
        pads = rng.integers(0, MAX_PAD + 1, n)  # (n,)
        start = 3 * np.arange(cells)  # first token of each cell
        free = (start >= pads[:, None]) & (np.arange(cells) != LEAD)  # (n, C) filler cells
        room = free.sum(1)  # (n,) >= 1

        # Every modifier count is uniform on 1..room whatever the phrase has, so counting
        # "not"s (or intensifiers) tells nothing; the phrase's own takes one of them.
        def modified(own: np.ndarray) -> np.ndarray:  # (n, C)
            total = 1 + (rng.random(n) * room).astype(np.int64)
            mask = spread(total, own.astype(np.int64), free, rng)
            mask[:, LEAD] = own
            return mask

        nots, intense = modified(negated), modified(intensified)
        grid = rng.integers(FIRST_FILLER, FIRST_NEUTRAL, (n, cells, 3))  # (n, C, 3)
        grid[..., 2] = rng.integers(FIRST_NEUTRAL, NOT, (n, cells))
        positive = label != negated  # the opinion word's own polarity
        grid[:, LEAD, 2] = np.where(positive, FIRST_POSITIVE, FIRST_NEGATIVE) \
            + rng.integers(0, len(POSITIVE), n)
        grid[..., 1] = np.where(intense, rng.integers(FIRST_INTENSIFIER, FIRST_POSITIVE,
                                                      (n, cells)), grid[..., 1])
        grid[nots & intense, 0] = NOT
        grid[nots & ~intense, 1] = NOT
        tail = rng.integers(FIRST_FILLER, FIRST_NEUTRAL, (n, length % 3))
        x = np.concatenate([grid.reshape(n, -1), tail], axis=1)  # (n, length + 12)
        x[np.arange(x.shape[1]) < pads[:, None]] = PAD
        meta = {"negated": negated, "intensified": intensified}
        return Batch(torch.from_numpy(x), torch.from_numpy(label), meta)

    def probe(self, n: int, length: int, rng: np.random.Generator) -> tuple[Batch, Batch, Batch]:
        base = self.sample(n, length, rng)
        deciding = base.x.clone()
        word = base.x[:, OPINION]
        deciding[:, OPINION] = torch.where(word < FIRST_NEGATIVE, word + len(POSITIVE),
                                           word - len(POSITIVE))  # good <-> bad
        # Filler: other words in every cell but the phrase's, before and after it.
        filler = torch.from_numpy(sibling(base.x.numpy()))
        filler[:, OPINION - 2:OPINION + 1] = base.x[:, OPINION - 2:OPINION + 1]
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
