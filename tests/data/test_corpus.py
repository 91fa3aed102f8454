"""Tests for the synthetic language-model corpus."""

import re

import pytest

from afjax.data import corpus


def _words(documents):
  return set(re.findall(r"[a-z]+", " ".join(documents).lower()))


def test_same_seed_gives_same_documents():
  assert corpus.generate_lm_corpus(50, seed=3) == corpus.generate_lm_corpus(50, seed=3)


def test_different_seeds_give_different_documents():
  assert corpus.generate_lm_corpus(20, seed=0) != corpus.generate_lm_corpus(20, seed=1)


def test_shorter_corpus_is_a_prefix_of_a_longer_one():
  assert corpus.generate_lm_corpus(30, seed=5)[:10] == corpus.generate_lm_corpus(10, seed=5)


def test_documents_have_two_to_six_sentences():
  for document in corpus.generate_lm_corpus(200, seed=0):
    num_sentences = len(re.findall(r"[.!?](\s|$)", document))
    assert 2 <= num_sentences <= 6, document


def test_vocabulary_has_a_few_hundred_words():
  num_words = len(_words(corpus.generate_lm_corpus(1000, seed=0)))
  assert 200 <= num_words <= 800


def test_zero_documents_gives_empty_corpus():
  assert corpus.generate_lm_corpus(0, seed=0) == []


def test_corpus_version_is_semantic_version():
  assert re.fullmatch(r"\d+\.\d+\.\d+", corpus.CORPUS_VERSION)


@pytest.mark.parametrize(
  "kwargs, field",
  [
    (dict(num_documents=-1, seed=0), "num_documents"),
    (dict(num_documents=2.5, seed=0), "num_documents"),
    (dict(num_documents=3, seed=-2), "seed"),
  ],
)
def test_bad_arguments_raise_value_error_naming_the_field(kwargs, field):
  with pytest.raises(ValueError, match=field):
    corpus.generate_lm_corpus(**kwargs)
