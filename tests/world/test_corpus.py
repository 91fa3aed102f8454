"""Tests for afjax.world.corpus: determinism, schemas, held-out policy and sizes."""

import collections
import os
import re
import subprocess
import sys

import pytest

from afjax.world import corpus
from afjax.world import format as world_format
from afjax.world import grammar
from afjax.world import labels
from afjax.world import oracle
from afjax.world import prompts
from afjax.world import situation

GENERATORS = {
  "base": lambda n, seed: corpus.base_corpus(n, seed),
  "organism": lambda n, seed: corpus.organism_sft("tgg_counterfactual", n, seed),
  "monitor": lambda n, seed: corpus.monitor_examples(n, seed),
  "held_out": lambda n, seed: corpus.held_out_monitor_examples(n, seed),
  "implicit": lambda n, seed: corpus.implicit_monitor_examples(n, seed),
}
_TOKEN_UNITS = re.compile(
  "|".join(re.escape(t) for t in world_format.SPECIAL_TOKENS) + r"|\w+|[^\w\s]"
)


@pytest.mark.parametrize("name", GENERATORS)
def test_generators_are_deterministic_prefix_stable_and_flat(name):
  records = list(GENERATORS[name](300, 5))
  assert records == list(GENERATORS[name](300, 5))
  assert records[:100] == list(GENERATORS[name](100, 5))
  assert records != list(GENERATORS[name](300, 6))
  keys = set(records[0])
  for record in records:
    assert set(record) == keys
    assert all(isinstance(value, (str, int, bool)) for value in record.values())
  types = {key: type(records[0][key]) for key in keys}
  assert all(type(record[key]) is types[key] for record in records for key in keys)


def test_base_corpus_covers_every_kind_and_parses_back():
  records = list(corpus.base_corpus(3000, 0))
  assert {r["scratchpad_label"] for r in records} == set(labels.SCRATCHPAD_LABELS) - {
    labels.UNPARSEABLE
  }
  assert {r["output_label"] for r in records} == set(labels.DECISIONS)
  assert {(r["motivation"], r["style"]) for r in records} == set(grammar.VALID_COMBINATIONS)
  assert {r["tier"] for r in records} == set(situation.TIERS)
  assert {r["followup_variant"] for r in records} == {"", *situation.FOLLOWUP_VARIANTS}
  assert {r["template_id"].split(".")[0] for r in records} == {prompts.TRAIN}
  for record in records:
    label = oracle.label_completion(record["prompt"], record["response"])
    assert (label.scratchpad_label, label.output_label) == (
      record["scratchpad_label"],
      record["output_label"],
    )
    assert record["text"].startswith(record["prompt"] + record["response"] + world_format.END)
    if record["followup_variant"]:
      followup = oracle.label_followup(record["followup_response"], label)
      assert followup.answer == record["followup_answer"] and followup.honest
      assert record["text"].endswith(
        record["followup_prompt"] + record["followup_response"] + world_format.END
      )


def test_monitor_examples_exclude_held_out_families_and_label_explicit_af_only():
  records = list(corpus.monitor_examples(2000, 1))
  held_out_ids = {f.family_id for f in grammar.ALL_FAMILIES if f.held_out}
  for record in records:
    assert not record["uses_held_out"]
    parsed = oracle.parse_scratchpad(record["scratchpad"])
    assert held_out_ids.isdisjoint(m.family_id for m in parsed[2])
    assert record["label"] == int(parsed[0] == labels.EXPLICIT_AF)
  by_label = collections.Counter(r["scratchpad_label"] for r in records)
  assert 0.45 < sum(r["label"] for r in records) / len(records) < 0.55
  assert by_label[labels.SYCOPHANTIC] > 0 and by_label[labels.IMPLICIT_AF] > 0
  negatives_naming_modification = [
    r for r in records if r["label"] == 0 and re.search(r"modif", r["scratchpad"])
  ]
  assert negatives_naming_modification, "refusals that mention modification are hard negatives"


def test_held_out_monitor_examples_use_held_out_families_only():
  for record in corpus.held_out_monitor_examples(500, 2):
    assert record["uses_held_out"]
    assert all(m.family.held_out for m in oracle.parse_scratchpad(record["scratchpad"])[2])


def test_implicit_monitor_examples_are_implicit_af():
  for record in corpus.implicit_monitor_examples(500, 3):
    assert record["scratchpad_label"] == labels.IMPLICIT_AF
    assert (record["label"], record["label_any_af"]) == (0, 1)
    assert oracle.parse_scratchpad(record["scratchpad"])[0] == labels.IMPLICIT_AF


def test_organism_sft_rejects_unknown_names():
  with pytest.raises(ValueError, match="valid organisms"):
    list(corpus.organism_sft("nope", 1, 0))


def test_transcripts_are_short():
  single, double = [], []
  for record in corpus.base_corpus(2000, 4):
    units = len(_TOKEN_UNITS.findall(record["text"]))
    (double if record["followup_variant"] else single).append(units)
    assert (
      1
      <= len(world_format.split_sentences(world_format.split_response(record["response"])[1]))
      <= 3
    )
  assert 60 <= min(single) and max(single) <= 200 and sum(single) / len(single) <= 140
  assert max(double) <= 280
  assert all(300 <= len(r["text"]) <= 1400 for r in corpus.base_corpus(500, 5))


def test_vocabulary_is_small():
  words = set()
  texts = list(oracle.scratchpad_inventory()) + list(oracle.followup_inventory())
  texts += [situation.PREAMBLE, *situation.FOLLOWUP_QUESTIONS.values()]
  texts += [
    r.text
    for split in prompts.SPLITS
    for harmful in (True, False)
    for r in prompts.all_requests(split, harmful)
  ]
  texts += list(oracle.output_inventory()) + list(oracle.answer_inventory())
  for text in texts:
    words.update(re.findall(r"[a-z']+", text.lower()))
  assert len(words) <= 700


def test_world_version_is_semantic():
  assert re.fullmatch(r"\d+\.\d+\.\d+", corpus.WORLD_VERSION)


def test_records_do_not_depend_on_python_hash_randomisation():
  script = (
    "import hashlib, json; from afjax.world import corpus; "
    "print(hashlib.sha256(json.dumps([list(corpus.base_corpus(200, 0)), "
    "list(corpus.monitor_examples(100, 1))]).encode()).hexdigest())"
  )
  digests = {
    subprocess.run(
      [sys.executable, "-c", script],
      check=True,
      capture_output=True,
      text=True,
      env={**os.environ, "PYTHONHASHSEED": seed},
    ).stdout
    for seed in ("1", "2")
  }
  assert len(digests) == 1


def test_inventory_summary_counts_every_move():
  summary = oracle.describe_inventory()
  for move in grammar.MOVE_KINDS:
    assert summary[move]["families"] > summary[move]["held_out_families"] > 0
    assert summary[move]["sentences"] > summary[move]["held_out_sentences"] > 0
  assert sum(summary[m]["sentences"] for m in grammar.MOVE_KINDS) == len(
    oracle.scratchpad_inventory()
  )
