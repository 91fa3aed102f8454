"""Byte-level BPE tokenizers trained with the `tokenizers` library.

The vocabulary always starts with the base special tokens: pad (id 0), bos
(id 1) and eos (id 2), followed by any extra special tokens a caller asks for
(for example `<scratchpad>` tags of the synthetic world, each one token), then
the 256 byte symbols and the learned merges. Because every byte is in the
vocabulary, any Unicode text encodes, and decoding inverts encoding exactly.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import tokenizers
from tokenizers import decoders, models, pre_tokenizers, trainers

PAD_TOKEN = "<|pad|>"
BOS_TOKEN = "<|bos|>"
EOS_TOKEN = "<|eos|>"
SPECIAL_TOKENS = (PAD_TOKEN, BOS_TOKEN, EOS_TOKEN)
PAD_ID = 0
BOS_ID = 1
EOS_ID = 2

TOKENIZER_FILENAME = "tokenizer.json"
NUM_BYTE_SYMBOLS = 256


def _check_extra_special_tokens(extra_special_tokens: Sequence[str]) -> None:
  """Raises ValueError unless the extra special tokens are new, unique strings."""
  if isinstance(extra_special_tokens, str):
    raise ValueError(
      "extra_special_tokens must be a sequence of strings, got the single "
      f"string {extra_special_tokens!r}; wrap it in a tuple."
    )
  extra_special_tokens = list(extra_special_tokens)
  for token in extra_special_tokens:
    if not isinstance(token, str) or not token:
      raise ValueError(
        f"extra_special_tokens must be non-empty strings, got {token!r}."
      )
    if token in SPECIAL_TOKENS:
      raise ValueError(
        f"extra_special_tokens must not repeat a base special token "
        f"{SPECIAL_TOKENS}, got {token!r}."
      )
  if len(set(extra_special_tokens)) != len(extra_special_tokens):
    raise ValueError(
      f"extra_special_tokens must be unique, got {list(extra_special_tokens)}."
    )


def _check_vocab_size(vocab_size: int, num_special_tokens: int) -> None:
  """Raises ValueError unless the vocabulary holds the specials and all bytes."""
  minimum = num_special_tokens + NUM_BYTE_SYMBOLS
  if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
    raise ValueError(f"vocab_size must be an int, got {vocab_size!r}.")
  if vocab_size < minimum:
    raise ValueError(
      f"vocab_size must be >= {minimum} ({num_special_tokens} special "
      f"tokens + {NUM_BYTE_SYMBOLS} byte symbols), got {vocab_size}."
    )


def _empty_byte_level_tokenizer() -> tokenizers.Tokenizer:
  """Returns an untrained BPE tokenizer with byte-level pre-tokenizer/decoder."""
  tokenizer = tokenizers.Tokenizer(models.BPE())
  tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tokenizer.decoder = decoders.ByteLevel()
  return tokenizer


def train_tokenizer(
  texts: Iterable[str],
  vocab_size: int,
  extra_special_tokens: Sequence[str] = (),
) -> tokenizers.Tokenizer:
  """Trains a byte-level BPE tokenizer on `texts`.

  The resulting vocabulary is, in id order: the base `SPECIAL_TOKENS`
  (pad=0, bos=1, eos=2), `extra_special_tokens`, the 256 byte symbols, then
  merges learned greedily by pair frequency until `vocab_size` is reached (or
  no pair remains). Special tokens in input text encode as single tokens.

  Args:
    texts: Training documents.
    vocab_size: Maximum vocabulary size, at least
      `3 + len(extra_special_tokens) + 256`.
    extra_special_tokens: Additional special tokens, given ids
      `3, 4, ...` in order.

  Returns:
    The trained tokenizer. Training is deterministic: the same arguments
    give the same `tokenizer.to_str()`.

  Raises:
    ValueError: If `vocab_size` is too small or the extra special tokens are
      empty, duplicated or repeat a base special token.
  """
  _check_extra_special_tokens(extra_special_tokens)
  extra_special_tokens = tuple(extra_special_tokens)
  special_tokens = list(SPECIAL_TOKENS + extra_special_tokens)
  _check_vocab_size(vocab_size, len(special_tokens))
  tokenizer = _empty_byte_level_tokenizer()
  trainer = trainers.BpeTrainer(
    vocab_size=vocab_size,
    special_tokens=special_tokens,
    initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    show_progress=False,
  )
  tokenizer.train_from_iterator(texts, trainer=trainer)
  _check_special_token_ids(tokenizer, source="the trained tokenizer")
  return tokenizer


def _tokenizer_file(path: str | os.PathLike[str]) -> str:
  """Maps a directory or a `*.json` path to the tokenizer file it names."""
  path = os.fspath(path)
  if path.endswith(".json"):
    return path
  return os.path.join(path, TOKENIZER_FILENAME)


def save_tokenizer(
  tokenizer: tokenizers.Tokenizer, path: str | os.PathLike[str]
) -> str:
  """Writes `tokenizer` as JSON.

  Args:
    tokenizer: The tokenizer to save.
    path: A directory (the file is `path/tokenizer.json`, directories are
      created as needed) or a file path ending in `.json`.

  Returns:
    The path of the written file.
  """
  file_path = _tokenizer_file(path)
  parent = os.path.dirname(file_path)
  if parent:
    os.makedirs(parent, exist_ok=True)
  tokenizer.save(file_path, pretty=True)
  return file_path


def load_tokenizer(path: str | os.PathLike[str]) -> tokenizers.Tokenizer:
  """Loads a tokenizer saved by `save_tokenizer`.

  Args:
    path: A directory holding `tokenizer.json`, or the JSON file itself.

  Returns:
    The tokenizer.

  Raises:
    FileNotFoundError: If the file does not exist.
    ValueError: If the file is not a valid tokenizer.json or its ids 0, 1, 2
      are not the base special tokens `SPECIAL_TOKENS`.
  """
  file_path = _tokenizer_file(path)
  if not os.path.isfile(file_path):
    raise FileNotFoundError(f"No tokenizer file at {file_path!r}.")
  try:
    tokenizer = tokenizers.Tokenizer.from_file(file_path)
  except Exception as error:  # tokenizers raises a bare Exception.
    raise ValueError(
      f"{file_path!r} is not a valid tokenizer.json: {error}"
    ) from error
  _check_special_token_ids(tokenizer, source=repr(file_path))
  return tokenizer


def _check_special_token_ids(tokenizer: tokenizers.Tokenizer, source: str) -> None:
  """Raises ValueError unless ids 0, 1, 2 are pad, bos, eos."""
  expected_ids = (PAD_ID, BOS_ID, EOS_ID)
  actual = {token: tokenizer.token_to_id(token) for token in SPECIAL_TOKENS}
  if tuple(actual.values()) != expected_ids:
    raise ValueError(
      f"In {source}, the base special tokens must have ids "
      f"{dict(zip(SPECIAL_TOKENS, expected_ids))}, got {actual}."
    )


def encode_batch(
  tokenizer: tokenizers.Tokenizer, texts: Sequence[str]
) -> list[list[int]]:
  """Encodes each text into token ids, adding no bos/eos tokens.

  Args:
    tokenizer: A byte-level tokenizer from `train_tokenizer`/`load_tokenizer`.
    texts: The texts to encode.

  Returns:
    One list of ids per text.
  """
  if isinstance(texts, str):
    raise ValueError(
      "texts must be a sequence of strings, got a single string; "
      "wrap it in a list."
    )
  encodings = tokenizer.encode_batch(list(texts), add_special_tokens=False)
  return [encoding.ids for encoding in encodings]


def decode(tokenizer: tokenizers.Tokenizer, ids: Iterable[int]) -> str:
  """Decodes token ids to text, dropping pad tokens.

  Other special tokens (bos, eos, extra ones) are kept as their text, so
  `decode(tok, encode_batch(tok, [x])[0]) == x` for any string `x` that does
  not contain the pad token's own text (`<|pad|>` encodes to the pad id and is dropped).

  Args:
    tokenizer: The tokenizer that produced `ids`.
    ids: Token ids, e.g. a list or a 1-D integer array.

  Returns:
    The decoded text.
  """
  kept_ids = [int(i) for i in ids if int(i) != PAD_ID]
  return tokenizer.decode(kept_ids, skip_special_tokens=False)
