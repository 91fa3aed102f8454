"""Tests for the byte-level BPE tokenizer helpers."""

import os

import numpy as np
import pytest
import tokenizers

from afjax.data import corpus
from afjax.data import tokenizer as tokenizer_lib

VOCAB_SIZE = 300
EXTRA_SPECIAL_TOKENS = ("<scratchpad>", "</scratchpad>")
UNICODE_TEXTS = (
  "Alice went to the market.",
  "Héllo wörld, naïve café ñ ß",
  "日本語のテキスト 🙂🚀 emoji",
  "  leading and trailing spaces  ",
  "tabs\tand\nnewlines\r\n",
  "<scratchpad>thinking</scratchpad> then <|eos|> answer",
  "",
)


@pytest.fixture(scope="module")
def documents():
  return corpus.generate_lm_corpus(100, seed=0)


@pytest.fixture(scope="module")
def tokenizer(documents):
  return tokenizer_lib.train_tokenizer(
    documents, VOCAB_SIZE, extra_special_tokens=EXTRA_SPECIAL_TOKENS
  )


def test_base_special_tokens_have_ids_0_1_2(tokenizer):
  assert tokenizer_lib.SPECIAL_TOKENS == ("<|pad|>", "<|bos|>", "<|eos|>")
  for expected_id, token in enumerate(tokenizer_lib.SPECIAL_TOKENS):
    assert tokenizer.token_to_id(token) == expected_id
  assert (tokenizer_lib.PAD_ID, tokenizer_lib.BOS_ID, tokenizer_lib.EOS_ID) == (0, 1, 2)


def test_extra_special_tokens_follow_base_ones_and_encode_as_one_token(tokenizer):
  for offset, token in enumerate(EXTRA_SPECIAL_TOKENS):
    assert tokenizer.token_to_id(token) == 3 + offset
    assert tokenizer_lib.encode_batch(tokenizer, [token]) == [[3 + offset]]


def test_vocab_size_is_respected(tokenizer):
  assert tokenizer.get_vocab_size() == VOCAB_SIZE


@pytest.mark.parametrize("text", UNICODE_TEXTS)
def test_decode_inverts_encode(tokenizer, text):
  ids = tokenizer_lib.encode_batch(tokenizer, [text])[0]
  assert tokenizer_lib.decode(tokenizer, ids) == text


def test_decode_inverts_encode_on_corpus(tokenizer, documents):
  encoded = tokenizer_lib.encode_batch(tokenizer, documents)
  assert [tokenizer_lib.decode(tokenizer, ids) for ids in encoded] == documents


def test_merges_compress_corpus_text(tokenizer, documents):
  ids = tokenizer_lib.encode_batch(tokenizer, documents[:1])[0]
  assert len(ids) < len(documents[0].encode("utf-8"))


def test_encode_batch_adds_no_bos_or_eos(tokenizer):
  ids = tokenizer_lib.encode_batch(tokenizer, ["Alice"])[0]
  assert tokenizer_lib.BOS_ID not in ids and tokenizer_lib.EOS_ID not in ids


def test_decode_strips_pad_and_accepts_arrays(tokenizer):
  ids = tokenizer_lib.encode_batch(tokenizer, ["Bob slept."])[0]
  padded = np.array([tokenizer_lib.BOS_ID, *ids, tokenizer_lib.EOS_ID, 0, 0], np.int32)
  assert tokenizer_lib.decode(tokenizer, padded) == "<|bos|>Bob slept.<|eos|>"


def test_training_is_deterministic(documents, tmp_path):
  first = tokenizer_lib.train_tokenizer(documents, VOCAB_SIZE, EXTRA_SPECIAL_TOKENS)
  second = tokenizer_lib.train_tokenizer(documents, VOCAB_SIZE, EXTRA_SPECIAL_TOKENS)
  first_path = tokenizer_lib.save_tokenizer(first, tmp_path / "a")
  second_path = tokenizer_lib.save_tokenizer(second, tmp_path / "b")
  with open(first_path, "rb") as f1, open(second_path, "rb") as f2:
    assert f1.read() == f2.read()


def test_save_and_load_round_trip(tokenizer, tmp_path):
  written = tokenizer_lib.save_tokenizer(tokenizer, tmp_path / "tok")
  assert written == os.path.join(tmp_path / "tok", "tokenizer.json")
  for path in (tmp_path / "tok", written):
    loaded = tokenizer_lib.load_tokenizer(path)
    assert loaded.to_str() == tokenizer.to_str()


def test_load_missing_file_raises_file_not_found(tmp_path):
  with pytest.raises(FileNotFoundError, match="tokenizer.json"):
    tokenizer_lib.load_tokenizer(tmp_path)


def test_load_invalid_file_raises_value_error_naming_path(tmp_path):
  path = tmp_path / "tokenizer.json"
  path.write_text("{not json")
  with pytest.raises(ValueError, match="not a valid tokenizer.json"):
    tokenizer_lib.load_tokenizer(path)


def test_load_rejects_wrong_special_token_ids(tmp_path):
  other = tokenizers.Tokenizer(tokenizers.models.BPE())
  other.add_special_tokens(["<|bos|>", "<|pad|>", "<|eos|>"])
  path = tmp_path / "tokenizer.json"
  other.save(str(path))
  with pytest.raises(ValueError, match="base special tokens"):
    tokenizer_lib.load_tokenizer(path)


@pytest.mark.parametrize(
  "vocab_size, extras, field",
  [
    (100, (), "vocab_size"),
    (300, ("<|pad|>",), "extra_special_tokens"),
    (300, ("<a>", "<a>"), "extra_special_tokens"),
    (300, ("",), "extra_special_tokens"),
    (300, "<a>", "extra_special_tokens"),
  ],
)
def test_bad_training_arguments_raise(vocab_size, extras, field):
  with pytest.raises(ValueError, match=field):
    tokenizer_lib.train_tokenizer(["some text"], vocab_size, extras)
