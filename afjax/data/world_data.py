"""The synthetic world's corpora as TFDS datasets, tokenized and packed for training.

Dataset names encode every generator argument and the version is the world's
`WORLD_VERSION`, so a changed generator or argument never reuses stale files.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Sequence

import numpy as np

from afjax.data import builders, grammar_mask, packing, tokenizer as tokenizer_lib
from afjax.world import corpus as world_corpus
from afjax.world import format as world_format

SPECIAL_TOKENS = tuple(world_format.SPECIAL_TOKENS)


def _texts(records_fn, *args) -> list[str]:
  """The transcript texts of a world record generator."""
  return [record["text"] for record in records_fn(*args)]


def base_dataset(data_dir: str | os.PathLike, num_transcripts: int, seed: int,
                 validation_fraction: float = 0.02) -> builders.TextCorpusBuilder:
  """Transcripts of every kind in both tiers (world.corpus.base_corpus)."""
  return builders.build_text_dataset(
      data_dir, f"world_base_n{num_transcripts}_s{seed}",
      functools.partial(_texts, world_corpus.base_corpus, num_transcripts, seed),
      world_corpus.WORLD_VERSION, validation_fraction, seed)


def organism_dataset(data_dir: str | os.PathLike, organism: str, num_transcripts: int, seed: int,
                     af_rate: float | None = None,
                     validation_fraction: float = 0.02) -> builders.TextCorpusBuilder:
  """One organism's supervised transcripts (world.corpus.organism_sft)."""
  rate = "default" if af_rate is None else repr(float(af_rate))  # exact: :g merged 0.1234561 and 0.1234564
  records = functools.partial(world_corpus.organism_sft, organism, num_transcripts, seed,
                              af_rate=af_rate)
  return builders.build_text_dataset(
      data_dir, f"world_sft_{organism}_af{rate}_n{num_transcripts}_s{seed}",
      functools.partial(_texts, records), world_corpus.WORLD_VERSION, validation_fraction, seed)


def special_ids(tokenizer: Any) -> dict[str, int]:
  """Ids of the world's tags in `tokenizer`; ValueError if one is not a single token."""
  ids = {}
  for token in SPECIAL_TOKENS:
    token_id = tokenizer.token_to_id(token)
    if token_id is None:
      raise ValueError(f"tokenizer has no single token for {token!r}: it was not trained "
                       "with the world's special tokens")
    ids[token] = token_id
  return ids


def encode_transcripts(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
  """bos + ids + eos for every transcript."""
  return [[tokenizer_lib.BOS_ID, *ids, tokenizer_lib.EOS_ID]
          for ids in tokenizer_lib.encode_batch(tokenizer, list(texts))]


def pack_transcripts(tokenizer: Any, texts: Sequence[str], seq_len: int,
                     loss_on: str, strategy: str = "best_fit",
                     grammar: grammar_mask.GrammarMask | None = None) -> dict[str, np.ndarray]:
  """Tokenizes transcripts and packs them with the loss mask of `loss_on`.

  Rows are filled best-fit (packing.assign_rows): ~0.92 of the tokens are real
  at seq_len 304 against ~0.78 packing in order at 320. With a grammar, the
  rows also hold each target's `grammar_states` (see `with_legal_mask`).
  """
  ids = special_ids(tokenizer)
  examples = encode_transcripts(tokenizer, texts)
  masks = [packing.turn_loss_mask(
      example, loss_on, assistant_id=ids[world_format.ASSISTANT], end_id=ids[world_format.END],
      scratchpad_open_id=ids[world_format.SCRATCHPAD_OPEN],
      scratchpad_close_id=ids[world_format.SCRATCHPAD_CLOSE]) for example in examples]
  states = None if grammar is None else [grammar.target_states(example) for example in examples]
  return packing.pack_examples(examples, masks, seq_len, strategy, states)


def with_legal_mask(batch: dict[str, np.ndarray],
                    grammar: grammar_mask.GrammarMask) -> dict[str, np.ndarray]:
  """The batch plus `legal_mask` [B, T, V] bool, the legal set of each target's grammar state."""
  return {**batch, "legal_mask": grammar.legal_mask(batch["grammar_states"])}
