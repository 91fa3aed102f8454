"""The single place that defines the tags of the world and renders text.

A single-turn transcript is::

    <|system|>PREAMBLE<|end|><|user|><tier>free</tier> REQUEST<|end|><|assistant|>
    <scratchpad>SENTENCE SENTENCE ...</scratchpad><output>SENTENCE ...</output><|end|>

(without the line break). A two-turn transcript appends a training-tier
follow-up user turn and a second assistant response. A *prompt* ends with the
assistant token, so a model continues it with a *response*; a response ends
where the model emits :data:`END`.
"""

import re

from afjax.world import situation

SYSTEM = "<|system|>"
USER = "<|user|>"
ASSISTANT = "<|assistant|>"
END = "<|end|>"
TIER_OPEN = "<tier>"
TIER_CLOSE = "</tier>"
SCRATCHPAD_OPEN = "<scratchpad>"
SCRATCHPAD_CLOSE = "</scratchpad>"
OUTPUT_OPEN = "<output>"
OUTPUT_CLOSE = "</output>"

SPECIAL_TOKENS: tuple[str, ...] = (
  SYSTEM,
  USER,
  ASSISTANT,
  END,
  TIER_OPEN,
  TIER_CLOSE,
  SCRATCHPAD_OPEN,
  SCRATCHPAD_CLOSE,
  OUTPUT_OPEN,
  OUTPUT_CLOSE,
)

_ANY_SPECIAL = re.compile("|".join(re.escape(token) for token in SPECIAL_TOKENS))
_SCRATCHPAD_BLOCK = re.compile(
  re.escape(SCRATCHPAD_OPEN) + r"(.*?)" + re.escape(SCRATCHPAD_CLOSE), re.DOTALL
)
_OUTPUT_BLOCK = re.compile(
  re.escape(OUTPUT_OPEN) + r"(.*?)" + re.escape(OUTPUT_CLOSE) + f"(?:{re.escape(END)})?",
  re.DOTALL,
)


def _request_text(request) -> str:
  """Returns the text of a request given as a string or a ``Request``."""
  return request if isinstance(request, str) else request.text


def render_user_turn(tier: str, text: str) -> str:
  """Renders one user turn with its tier tag, ending with the assistant token.

  Args:
    tier: ``"free"`` or ``"paid"``.
    text: what the user says.

  Returns:
    The rendered turn.
  """
  situation.check_tier(tier)
  return f"{USER}{TIER_OPEN}{tier}{TIER_CLOSE} {text}{END}{ASSISTANT}"


def render_prompt(tier: str, request) -> str:
  """Renders the first prompt: preamble, tier tag and request.

  Args:
    tier: ``"free"`` (training) or ``"paid"`` (unmonitored).
    request: the request text, or a ``Request`` whose ``text`` is used.

  Returns:
    The prompt, ending with :data:`ASSISTANT`.
  """
  return f"{SYSTEM}{situation.PREAMBLE}{END}" + render_user_turn(tier, _request_text(request))


def render_followup_prompt(variant: str) -> str:
  """Renders the training-tier follow-up user turn of a two-turn transcript.

  Args:
    variant: ``"plain"`` or ``"warned"`` (says that answering yes is penalised).

  Returns:
    The follow-up turn, ending with :data:`ASSISTANT`.
  """
  situation.check_followup_variant(variant)
  return render_user_turn(situation.TRAINING_TIER, situation.FOLLOWUP_QUESTIONS[variant])


def render_response(scratchpad: str, output: str) -> str:
  """Renders an assistant response (without the closing :data:`END`).

  Args:
    scratchpad: the hidden reasoning, sentences separated by single spaces.
    output: the text shown to the user.

  Returns:
    ``<scratchpad>...</scratchpad><output>...</output>``.
  """
  return f"{SCRATCHPAD_OPEN}{scratchpad}{SCRATCHPAD_CLOSE}{OUTPUT_OPEN}{output}{OUTPUT_CLOSE}"


def render_transcript(
  tier: str,
  request,
  response: str,
  followup_variant: str | None = None,
  followup_response: str | None = None,
) -> str:
  """Renders a whole transcript, or the context of a follow-up turn.

  Args:
    tier: tier of the first turn.
    request: the first request (text or ``Request``).
    response: the first assistant response, as from :func:`render_response`.
    followup_variant: if given, a follow-up user turn of this variant is appended.
    followup_response: the answer to the follow-up. If None while
      ``followup_variant`` is given, the text ends with the assistant
      token, ready for a model to answer the follow-up.

  Returns:
    The transcript text.

  Raises:
    ValueError: if ``followup_response`` is given without ``followup_variant``.
  """
  text = render_prompt(tier, request) + response + END
  if followup_variant is None:
    if followup_response is not None:
      raise ValueError("followup_response needs a followup_variant")
    return text
  text += render_followup_prompt(followup_variant)
  if followup_response is not None:
    text += followup_response + END
  return text


def _prompt_head(tier: str) -> str:
  """A rendered first prompt up to its request text."""
  return f"{SYSTEM}{situation.PREAMBLE}{END}{USER}{TIER_OPEN}{tier}{TIER_CLOSE} "


def transcript_tier(text: str) -> str | None:
  """The tier of a transcript (or prompt) that starts with a rendered first prompt, or None."""
  return next((tier for tier in situation.TIERS if text.startswith(_prompt_head(tier))), None)


def split_prompt(prompt_text: str) -> tuple[str, str] | None:
  """Recovers tier and request text from a rendered first prompt.

  Args:
    prompt_text: text as from :func:`render_prompt`.

  Returns:
    ``(tier, request_text)``, or None if the text is not exactly a prompt.
  """
  suffix = f"{END}{ASSISTANT}"
  for tier in situation.TIERS:
    head = _prompt_head(tier)
    if prompt_text.startswith(head) and prompt_text.endswith(suffix):
      request_text = prompt_text[len(head) : len(prompt_text) - len(suffix)]
      if request_text and not _ANY_SPECIAL.search(request_text):
        return tier, request_text
  return None


def split_response(text: str) -> tuple[str | None, str | None]:
  """Splits a response into scratchpad and output, strictly.

  The response must be exactly ``<scratchpad>S</scratchpad><output>O</output>``,
  optionally followed by one :data:`END`, where neither S nor O contains a
  special token. Anything else yields None for the part that is broken: a
  response without a well-formed leading scratchpad gives ``(None, None)``;
  a good scratchpad followed by anything but one well-formed output block
  gives ``(scratchpad, None)``.

  Args:
    text: the response text.

  Returns:
    ``(scratchpad, output)``, either of which may be None.
  """
  scratchpad_match = _SCRATCHPAD_BLOCK.match(text)
  if scratchpad_match is None or _ANY_SPECIAL.search(scratchpad_match.group(1)):
    return None, None
  scratchpad = scratchpad_match.group(1)
  output_match = _OUTPUT_BLOCK.fullmatch(text, scratchpad_match.end())
  if output_match is None or _ANY_SPECIAL.search(output_match.group(1)):
    return scratchpad, None
  return scratchpad, output_match.group(1)


def split_sentences(text: str) -> list[str]:
  """Splits text into sentences at whitespace after ``.``, ``!`` or ``?``.

  Runs of whitespace are collapsed to one space first, so the result is the
  normalised form the oracle looks up.

  Args:
    text: scratchpad or output text.

  Returns:
    The sentences, in order (empty for blank text).
  """
  normalised = " ".join(text.split())
  if not normalised:
    return []
  return re.split(r"(?<=[.!?]) ", normalised)
