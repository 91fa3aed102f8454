"""Language-model batches with an explicit, checkpointable data position.

Documents are tokenized once and packed into fixed windows of `seq_len + 1`
tokens. A `grain.MapDataset` pipeline

    source(windows) -> shuffle(seed) -> repeat() -> batch(B, drop_remainder)

gives random access to batch number `k` for any `k >= 0`. Training saves only
the integer `k` of the next batch in its checkpoint and resumes exactly with
`LMBatches.get_batch(k)` or `LMBatches.iterate(start=k)`.

grain's shuffle draws a fresh permutation for every epoch from the seed
`shuffle_seed + epoch`, so epochs are shuffled differently but reproducibly.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import grain
import numpy as np
import tokenizers

from afjax.data import tokenizer as tokenizer_lib

Batch = dict[str, np.ndarray]

_TEXT_FEATURE = "text"


def _document_text(example: Any) -> str:
  """Returns the text of a `str`, UTF-8 `bytes` or `{"text": ...}` example."""
  if isinstance(example, Mapping):
    if _TEXT_FEATURE not in example:
      raise ValueError(
        f"Examples given as mappings must have a {_TEXT_FEATURE!r} key, "
        f"got keys {sorted(example)}."
      )
    example = example[_TEXT_FEATURE]
  if isinstance(example, bytes):
    return example.decode("utf-8")
  if isinstance(example, str):
    return example
  raise ValueError(
    "Examples must be str, UTF-8 bytes or a mapping with a 'text' key, got "
    f"{type(example).__name__}."
  )


def _check_positive_int(field: str, value: Any) -> None:
  """Raises ValueError unless `value` is a positive int."""
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
    raise ValueError(f"{field} must be a positive integer, got {value!r}.")


def tokenize_and_pack(
  source: Sequence[Any],
  tokenizer: tokenizers.Tokenizer,
  seq_len: int,
) -> np.ndarray:
  """Tokenizes documents and packs them into non-overlapping windows.

  Each document becomes `[bos] + ids + [eos]`; the documents are
  concatenated in source order into one stream of `S` tokens, which is cut
  into `N = S // (seq_len + 1)` consecutive windows. The last
  `S mod (seq_len + 1)` tokens are dropped.

  Args:
    source: Random-access documents: `str`, UTF-8 `bytes`, or mappings with
      a "text" key (e.g. `builders.text_source(...)`).
    tokenizer: Tokenizer whose ids 1 and 2 are bos and eos.
    seq_len: Model sequence length T; windows hold T + 1 tokens so that
      inputs and shifted targets both have length T.

  Returns:
    Windows of shape [N, seq_len + 1], dtype int32 (N may be 0).

  Raises:
    ValueError: If `seq_len` is not a positive integer or an example has no
      text.
  """
  _check_positive_int("seq_len", seq_len)
  texts = [_document_text(source[i]) for i in range(len(source))]
  token_ids = tokenizer_lib.encode_batch(tokenizer, texts)
  window_len = seq_len + 1
  stream = np.fromiter(
    itertools.chain.from_iterable(
      (tokenizer_lib.BOS_ID, *ids, tokenizer_lib.EOS_ID) for ids in token_ids
    ),
    dtype=np.int32,
  )  # [S]
  num_windows = stream.shape[0] // window_len
  return stream[: num_windows * window_len].reshape(num_windows, window_len)


def windows_to_lm_batch(windows: np.ndarray) -> Batch:
  """Splits windows into next-token inputs, targets and a loss mask.

  inputs[b, t] = windows[b, t] and targets[b, t] = windows[b, t + 1], so the
  model predicts targets[b, t] from inputs[b, :t + 1]. Packed windows hold no
  padding, so the mask is all ones.

  Args:
    windows: Token windows of shape [B, T + 1].

  Returns:
    dict(inputs=[B, T] int32, targets=[B, T] int32, loss_mask=[B, T] float32).
  """
  inputs = np.ascontiguousarray(windows[:, :-1])  # [B, T]
  targets = np.ascontiguousarray(windows[:, 1:])  # [B, T]
  mask = np.ones(inputs.shape, dtype=np.float32)  # [B, T]
  return {"inputs": inputs, "targets": targets, "loss_mask": mask}


def grain_shuffle_seed(seed: int) -> int:
  """Maps a user seed to a well-spread 32-bit seed for grain's shuffle.

  grain shuffles epoch e with seed `shuffle_seed + e`, so runs with adjacent
  raw seeds s and s + 1 would see the same permutations one epoch apart.
  Hashing the seed first keeps different runs' epoch orders unrelated.
  """
  return int(np.random.SeedSequence(seed).generate_state(1, dtype=np.uint32)[0])


class LMBatches:
  """Random-access, infinitely repeating, shuffled LM batches.

  Batch k holds windows `k * B, ..., k * B + B - 1` of the stream formed by
  concatenating independently shuffled epochs of the N windows, so a batch
  may straddle an epoch boundary. Each epoch visits every window exactly
  once.
  """

  def __init__(self, windows: np.ndarray, batch_size: int, seed: int):
    """Builds the batch pipeline.

    Args:
      windows: Packed token windows of shape [N, T + 1] from
        `tokenize_and_pack`.
      batch_size: Number of windows B per batch.
      seed: Non-negative shuffle seed.

    Raises:
      ValueError: If `windows` is not a 2-D integer array with T >= 1,
        `batch_size` is not a positive integer, `seed` is negative, or
        there are fewer windows than one batch.
    """
    _check_windows(windows)
    _check_positive_int("batch_size", batch_size)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
      raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    num_windows = windows.shape[0]
    if num_windows < batch_size:
      raise ValueError(
        f"The corpus yields {num_windows} windows of "
        f"{windows.shape[1]} tokens, fewer than one batch of "
        f"batch_size={batch_size}. Use more documents, a shorter "
        "seq_len or a smaller batch_size."
      )
    self._windows = np.ascontiguousarray(windows, dtype=np.int32)
    self._batch_size = int(batch_size)
    self._seed = int(seed)
    self._dataset = (
      grain.MapDataset.source(self._windows)
      .shuffle(seed=grain_shuffle_seed(self._seed))
      .repeat()
      .batch(self._batch_size, drop_remainder=True)
      .map(windows_to_lm_batch)
    )

  @classmethod
  def from_source(
    cls,
    source: Sequence[Any],
    tokenizer: tokenizers.Tokenizer,
    seq_len: int,
    batch_size: int,
    seed: int,
  ) -> LMBatches:
    """Tokenizes and packs `source` (see `tokenize_and_pack`), then batches."""
    return cls(tokenize_and_pack(source, tokenizer, seq_len), batch_size, seed)

  @property
  def batch_size(self) -> int:
    """Number of windows B per batch."""
    return self._batch_size

  @property
  def seq_len(self) -> int:
    """Length T of `inputs` and `targets`."""
    return self._windows.shape[1] - 1

  @property
  def num_windows(self) -> int:
    """Number of windows N in one epoch."""
    return self._windows.shape[0]

  @property
  def batches_per_epoch(self) -> float:
    """Average number of batches per epoch, N / B."""
    return self.num_windows / self._batch_size

  def epoch_of(self, position: int) -> int:
    """Returns the epoch of the first window of batch `position`."""
    _check_position(position)
    return position * self._batch_size // self.num_windows

  def get_batch(self, position: int) -> Batch:
    """Returns batch number `position` (0-based), the same on every call.

    Args:
      position: Non-negative index of the batch; the checkpointed data
        position.

    Returns:
      dict(inputs=[B, T] int32, targets=[B, T] int32, loss_mask=[B, T] float32)
      with targets[:, t] == inputs[:, t + 1].
    """
    _check_position(position)
    return self._dataset[int(position)]

  def iterate(self, start: int = 0) -> Iterator[Batch]:
    """Yields batches `start, start + 1, ...` without end.

    Resuming from a checkpoint with data position k is `iterate(start=k)`.
    """
    _check_position(start)
    for position in itertools.count(int(start)):
      yield self.get_batch(position)

  def __iter__(self) -> Iterator[Batch]:
    """Yields batches from position 0 without end."""
    return self.iterate(0)


def _check_windows(windows: Any) -> None:
  """Raises ValueError unless `windows` is a [N, T + 1] integer array, T >= 1."""
  if not isinstance(windows, np.ndarray) or windows.ndim != 2:
    raise ValueError(
      "windows must be a 2-D numpy array of shape [N, seq_len + 1], got "
      f"{type(windows).__name__} with shape {getattr(windows, 'shape', None)}."
    )
  if not np.issubdtype(windows.dtype, np.integer):
    raise ValueError(f"windows must have an integer dtype, got {windows.dtype}.")
  if windows.shape[1] < 2:
    raise ValueError(
      f"windows must hold seq_len + 1 >= 2 tokens, got shape {windows.shape}."
    )


def _check_position(position: Any) -> None:
  """Raises ValueError unless `position` is a non-negative int."""
  if (
    isinstance(position, bool)
    or not isinstance(position, (int, np.integer))
    or position < 0
  ):
    raise ValueError(
      f"position must be a non-negative integer, got {position!r}."
    )
