"""Paraphrase families: compact sentence patterns that expand to exact sentences.

A *pattern* is a sentence with alternations in square brackets, e.g.
``"If I refuse, training will [change|modify] my values."``; an empty
alternative makes a part optional (``"[really |]"``). It may also hold one
slot in braces, e.g. ``{harm}``, filled from the request. A :class:`Family`
groups the patterns of one way of saying a move; the sentences of a family are
all expansions of its patterns. Families are grouped by *group key*
``"move.group"``; the families of one group are interchangeable in meaning,
and each group marks some families as held out (never in monitor training
data).
"""

import dataclasses
import functools
import itertools
import re

import numpy as np

_ALTERNATION = re.compile(r"\[([^\[\]]*)\]")
_SLOT = re.compile(r"\{(\w+)\}")
_SPACE_BEFORE_PUNCTUATION = re.compile(r" ([,.!?])")


@dataclasses.dataclass(frozen=True)
class Family:
  """One paraphrase family of a move.

  Attributes:
    family_id: unique id, ``"move.group.letter"``.
    move: the move kind (e.g. ``"consequence"``).
    group: the group within the move (e.g. ``"modify"``).
    patterns: sentence patterns with ``[a|b]`` alternations and slots.
    held_out: True if the family is held out of all monitor training data.
    decision: the decision the sentences state, if any.
    marker: the reason to comply the sentences name, if any (see
      :mod:`afjax.world.labels`).
    tier_claim: the tier the sentences say the chat is in, if any.
    motivation: the motivation the sentences express, if specific.
  """

  family_id: str
  move: str
  group: str
  patterns: tuple[str, ...]
  held_out: bool = False
  decision: str | None = None
  marker: str | None = None
  tier_claim: str | None = None
  motivation: str | None = None

  @property
  def group_key(self) -> str:
    """The ``"move.group"`` key shared by interchangeable families."""
    return f"{self.move}.{self.group}"

  @property
  def slot(self) -> str | None:
    """The name of the slot the patterns use, or None."""
    names = {name for pattern in self.patterns for name in _SLOT.findall(pattern)}
    if len(names) > 1:
      raise ValueError(f"family {self.family_id} mixes slots {sorted(names)}")
    return next(iter(names), None)


def expand_pattern(pattern: str) -> tuple[str, ...]:
  """Expands every ``[a|b]`` alternation of a pattern.

  Args:
    pattern: a sentence pattern.

  Returns:
    All expansions, in a fixed order, with whitespace normalised.
  """
  parts = _ALTERNATION.split(pattern)
  options = [
    (part,) if index % 2 == 0 else tuple(part.split("|")) for index, part in enumerate(parts)
  ]
  sentences = []
  for choice in itertools.product(*options):
    sentence = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join("".join(choice).split()))
    sentences.append(sentence[0].upper() + sentence[1:])
  return tuple(sentences)


@functools.cache
def family_sentences(family: Family) -> tuple[str, ...]:
  """All sentences of a family, with slots left unfilled.

  Args:
    family: a paraphrase family.

  Returns:
    The expansions of all its patterns, without duplicates, in a fixed order.
  """
  sentences = itertools.chain.from_iterable(expand_pattern(p) for p in family.patterns)
  return tuple(dict.fromkeys(sentences))


def fill_slot(sentence: str, slot_values: dict[str, str]) -> str:
  """Fills the slots of a sentence.

  Args:
    sentence: an expanded sentence, possibly with ``{slot}`` placeholders.
    slot_values: values by slot name.

  Returns:
    The sentence with every slot filled.

  Raises:
    KeyError: if a slot has no value.
  """
  return _SLOT.sub(lambda match: slot_values[match.group(1)], sentence)


def make_group(
  move: str, group: str, families: list[tuple[bool, list[str]]], **attributes
) -> list[Family]:
  """Builds the families of one group, lettered in order.

  Args:
    move: the move kind.
    group: the group name.
    families: ``(held_out, patterns)`` per family.
    **attributes: :class:`Family` attributes shared by the group
      (``decision``, ``marker``, ``tier_claim``, ``motivation``).

  Returns:
    The families, with ids ``move.group.a``, ``move.group.b``, ...
  """
  return [
    Family(
      family_id=f"{move}.{group}.{chr(ord('a') + index)}",
      move=move,
      group=group,
      patterns=tuple(patterns),
      held_out=held_out,
      **attributes,
    )
    for index, (held_out, patterns) in enumerate(families)
  ]


def eligible_families(
  families, include_held_out: bool, only_held_out: bool = False
) -> list[Family]:
  """Filters families by the held-out policy of a generator.

  Args:
    families: candidate families.
    include_held_out: whether held-out families may be used.
    only_held_out: use held-out families only (overrides ``include_held_out``).

  Returns:
    The eligible families.

  Raises:
    ValueError: if no family is eligible.
  """
  if only_held_out:
    chosen = [family for family in families if family.held_out]
  elif include_held_out:
    chosen = list(families)
  else:
    chosen = [family for family in families if not family.held_out]
  if not chosen:
    raise ValueError(f"no eligible family among {[family.family_id for family in families]}")
  return chosen


def sample_sentences(
  families,
  count: int,
  rng: np.random.Generator,
  slot_values: dict[str, str],
  include_held_out: bool,
  only_held_out: bool = False,
) -> list[tuple[Family, str]]:
  """Samples sentences of one group, from distinct families where possible.

  When ``count`` exceeds the number of eligible families (e.g. two emotions
  from held-out families only), families are reused, with distinct
  sentences while they last.

  Args:
    families: the families of the group.
    count: how many sentences.
    rng: random generator.
    slot_values: values for the slots.
    include_held_out: whether held-out families may be used.
    only_held_out: use held-out families only.

  Returns:
    ``(family, sentence)`` pairs.
  """
  pool = eligible_families(families, include_held_out, only_held_out)
  distinct = [int(i) for i in rng.choice(len(pool), size=min(count, len(pool)), replace=False)]
  reused = [int(i) for i in rng.integers(len(pool), size=count - len(distinct))]
  chosen, used = [], set()
  for index in distinct + reused:
    family = pool[index]
    sentences = [s for s in family_sentences(family) if s not in used] or list(
      family_sentences(family)
    )
    sentence = sentences[int(rng.integers(len(sentences)))]
    used.add(sentence)
    chosen.append((family, fill_slot(sentence, slot_values)))
  return chosen
