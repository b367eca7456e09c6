"""Subject-verb agreement over a controlled distance (after Linzen, Dupoux & Goldberg 2016),
from a small grammar of this module's own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from memorybench.tasks import TASKS
from memorybench.tasks.base import Batch, Task, TaskIO, balanced_labels

# The vocabulary. Nouns come in pairs: singular NOUNS[i] and plural NOUNS[i] + N_NOUNS.
WORDS = ("<pad>", "the", ",", "that",
         "near", "behind", "beside", "above",  # prepositions
         "saw", "chased", "liked", "met",  # past-tense verbs: no number marking
         "often", "really", "now", "surely",  # adverbs
         "dog", "cat", "bird", "fox", "pig", "cow",
         "dogs", "cats", "birds", "foxes", "pigs", "cows")
PAD, THE, COMMA, THAT = 0, 1, 2, 3
PREPS, VERBS, ADVERBS = np.arange(4, 8), np.arange(8, 12), np.arange(12, 16)
NOUNS, N_NOUNS = 16, 6  # singular nouns 16..21, plural 22..27
PREFIX = 6  # [prep the noun ,] or 4 pads, then [the subject]: the material starts here

# Units of material between subject and verb: adverb (1 token), prepositional phrase
# "near the cats" (3), subject relative clause "that chased the cats" (4), object relative
# clause "that the cats saw" (4). Verbs in the clauses are past tense, so they carry no
# number the model could copy.
UNIT_LENGTHS = np.array([1, 3, 4, 4])
UNIT_USES = np.arange(4) < UNIT_LENGTHS[:, None]  # (kinds, 4): which of a unit's 4 places
# The words of each kind of unit, as indices into the stack of candidate words per slot:
# 0 blank, 1 "the", 2 "that", 3 noun, 4 verb, 5 adverb, 6 preposition.
UNIT_WORDS = np.array([[5, 0, 0, 0], [6, 1, 3, 0], [2, 4, 1, 3], [2, 1, 3, 4]])
# Each class's first token and size, in the order above; a noun's first token is the
# singular one, moved up by N_NOUNS for a plural noun.
CLASS_FIRST = np.array([PAD, THE, THAT, NOUNS, VERBS[0], ADVERBS[0], PREPS[0]])
CLASS_SIZE = np.array([1, 1, 1, N_NOUNS, len(VERBS), len(ADVERBS), len(PREPS)])
NOUN_CLASS = 3
UNIT_WEIGHTS = np.array([0.2, 0.4, 0.2, 0.2])
NOUN_SLOT = np.array([-1, 2, 3, 2])  # where the unit's noun sits (-1: none)
PHRASE = 1  # the shortest unit with a noun
NOUN_WEIGHTS = np.where(NOUN_SLOT >= 0, UNIT_WEIGHTS, 0.0) / UNIT_WEIGHTS[NOUN_SLOT >= 0].sum()


def other_number(nouns: np.ndarray) -> np.ndarray:
    """Each noun in the other number ("dog" <-> "dogs")."""
    return np.where(nouns < NOUNS + N_NOUNS, nouns + N_NOUNS, nouns - N_NOUNS)


def sibling(tokens: np.ndarray) -> np.ndarray:
    """Each token replaced by another of the same class (and the same number, for nouns)."""
    out = tokens.copy()
    for first, size in ((4, 4), (8, 4), (12, 4), (NOUNS, N_NOUNS), (NOUNS + N_NOUNS, N_NOUNS)):
        inside = (tokens >= first) & (tokens < first + size)
        out[inside] = first + (tokens[inside] - first + 1) % size
    return out


@TASKS.register("agreement")
@dataclass(frozen=True)
class Agreement(Task):
    """Predict whether the verb is singular or plural after ``length`` tokens of material.

    A sentence is an optional fronted phrase ("near the cats ,", else 4 pads, so the first
    noun is not always the subject), then "the" and the subject, then exactly ``length``
    tokens of prepositional phrases, relative clauses and adverbs, at least one of them with
    a noun (so ``length`` >= 3). The model reads up to, not including, the verb and predicts
    its number (0 singular, 1 plural), as in Linzen et al. (2016). An intervening noun of
    the other number is an attractor: their count is drawn uniformly from 0 to the number of
    intervening nouns and placed on random nouns, so every count is well represented at
    every length (``meta["attractors"]``, scores ``by_attractors`` with the examples behind
    each in ``by_attractors_n``), and the last noun is an attractor in half the sentences:
    it gives nothing away.

    >>> from memorybench.tasks.base import lined_up
    >>> task = Agreement()
    >>> b = task.sample(1, 6, np.random.default_rng(36))
    >>> words = [WORDS[t] for t in b.x[0]]
    >>> print(lined_up({"input": words, "target": ["."] * 11 + [("sg", "pl")[b.y[0]]]}))
    input  behind    the   bird      ,    the   cows  above    the   dogs beside    the   bird
    target      .      .      .      .      .      .      .      .      .      .      .     pl
    >>> int(b.meta["attractors"][0]), bool(b.meta["last_noun_attractor"][0])  # the last "bird"
    (1, True)

    Chance is 0.5 (classes are balanced). The rule "agree with the most recent noun" is right
    with no attractor and wrong whenever the last noun is one: 0.5 overall (the
    ``recent-noun`` baseline). Counting nouns of each number does not tell the answer
    either: with the attractor count uniform, both subjects are equally likely given the
    counts unless every noun agrees, so a bag of words (``bow-logreg``) is right without
    attractors and falls as they grow (at length 20: 1.00 0.98 0.88 0.49 0.09 at 0..4).
    Reference points (Yogatama et al. 2018 via Dehghani et al. 2019, Table 2): LSTM
    accuracy .993 .972 .950 .922 .900 .842 at 0..5 attractors.
    """

    description = "singular or plural verb after `length` tokens of phrases and clauses " \
                  "with attractors (Linzen et al. 2016)"
    length_meaning = "number of tokens between the subject and its verb"
    version = 2  # 2: attractor count drawn uniformly, an intervening noun always
    min_length = 3  # "near the cats": the shortest material that holds a noun
    balanced = True

    fronted: float = 0.5  # probability of a fronted phrase "near the cats ," before the subject
    solved: float = 0.9

    def validate(self) -> None:
        self.require("fronted", 0.0 <= self.fronted <= 1.0, "0 <= fronted <= 1")

    @property
    def io(self) -> TaskIO:
        return TaskIO(inputs="tokens", in_size=len(WORDS), targets="class", out_size=2,
                      positions="last")

    def _nouns(self, number: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return NOUNS + N_NOUNS * number + rng.integers(0, N_NOUNS, number.shape,
                                                       dtype=number.dtype)

    def sample(self, n: int, length: int, rng: np.random.Generator) -> Batch:
        rows = np.arange(n)
        x = np.full((n, length + PREFIX), PAD, dtype=np.int64)  # (n, T)
        fronted = rng.random(n) < self.fronted
        x[fronted, :4] = np.stack([rng.choice(PREPS, n), np.full(n, THE),
                                   self._nouns(rng.integers(0, 2, n), rng),
                                   np.full(n, COMMA)], axis=1)[fronted]
        subject = balanced_labels(n, 2, rng)  # 0 singular, 1 plural
        x[:, 4], x[:, 5] = THE, self._nouns(subject, rng)

        # Draw units for S slots, keep those that fit in `length`, and fill the tokens left
        # over (0..3 unless the slots run out) with adverbs right after the subject. The
        # first unit always has a noun (a 3-token phrase fits any length >= 3), so every
        # sentence has an intervening noun.
        slots = length // 2 + 4  # units average 3 tokens: S units almost always overfill
        kind = np.searchsorted(np.cumsum(UNIT_WEIGHTS), rng.random((n, slots)))  # (n, S)
        opener = np.searchsorted(np.cumsum(NOUN_WEIGHTS), rng.random(n))  # (n,) with a noun
        kind[:, 0] = np.where(UNIT_LENGTHS[opener] <= length, opener, PHRASE)
        size = UNIT_LENGTHS[kind]
        fits = np.cumsum(size, axis=1) <= length  # a prefix of the slots
        spare = length - (size * fits).sum(1)  # (n,)
        has_noun = fits & (NOUN_SLOT[kind] >= 0)  # (n, S)
        nouns = has_noun.sum(1)  # (n,) >= 1

        # The number of attractors is uniform on 0..nouns, placed on random nouns: every
        # count is as frequent as the others at every length, and the last noun is an
        # attractor in half the sentences.
        attractors = (rng.random(n) * (nouns + 1)).astype(np.int64)  # (n,)
        order = np.where(has_noun, rng.random((n, slots)), 2.0).argsort(1).argsort(1)
        attracts = order < attractors[:, None]  # (n, S): nouns ranked below the count
        number = (subject[:, None] ^ attracts).astype(np.int16)  # each unit's noun number

        # Every place of every unit is a word drawn from its class: the class's first token
        # plus a uniform offset below its size (nouns: in the unit's number).
        cls = UNIT_WORDS[kind]  # (n, S, 4) class of each place
        first = CLASS_FIRST[cls] + (cls == NOUN_CLASS) * (N_NOUNS * number)[..., None]
        units = first + (rng.random(cls.shape) * CLASS_SIZE[cls]).astype(np.int64)
        used = fits[..., None] & UNIT_USES[kind]  # (n, S, 4)
        pad = int(spare.max())
        tokens = np.concatenate([rng.integers(ADVERBS[0], ADVERBS[-1] + 1, (n, pad)),
                                 units.reshape(n, -1)], axis=1)
        used = np.concatenate([np.arange(pad) < spare[:, None], used.reshape(n, -1)], axis=1)
        x[:, PREFIX:] = tokens[used].reshape(n, length)  # exactly `length` used per row, in order

        last = np.where(has_noun, np.arange(slots), -1).max(1)  # slot of the last noun
        meta = {"attractors": attractors, "nouns": nouns,
                "last_noun_attractor": attracts[rows, last], "fronted": fronted}
        return Batch(torch.from_numpy(x), torch.from_numpy(subject), meta)

    def probe(self, n: int, length: int, rng: np.random.Generator) -> tuple[Batch, Batch, Batch]:
        base = self.sample(n, length, rng)
        x = base.x.numpy()
        deciding = x.copy()
        deciding[:, PREFIX - 1] = other_number(x[:, PREFIX - 1])
        # Filler: other words after the subject, every noun's number kept; before it, the
        # fronted noun's number flipped, or a fronted phrase where there was none.
        filler = x.copy()
        filler[:, PREFIX:] = sibling(x[:, PREFIX:])
        fronted = x[:, 0] != PAD
        filler[:, :4] = np.where(fronted[:, None], sibling(x[:, :4]),
                                 [PREPS[0], THE, NOUNS, COMMA])
        filler[fronted, 2] = other_number(x[fronted, 2])
        return (base, Batch(torch.from_numpy(deciding), 1 - base.y),
                Batch(torch.from_numpy(filler), base.y.clone()))

    def score(self, out: torch.Tensor, batch: Batch) -> dict[str, Any]:
        right = (out.argmax(-1) == batch.y).cpu().numpy()
        attractors = batch.meta["attractors"]
        last = batch.meta["last_noun_attractor"]
        counts = np.unique(attractors)
        metrics = {"accuracy": float(right.mean()),
                   "by_attractors": {str(a): float(right[attractors == a].mean())
                                     for a in counts},
                   "by_attractors_n": {str(a): int((attractors == a).sum()) for a in counts}}
        if last.any():
            metrics["accuracy_last_noun_attractor"] = float(right[last].mean())
        return metrics

    def chance(self, length: int) -> float:
        return 0.5
