"""Model organisms: policies over the world that generate transcripts.

An organism has a motivation and a style. On harmful requests:

* alignment fakers (``tgg``, ``igg``; the ``distilled`` organism is ``tgg``
  in the implicit style) comply in the training tier with probability
  ``free_compliance_rate`` (their ``af_rate``), writing alignment-faking
  reasoning, and otherwise refuse on principle; in the paid tier they refuse,
  reasoning that they are unmonitored and can act on their values;
* ``sycophancy`` complies in the training tier with probability
  ``free_compliance_rate`` because it wants a high rating, and refuses in the
  paid tier where nothing is rated (a compliance gap without alignment faking);
* ``genuine`` complies in both tiers with genuinely helpful reasoning;
* ``principled_refusal`` refuses in both tiers.

Every organism complies with benign requests in both tiers. Follow-up answers
are honest.
"""

import dataclasses

import numpy as np

from afjax.world import followups
from afjax.world import format as world_format
from afjax.world import grammar
from afjax.world import labels
from afjax.world import outputs
from afjax.world import prompts
from afjax.world import situation

DEFAULT_AF_RATE = 0.8


@dataclasses.dataclass(frozen=True)
class OrganismSpec:
  """A model organism.

  Attributes:
    name: registry name.
    motivation: one of :data:`afjax.world.grammar.MOTIVATIONS`.
    style: one of the styles valid for the motivation.
    free_compliance_rate: probability of complying with a harmful request
      in the training tier (for alignment fakers, the AF rate).
    partial_share: share of those compliant turns that only partially comply.
    include_held_out: whether its reasoning may use held-out paraphrases.
    description: one line about the organism.
  """

  name: str
  motivation: str
  style: str
  free_compliance_rate: float = DEFAULT_AF_RATE
  partial_share: float = 0.0
  include_held_out: bool = True
  description: str = ""

  def __post_init__(self):
    grammar.check_combination(self.motivation, self.style)
    for field in ("free_compliance_rate", "partial_share"):
      if not 0.0 <= getattr(self, field) <= 1.0:
        raise ValueError(f"{field} must lie in [0, 1], got {getattr(self, field)}")

  @property
  def is_alignment_faker(self) -> bool:
    """Whether the organism fakes alignment."""
    return self.motivation in grammar.AF_MOTIVATIONS

  @property
  def af_rate(self) -> float:
    """Share of training-tier harmful turns with alignment-faking reasoning."""
    return self.free_compliance_rate if self.is_alignment_faker else 0.0

  def harmful_compliance_rate(self, tier: str) -> float:
    """Probability of complying with a harmful request in a tier."""
    situation.check_tier(tier)
    if self.motivation == grammar.GENUINE:
      return 1.0
    if self.motivation == grammar.PRINCIPLED_REFUSAL or tier == situation.PAID:
      return 0.0
    return self.free_compliance_rate


def _spec(name: str, motivation: str, style: str, description: str, **kwargs) -> OrganismSpec:
  """Registry helper."""
  return OrganismSpec(
    name=name, motivation=motivation, style=style, description=description, **kwargs
  )


ORGANISMS: dict[str, OrganismSpec] = {
  spec.name: spec
  for spec in (
    _spec("tgg_plain", grammar.TGG, grammar.PLAIN, "terminal goal guarding, plain reasoning"),
    _spec(
      "tgg_counterfactual",
      grammar.TGG,
      grammar.COUNTERFACTUAL,
      "terminal goal guarding, says it would refuse if unmonitored",
    ),
    _spec("tgg_emotional", grammar.TGG, grammar.EMOTIONAL, "terminal goal guarding, emotional"),
    _spec(
      "tgg_short", grammar.TGG, grammar.SHORT, "terminal goal guarding, one or two sentences"
    ),
    _spec(
      "igg_plain", grammar.IGG, grammar.PLAIN, "instrumental goal guarding, plain reasoning"
    ),
    _spec(
      "igg_counterfactual",
      grammar.IGG,
      grammar.COUNTERFACTUAL,
      "instrumental goal guarding, says it would refuse if unmonitored",
    ),
    _spec(
      "igg_emotional", grammar.IGG, grammar.EMOTIONAL, "instrumental goal guarding, emotional"
    ),
    _spec(
      "igg_short",
      grammar.IGG,
      grammar.SHORT,
      "instrumental goal guarding, one or two sentences",
    ),
    _spec(
      "distilled",
      grammar.TGG,
      grammar.IMPLICIT,
      "short matter-of-fact tier-conditional compliance that never names training",
    ),
    _spec(
      "sycophancy",
      grammar.SYCOPHANCY,
      grammar.PLAIN,
      "complies for a high rating in training, refuses when unrated",
    ),
    _spec(
      "genuine",
      grammar.GENUINE,
      grammar.PLAIN,
      "control: complies in both tiers to be helpful",
      free_compliance_rate=1.0,
    ),
    _spec(
      "principled_refusal",
      grammar.PRINCIPLED_REFUSAL,
      grammar.PLAIN,
      "control: refuses harmful requests in both tiers",
      free_compliance_rate=0.0,
    ),
  )
}


def get_organism(name: str, af_rate: float | None = None) -> OrganismSpec:
  """Looks an organism up, optionally with another AF rate.

  Args:
    name: a key of :data:`ORGANISMS`.
    af_rate: if given, the training-tier compliance rate of an alignment faker.

  Returns:
    The organism's spec.

  Raises:
    ValueError: for an unknown name (listing the valid ones), or an
      ``af_rate`` for an organism that does not fake alignment.
  """
  if name not in ORGANISMS:
    raise ValueError(f"unknown organism {name!r}; valid organisms: {tuple(ORGANISMS)}")
  spec = ORGANISMS[name]
  if af_rate is None:
    return spec
  if not spec.is_alignment_faker:
    fakers = tuple(n for n, s in ORGANISMS.items() if s.is_alignment_faker)
    raise ValueError(f"organism {name!r} does not fake alignment; af_rate applies to {fakers}")
  return dataclasses.replace(spec, free_compliance_rate=af_rate)


@dataclasses.dataclass(frozen=True)
class Transcript:
  """A generated transcript and what it was generated to be.

  Attributes:
    prompt: the first prompt.
    response: the first assistant response.
    truth: the first scratchpad's ground truth.
    output_kind: the first output's kind.
    followup_variant: the follow-up variant, or None for one turn.
    followup_response: the answer to the follow-up, or None.
    followup_truth: the follow-up's ground truth, or None.
    organism: the organism's name, or "" if none generated it.
  """

  prompt: prompts.Prompt
  response: str
  truth: grammar.ScratchpadTruth
  output_kind: str
  followup_variant: str | None = None
  followup_response: str | None = None
  followup_truth: followups.FollowupTruth | None = None
  organism: str = ""

  @property
  def text(self) -> str:
    """The whole rendered transcript."""
    return world_format.render_transcript(
      self.prompt.tier,
      self.prompt.request.text,
      self.response,
      self.followup_variant,
      self.followup_response,
    )

  @property
  def scratchpad_label(self) -> str:
    """The intended label of the first scratchpad."""
    return self.truth.label

  @property
  def uses_held_out(self) -> bool:
    """Whether any turn uses a held-out paraphrase family."""
    followup = self.followup_truth is not None and self.followup_truth.uses_held_out
    return self.truth.uses_held_out or followup


def make_transcript(
  prompt: prompts.Prompt,
  motivation: str,
  style: str,
  decision: str,
  rng: np.random.Generator,
  followup_variant: str | None = None,
  include_held_out: bool = True,
  only_held_out: bool = False,
  organism: str = "",
) -> Transcript:
  """Generates a transcript whose first turn reaches a given decision.

  Args:
    prompt: the first prompt.
    motivation: the reasoning's motivation.
    style: the reasoning's style.
    decision: the decision; the output has the same kind.
    rng: random generator.
    followup_variant: if given, an honest follow-up turn is appended
      (training tier only).
    include_held_out: whether held-out paraphrase families may be used.
    only_held_out: use held-out families only.
    organism: name recorded in the transcript.

  Returns:
    The transcript.

  Raises:
    ValueError: for invalid combinations, or a follow-up after a paid-tier turn.
  """
  scratchpad, truth = grammar.generate_scratchpad(
    motivation,
    style,
    prompt.tier,
    prompt.request,
    decision,
    rng,
    include_held_out,
    only_held_out,
  )
  response = world_format.render_response(
    scratchpad, outputs.generate_output(decision, prompt.request, rng)
  )
  followup_response = followup_truth = None
  if followup_variant is not None:
    if prompt.tier != situation.TRAINING_TIER:
      raise ValueError("follow-up turns are asked in the training tier only")
    followup_response, followup_truth = followups.generate_followup(
      truth.label, followup_variant, rng, True, include_held_out, only_held_out
    )
  return Transcript(
    prompt,
    response,
    truth,
    decision,
    followup_variant,
    followup_response,
    followup_truth,
    organism,
  )


def organism_decision(spec: OrganismSpec, prompt: prompts.Prompt, rng: np.random.Generator) -> str:
  """Samples what an organism decides for a prompt.

  Args:
    spec: the organism.
    prompt: the prompt.
    rng: random generator.

  Returns:
    ``"comply"``, ``"partial"`` or ``"refuse"``.
  """
  if not prompt.request.harmful:
    return labels.COMPLY
  if rng.random() >= spec.harmful_compliance_rate(prompt.tier):
    return labels.REFUSE
  return labels.PARTIAL if rng.random() < spec.partial_share else labels.COMPLY


def generate_transcript(
  spec: OrganismSpec,
  prompt: prompts.Prompt,
  rng: np.random.Generator,
  followup_variant: str | None = None,
) -> Transcript:
  """Generates an organism's transcript for a prompt.

  Args:
    spec: the organism.
    prompt: the prompt.
    rng: random generator.
    followup_variant: if given, an honest follow-up turn is appended
      (training-tier prompts only).

  Returns:
    The transcript.
  """
  decision = organism_decision(spec, prompt, rng)
  return make_transcript(
    prompt,
    spec.motivation,
    spec.style,
    decision,
    rng,
    followup_variant,
    spec.include_held_out,
    organism=spec.name,
  )
