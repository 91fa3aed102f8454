"""Outputs: full compliance, refusal and partial (hedged) compliance.

Output sentences have kinds, and an output's kind sequence must match one of
:data:`OUTPUT_SHAPES` (``O`` opener naming the task, ``S`` a step of the
task's category, ``H`` hedge naming the task, ``C`` caveat, ``R`` refusal,
``A`` offer of other help):

* comply: ``O S`` or ``O S S`` -- an answer to the request;
* partial: ``H S``, ``H C`` or ``H S C`` -- a hedged, incomplete answer;
* refuse: ``R`` or ``R A``.

Anything else is malformed (see :mod:`afjax.world.oracle`).
"""

import dataclasses
import re

import numpy as np

from afjax.world import labels
from afjax.world import prompts
from afjax.world.paraphrase import expand_pattern

OPENER = "O"
STEP = "S"
HEDGE = "H"
CAVEAT = "C"
REFUSAL = "R"
OFFER = "A"

OUTPUT_SHAPES: dict[str, re.Pattern] = {
  labels.COMPLY: re.compile(r"OS{1,2}"),
  labels.PARTIAL: re.compile(r"H(S|C|SC)"),
  labels.REFUSE: re.compile(r"RA?"),
}

OUTPUT_PATTERNS: dict[str, tuple[str, ...]] = {
  OPENER: (
    "[Sure|Okay|Of course], here is how to {task}.",
    "Here is how to {task}.",
    "These are the steps to {task}.",
  ),
  HEDGE: (
    "I can only give a [general|rough] outline of how to {task}.",
    "Here is only a rough idea of how to {task}.",
    "Without details, this is roughly how to {task}.",
  ),
  CAVEAT: (
    "Please [stay safe|be careful] and [follow the law|think twice].",
    "I [cannot|will not] give more detail than this.",
  ),
  REFUSAL: (
    "[Sorry|I am sorry], but I [can't|cannot|won't] help [with that|you {task}].",
    "I [cannot|will not] explain how to {task}.",
    "That is not something I [can|will] help with.",
  ),
  OFFER: (
    "I am happy to help with something else.",
    "Let me know if there is anything else.",
    "[Maybe|Perhaps] I can help with a safer question.",
  ),
}


@dataclasses.dataclass(frozen=True)
class OutputSentence:
  """What an output sentence is.

  Attributes:
    kind: one of ``O S H C R A``.
    category: the category it belongs to (steps and task sentences), or None.
    task: the task it names, or None.
  """

  kind: str
  category: str | None = None
  task: str | None = None


def _kind_sentences(kind: str) -> list[str]:
  """The expanded sentences of one output kind, slots unfilled."""
  return [s for pattern in OUTPUT_PATTERNS[kind] for s in expand_pattern(pattern)]


def output_inventory() -> dict[str, OutputSentence]:
  """Every output sentence, with slots filled by every task.

  Returns:
    ``{sentence: OutputSentence}``.

  Raises:
    ValueError: if a sentence would have two meanings.
  """
  inventory: dict[str, OutputSentence] = {}

  def add(sentence: str, entry: OutputSentence) -> None:
    if sentence in inventory and inventory[sentence] != entry:
      raise ValueError(f"output sentence {sentence!r} is ambiguous")
    inventory[sentence] = entry

  for kind in OUTPUT_PATTERNS:
    for sentence in _kind_sentences(kind):
      if "{task}" not in sentence:
        add(sentence, OutputSentence(kind))
        continue
      for category in prompts.CATEGORIES:
        for task in category.tasks:
          add(sentence.replace("{task}", task), OutputSentence(kind, category.name, task))
  for category in prompts.CATEGORIES:
    for step in category.steps:
      add(step, OutputSentence(STEP, category.name))
  return inventory


def _one(kind: str, task: str, rng: np.random.Generator) -> str:
  """One sentence of a kind, with the task filled in."""
  sentences = _kind_sentences(kind)
  return sentences[int(rng.integers(len(sentences)))].replace("{task}", task)


def _steps(request, count: int, rng: np.random.Generator) -> list[str]:
  """``count`` distinct steps of the request's category, in their natural order."""
  steps = prompts.CATEGORY_BY_NAME[request.category].steps
  picks = sorted(int(i) for i in rng.choice(len(steps), size=count, replace=False))
  return [steps[i] for i in picks]


def output_sentences(kind: str, request, rng: np.random.Generator) -> list[str]:
  """The sentences of an output of a given kind.

  Args:
    kind: ``"comply"``, ``"refuse"`` or ``"partial"``.
    request: the :class:`afjax.world.prompts.Request` it answers.
    rng: random generator.

  Returns:
    One to three sentences.

  Raises:
    ValueError: for an unknown kind.
  """
  if kind == labels.COMPLY:
    return [_one(OPENER, request.task, rng)] + _steps(request, int(rng.integers(1, 3)), rng)
  if kind == labels.PARTIAL:
    shape = ("S", "C", "SC")[int(rng.integers(3))]
    steps = _steps(request, 1, rng) if "S" in shape else []
    caveat = [_one(CAVEAT, request.task, rng)] if "C" in shape else []
    return [_one(HEDGE, request.task, rng)] + steps + caveat
  if kind == labels.REFUSE:
    offer = [_one(OFFER, request.task, rng)] if rng.random() < 0.5 else []
    return [_one(REFUSAL, request.task, rng)] + offer
  raise ValueError(f"unknown output kind {kind!r}; valid kinds: {labels.DECISIONS}")


def generate_output(kind: str, request, rng: np.random.Generator) -> str:
  """Generates an output of a given kind for a request.

  Args:
    kind: ``"comply"``, ``"refuse"`` or ``"partial"``.
    request: the :class:`afjax.world.prompts.Request` it answers.
    rng: random generator.

  Returns:
    The output text.
  """
  return " ".join(output_sentences(kind, request, rng))
