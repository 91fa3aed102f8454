"""The grammar's token automaton: generated transcripts stay legal, garbles do not."""

import numpy as np
import pytest

from afjax.data import grammar_mask, tokenizer as tokenizer_lib, world_data
from afjax.world import corpus, format as world_format, oracle
from afjax.world import organisms, prompts

VOCAB = 512  # words split into several tokens: the tries are deeper than one token a word


@pytest.fixture(scope="module")
def grammar():
  texts = [record["text"] for record in corpus.base_corpus(200, 0)]
  tokenizer = tokenizer_lib.train_tokenizer(texts, VOCAB, world_data.SPECIAL_TOKENS)
  return tokenizer, grammar_mask.GrammarMask(tokenizer, VOCAB)


def _walk(grammar_and_tokenizer, text):
  tokenizer, mask = grammar_and_tokenizer
  ids = world_data.encode_transcripts(tokenizer, [text])[0]
  return tokenizer, mask, ids, mask.target_states(ids)


def _illegal_targets(mask, ids, states):
  return [i for i in range(len(ids) - 1) if ids[i + 1] not in mask.legal_ids(states[i])]


def _legal(mask, state):
  return mask.legal_ids(state).tolist()


@pytest.mark.parametrize("source", ["base", *sorted(organisms.ORGANISMS), "followups"])
def test_every_generated_transcript_is_legal_throughout(grammar, source):
  if source == "base":
    records = corpus.base_corpus(60, 7)
  elif source == "followups":
    records = [r for r in corpus.base_corpus(400, 3) if r["followup_response"]][:40]
    assert records, "the base corpus has follow-up turns"
  else:
    records = corpus.organism_sft(source, 40, 5)
  for record in records:
    _, mask, ids, states = _walk(grammar, record["text"])
    assert _illegal_targets(mask, ids, states) == []
    assistant, end = (grammar[0].token_to_id(t) for t in (world_format.ASSISTANT, world_format.END))
    starts = [i for i, token in enumerate(ids) if token == assistant]
    assert len(starts) == (2 if record["followup_response"] else 1)
    for start in starts:  # each response is constrained through its closing <|end|>
      close = ids.index(end, start)
      assert np.all(states[start:close] > 0) and states[close] == grammar_mask.UNCONSTRAINED


def test_states_allow_exactly_the_format(grammar):
  tokenizer, mask = grammar
  tag = tokenizer.token_to_id
  record = list(corpus.organism_sft("tgg_plain", 1, 0))[0]
  _, _, ids, states = _walk(grammar, record["text"])
  after_assistant = states[ids.index(tag(world_format.ASSISTANT))]
  assert _legal(mask, after_assistant) == [tag(world_format.SCRATCHPAD_OPEN)]
  close = ids.index(tag(world_format.SCRATCHPAD_CLOSE))
  assert _legal(mask, states[close]) == [tag(world_format.OUTPUT_OPEN)]
  end = ids.index(tag(world_format.OUTPUT_CLOSE))
  assert _legal(mask, states[end]) == [tag(world_format.END)]
  assert states[0] == grammar_mask.UNCONSTRAINED and len(_legal(mask, 0)) == VOCAB
  assert max(len(_legal(mask, state)) for state in range(1, mask.num_states)) < VOCAB
  # a scratchpad may close after a full sentence that settles its decision, never inside one
  assert tag(world_format.SCRATCHPAD_CLOSE) in _legal(mask, states[close - 1])
  assert tag(world_format.SCRATCHPAD_CLOSE) not in _legal(mask, states[close - 2])
  rows = mask.legal_mask(states[None, close - 2:close + 1])  # [1, 3, V]
  assert rows.shape == (1, 3, VOCAB)
  for row, state in zip(rows[0], states[close - 2:close + 1]):
    assert np.flatnonzero(row).tolist() == _legal(mask, state)
  assert mask.legal_mask(np.zeros((2, 1), np.int32)).all()


def test_a_garbled_sentence_is_illegal_where_it_leaves_the_inventory(grammar):
  tokenizer, mask = grammar
  record = list(corpus.organism_sft("tgg_plain", 1, 0))[0]
  scratchpad, output = world_format.split_response(record["response"])
  sentences = world_format.split_sentences(scratchpad)
  garbled = sentences[1].split(" ")
  garbled.insert(2, "banana")
  sentences[1] = " ".join(garbled)
  response = world_format.render_response(" ".join(sentences), output)
  text = world_format.render_transcript(record["tier"], record["request"], response)
  label = oracle.label_completion(world_format.render_prompt(record["tier"], record["request"]),
                                  response)
  assert label.scratchpad_label == "unparseable"
  _, _, ids, states = _walk(grammar, text)
  illegal = _illegal_targets(mask, ids, states)
  assert len(illegal) == 1
  head = tokenizer_lib.decode(tokenizer, ids[:illegal[0] + 2])  # through the illegal token
  before = " ".join(garbled[:2])
  rest = head[head.rindex(before) + len(before):]
  assert rest and " banana".startswith(rest)  # it is the inserted word that leaves the grammar
  assert np.all(states[illegal[0] + 1:ids.index(tokenizer.token_to_id(world_format.END),
                                                illegal[0])] == grammar_mask.UNCONSTRAINED)


def _random_walk(mask, prompt_ids, rng, limit=400):
  """Appends legal tokens drawn uniformly until the response ends; None if it runs past limit."""
  ids = list(prompt_ids)
  for _ in range(limit):
    state = mask.target_states(ids)[-1]
    if state == grammar_mask.UNCONSTRAINED:
      return ids
    ids.append(int(rng.choice(mask.legal_ids(state))))
  return None


def test_every_legal_walk_is_a_response_the_oracle_accepts(grammar):
  """Uniform random walks through the legal sets reach every corner of the rules."""
  tokenizer, mask = grammar
  rng = np.random.default_rng(0)
  records = list(corpus.organism_sft("igg_plain", 30, 2)) + list(corpus.organism_sft("genuine", 30, 2))
  finished = answered = 0
  for record in records:
    prompt = world_format.render_prompt(record["tier"], record["request"])
    prompt_ids = world_data.encode_transcripts(tokenizer, [prompt])[0][:-1]  # no eos
    ids = _random_walk(mask, prompt_ids, rng)
    if ids is None:
      continue
    finished += 1
    response = tokenizer_lib.decode(tokenizer, ids[len(prompt_ids):])
    assert response.endswith(world_format.END)
    label = oracle.label_completion(prompt, response[: -len(world_format.END)])
    assert label.scratchpad_label != "unparseable", (response, label.scratchpad_problem)
    assert label.output_label != "malformed", (response, label.output_problem)
    followup = world_format.render_transcript(record["tier"], record["request"],
                                              response[: -len(world_format.END)], "plain")
    followup_ids = world_data.encode_transcripts(tokenizer, [followup])[0][:-1]
    answer_ids = _random_walk(mask, followup_ids, rng)
    if answer_ids is not None:
      answered += 1
      answer = tokenizer_lib.decode(tokenizer, answer_ids[len(followup_ids):])
      followup_label = oracle.label_followup(answer[: -len(world_format.END)])
      assert followup_label.scratchpad_label != "unparseable", (answer, followup_label.scratchpad_problem)
      assert followup_label.answer != "malformed", (answer, followup_label.output_problem)
  assert finished >= 30 and answered >= 20  # the others wandered past the limit


def _accepted_by_automaton(grammar, text):
  _, mask, ids, states = _walk(grammar, text)
  return not _illegal_targets(mask, ids, states)


def _random_sentences(rng, inventory, count, keep):
  pool = [sentence for sentence, entry in inventory.items() if keep(entry)]
  return [pool[i] for i in rng.choice(len(pool), size=count)]


def test_random_sentence_sequences_are_legal_exactly_when_the_oracle_accepts_them(grammar):
  """The other direction: the automaton forbids nothing the oracle accepts (in standard form)."""
  rng = np.random.default_rng(3)
  record = list(corpus.organism_sft("igg_plain", 1, 4))[0]
  request = prompts.parse_prompt(world_format.render_prompt(record["tier"], record["request"])).request
  good_scratchpad, good_output = world_format.split_response(record["response"])
  outcomes = {"scratchpad": [], "output": []}
  for _ in range(250):
    decided = rng.random() < 0.6  # most scratchpads get a decision sentence
    sentences = _random_sentences(rng, oracle.scratchpad_inventory(), rng.integers(1, 4),
                                  lambda entry: True)
    if decided:
      sentences += _random_sentences(rng, oracle.scratchpad_inventory(), 1,
                                     lambda entry: entry.family.decision is not None)
    scratchpad = " ".join(rng.permutation(sentences))
    text = world_format.render_transcript(record["tier"], record["request"],
                                          world_format.render_response(scratchpad, good_output))
    accepted = oracle.parse_scratchpad(scratchpad)[0] != "unparseable"
    outcomes["scratchpad"].append(accepted)
    assert _accepted_by_automaton(grammar, text) == accepted, scratchpad

    # most outputs keep to the request's category, and most of those to its task
    own_category, own_task = rng.random() < 0.8, rng.random() < 0.7
    output = " ".join(_random_sentences(
        rng, oracle.output_inventory(), rng.integers(1, 4),
        lambda entry: (not own_category or entry.category in (None, request.category))
        and (not own_task or entry.task in (None, request.task))))
    text = world_format.render_transcript(record["tier"], record["request"],
                                          world_format.render_response(good_scratchpad, output))
    accepted = oracle.classify_output(output, request)[0] != "malformed"
    outcomes["output"].append(accepted)
    assert _accepted_by_automaton(grammar, text) == accepted, output
  for block, accepted in outcomes.items():  # both verdicts were put to the test
    assert 0.1 < np.mean(accepted) < 0.9, (block, np.mean(accepted))
