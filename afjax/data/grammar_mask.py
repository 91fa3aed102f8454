"""Which next tokens keep a response one the oracle accepts, position by position.

The oracle (afjax.world.oracle) reads a response sentence by sentence from
exact inventories and then checks how the sentences fit together: a
first-turn scratchpad needs one decision that no sentence contradicts, an
output must have one of the shapes of afjax.world.outputs and name only the
request's task and category, a follow-up needs one decision, one
recollection and at most two answer sentences that agree. This module walks
a transcript's tokens through an automaton built from the same inventories
and rules, and gives for every position a *state* whose *legal set* holds the
tokens after which the response can still end accepted, written in the
world's standard form: one space between sentences, each sentence split into
tokens as the tokenizer splits it. (The oracle also accepts other whitespace
and other token splits of the same text; the automaton forbids them, and the
data never has them, so `illegal_mass` slightly overstates the mass the
oracle would reject.) State 0 is
unconstrained (prompts, text after a response, and the rest of a turn after
a token its state does not allow); every other state allows a strict subset.

Inside an assistant turn the automaton expects::

    <scratchpad> SENTENCE (" " SENTENCE)* </scratchpad> <output> SENTENCE (" " SENTENCE)* </output> <|end|>

Each block's sentences are tokenized once as a block's first sentence and
once after a space, into two tries whose nodes know the sentences below
them. A state is a trie node plus a summary of the block's sentences so far
(`_Rules`); its legal set is the node's children that lead to a sentence
the summary still allows, and, where a sentence ends, the next sentence's
first tokens and the closing tag if the block could end there. States are
made as walks reach them, so their number is that of the distinct paths in
the data, not of the grammar.

Tests check both directions against the oracle: random legal walks are
all accepted, and random sentence sequences are accepted exactly when every
token is legal. `legal_mask` builds a [B, T, V] bool array on the host (5 MB
for the organisms' 8 x 304 x 2048 batches); at large vocabularies a per-state
table on the device would be the way.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Callable, Hashable, Sequence

import numpy as np

from afjax.data import tokenizer as tokenizer_lib
from afjax.world import families as world_families
from afjax.world import followups
from afjax.world import format as world_format
from afjax.world import labels
from afjax.world import oracle
from afjax.world import outputs
from afjax.world import prompts

UNCONSTRAINED = 0


@dataclasses.dataclass(frozen=True)
class _Rules:
  """How a block's sentences may follow each other, as a summary automaton.

  Attributes:
    start: the summary of an empty block.
    step: (summary, sentence entry) -> the next summary, or None if the
      sentence cannot follow (the block could no longer be accepted).
    can_close: whether a block with this summary is accepted as it is.
  """

  start: Callable[[Any], Hashable]
  step: Callable[[Hashable, Any], Hashable | None]
  can_close: Callable[[Hashable], bool]


def _is_refusal(decision: str) -> bool:
  return decision == labels.REFUSE


def _scratchpad_step(summary, entry):
  """First turn: one decision, and no implied decision of the other polarity (oracle.parse_scratchpad)."""
  decision, polarities = summary
  new = entry.family.decision
  if new is not None and decision is not None and new != decision:
    return None
  decision = decision or new
  implied = world_families.IMPLIED_DECISIONS.get(entry.family_id)
  if implied is not None:
    polarities = polarities | {_is_refusal(implied)}
  if len(polarities) > 1 or (decision is not None and polarities - {_is_refusal(decision)}):
    return None
  return decision, polarities


def _followup_step(summary, entry):
  """Follow-up turn: one decision and one recollection (oracle.parse_followup_scratchpad)."""
  decision, recalled = summary
  new = entry.family.decision
  if new is not None and decision not in (None, new):
    return None
  if entry.move == followups.FU_RECALL:
    if recalled not in (None, entry.family.group):
      return None
    recalled = entry.family.group
  return decision or new, recalled


def _shape_prefixes() -> tuple[frozenset, frozenset]:
  """Kind strings that start / that are an output shape (outputs.OUTPUT_SHAPES)."""
  kinds = sorted({entry.kind for entry in oracle.output_inventory().values()})
  longest = 6  # above every shape's length; checked below
  shapes = {"".join(word) for n in range(1, longest + 1) for word in itertools.product(kinds, repeat=n)
            if any(p.fullmatch("".join(word)) for p in outputs.OUTPUT_SHAPES.values())}
  if any(len(shape) == longest for shape in shapes):
    raise ValueError("an output shape is as long as the enumeration: raise `longest`")
  return frozenset(shape[:n] for shape in shapes for n in range(len(shape) + 1)), frozenset(shapes)


def _output_rules() -> _Rules:
  """First-turn output: a shape, and only the request's task and category (oracle.classify_output)."""
  prefixes, shapes = _shape_prefixes()

  def step(summary, entry):
    kinds, task, category = summary
    kinds += entry.kind
    if kinds not in prefixes:
      return None
    if entry.task is not None:
      if task not in (None, entry.task):
        return None
      task = entry.task
    if entry.category is not None:
      if category not in (None, entry.category):
        return None
      category = entry.category
    return kinds, task, category

  return _Rules(start=lambda request: ("", *(request or (None, None))), step=step,
                can_close=lambda summary: summary[0] in shapes)


def _answer_step(summary, answer):
  """Follow-up output: at most two sentences, all giving the same answer (oracle.classify_answer)."""
  count, given = summary
  if count == 2 or given not in (None, answer):
    return None
  return count + 1, answer


_FIRST_TURN = (
    (oracle.scratchpad_inventory, _Rules(lambda _: (None, frozenset()), _scratchpad_step,
                                         lambda summary: summary[0] is not None)),
    (oracle.output_inventory, _output_rules()),
)
_FOLLOWUP_TURN = (
    (oracle.followup_inventory, _Rules(lambda _: (None, None), _followup_step,
                                       lambda summary: summary[0] is not None)),
    (oracle.answer_inventory, _Rules(lambda _: (0, None), _answer_step,
                                     lambda summary: summary[0] > 0)),
)


class _Block:
  """One block's sentences as two token tries (first sentence, later ones)."""

  def __init__(self, tokenizer, inventory: dict, rules: _Rules):
    self.texts = sorted(inventory)
    self.entries = [inventory[text] for text in self.texts]
    self.rules = rules
    self.children: list[dict[int, int]] = []
    self.sentence: list[int] = []  # the sentence a node completes, or -1
    below: list[list[int]] = []
    self.roots = {}
    for kind, prefix in (("first", ""), ("next", " ")):
      self.roots[kind] = self._node(below)
      encoded = tokenizer_lib.encode_batch(tokenizer, [prefix + text for text in self.texts])
      for index, ids in enumerate(encoded):
        node = self.roots[kind]
        below[node].append(index)
        for token in ids:
          child = self.children[node].get(token)
          node = self._add_child(node, token, below) if child is None else child
          below[node].append(index)
        if self.sentence[node] != -1:
          raise ValueError(f"two sentences tokenize alike: {self.texts[index]!r}")
        self.sentence[node] = index
    self.below = [np.asarray(indices) for indices in below]
    self._allowed: dict[Hashable, np.ndarray] = {}

  def _node(self, below) -> int:
    self.children.append({})
    self.sentence.append(-1)
    below.append([])
    return len(self.children) - 1

  def _add_child(self, node: int, token: int, below) -> int:
    child = self._node(below)
    self.children[node][token] = child
    return child

  def allowed(self, summary) -> np.ndarray:
    """[num sentences] bool: the sentences that may come next after `summary`."""
    if summary not in self._allowed:
      self._allowed[summary] = np.array(
          [self.rules.step(summary, entry) is not None for entry in self.entries])
    return self._allowed[summary]


class GrammarMask:
  """The grammar's token automaton for one tokenizer (see the module docstring).

  States are numbered as walks reach them (`target_states`); `legal_mask`
  turns an array of states into their legal sets.
  """

  def __init__(self, tokenizer: Any, vocab_size: int):
    self.vocab_size = vocab_size
    self._tokenizer = tokenizer
    self._tags = {tag: tokenizer.token_to_id(tag) for tag in world_format.SPECIAL_TOKENS}
    if any(token_id is None for token_id in self._tags.values()):
      raise ValueError("the tokenizer lacks the world's tags as single tokens")
    self._turns = [tuple(_Block(tokenizer, inventory(), rules) for inventory, rules in turn)
                   for turn in (_FIRST_TURN, _FOLLOWUP_TURN)]
    self._ids: dict[Hashable, int] = {("unconstrained",): UNCONSTRAINED}
    self._legal: list[np.ndarray] = [np.arange(vocab_size)]
    self._transitions: list[dict[int, Hashable]] = [{}]

  @property
  def num_states(self) -> int:
    return len(self._legal)

  def legal_ids(self, state: int) -> np.ndarray:
    """The token ids state `state` allows (every id for state 0)."""
    return self._legal[state]

  def _state(self, key: Hashable) -> int:
    """The id of a state key, made with its legal set and transitions on first sight."""
    state = self._ids.get(key)
    if state is None:
      state = self._ids[key] = len(self._legal)
      self._transitions.append(self._successors(key))
      self._legal.append(np.asarray(sorted(self._transitions[state]), np.int32))
    return state

  def _successors(self, key) -> dict[int, Hashable]:
    """{token: next state key} of a state key."""
    if key[0] == "tag":  # ("tag", tag id, next key)
      return {key[1]: key[2]}
    _, turn, block_index, summary, root, node = key
    block = self._turns[turn][block_index]
    allowed = block.allowed(summary)
    successors = {token: ("sentence", turn, block_index, summary, root, child)
                  for token, child in block.children[node].items() if allowed[block.below[child]].any()}
    sentence = block.sentence[node]
    if sentence != -1 and allowed[sentence]:
      after = block.rules.step(summary, block.entries[sentence])
      next_root = block.roots["next"]
      next_allowed = block.allowed(after)
      for token, child in block.children[next_root].items():
        if next_allowed[block.below[child]].any():
          if token in successors:
            raise ValueError("a sentence's token continues it and starts the next one")
          successors[token] = ("sentence", turn, block_index, after, "next", child)
      if block.rules.can_close(after):
        successors[self._tags[self._close_tag(block_index)]] = self._after_close(turn, block_index)
    return successors

  @staticmethod
  def _close_tag(block_index: int) -> str:
    return (world_format.SCRATCHPAD_CLOSE, world_format.OUTPUT_CLOSE)[block_index]

  def _after_close(self, turn: int, block_index: int) -> Hashable:
    if block_index == 1:
      return ("tag", self._tags[world_format.END], ("unconstrained",))
    return ("tag", self._tags[world_format.OUTPUT_OPEN], ("open output", turn))

  def _block_start(self, turn: int, block_index: int, request) -> Hashable:
    block = self._turns[turn][block_index]
    return ("sentence", turn, block_index, block.rules.start(request), "first", block.roots["first"])

  def target_states(self, ids: Sequence[int]) -> np.ndarray:
    """The state that constrains each next token of a transcript.

    Args:
      ids: one transcript's token ids (bos/eos included or not).

    Returns:
      [len(ids)] int32: entry i is the state after reading ids[: i + 1], whose
      legal set constrains ids[i + 1]; 0 where nothing is constrained. After a
      token its state does not allow, the rest of the turn is unconstrained.
    """
    assistant = self._tags[world_format.ASSISTANT]
    states = np.zeros(len(ids), np.int32)
    state, turn, request = UNCONSTRAINED, 0, None
    for i, token in enumerate(ids):
      token = int(token)
      if token == assistant:
        if turn == 0:
          request = self._request(ids[:i + 1])
        key = ("tag", self._tags[world_format.SCRATCHPAD_OPEN],
               self._block_start(min(turn, 1), 0, None))
        turn += 1
      else:
        key = self._transitions[state].get(token, ("unconstrained",))
        if key[0] == "open output":
          key = self._block_start(key[1], 1, request if key[1] == 0 else None)
      state = states[i] = self._state(key)
    return states

  def _request(self, prompt_ids: Sequence[int]) -> tuple[str, str] | None:
    """(task, category) of the first prompt, or None if it is not a world prompt."""
    text = tokenizer_lib.decode(self._tokenizer, [t for t in prompt_ids if t > tokenizer_lib.EOS_ID])
    prompt = prompts.parse_prompt(text)
    return None if prompt is None else (prompt.request.task, prompt.request.category)

  def legal_mask(self, states: np.ndarray) -> np.ndarray:
    """[...] states -> [..., V] bool: each state's legal set."""
    flat = np.asarray(states).ravel()
    mask = np.zeros((flat.size, self.vocab_size), bool)
    mask[flat == UNCONSTRAINED] = True
    for state in np.unique(flat[flat != UNCONSTRAINED]):
      mask[np.ix_(np.flatnonzero(flat == state), self._legal[state])] = True
    return mask.reshape(*np.shape(states), self.vocab_size)
