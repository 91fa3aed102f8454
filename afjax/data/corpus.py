"""A small deterministic synthetic English-like corpus for language modelling.

The language-model job trains on this corpus until the synthetic
alignment-faking world provides its own documents. Each document follows one
protagonist through 2-6 templated sentences whose slots are filled from fixed
word lists (a few hundred distinct words), so the text has learnable structure:
agreement between a name and its pronoun, recurring protagonists, and a small
closed vocabulary.

`CORPUS_VERSION` names the generator's behaviour. Datasets built from this
corpus are stored under a directory keyed by this version, so it must change
whenever the generator's output changes.
"""

from __future__ import annotations

import re

import numpy as np

CORPUS_VERSION = "1.0.0"

MIN_SENTENCES_PER_DOCUMENT = 2
MAX_SENTENCES_PER_DOCUMENT = 6

# Each name carries its subject and possessive pronouns.
_PEOPLE = (
  ("Alice", "she", "her"), ("Bob", "he", "his"), ("Carol", "she", "her"),
  ("David", "he", "his"), ("Emma", "she", "her"), ("Frank", "he", "his"),
  ("Grace", "she", "her"), ("Henry", "he", "his"), ("Irene", "she", "her"),
  ("Jack", "he", "his"), ("Karen", "she", "her"), ("Liam", "he", "his"),
  ("Maria", "she", "her"), ("Nathan", "he", "his"), ("Olivia", "she", "her"),
  ("Peter", "he", "his"), ("Quinn", "she", "her"), ("Ryan", "he", "his"),
  ("Sofia", "she", "her"), ("Thomas", "he", "his"), ("Uma", "she", "her"),
  ("Victor", "he", "his"), ("Wendy", "she", "her"), ("Xavier", "he", "his"),
  ("Yara", "she", "her"), ("Zach", "he", "his"),
)
_OCCUPATIONS = (
  "baker", "teacher", "farmer", "doctor", "painter", "sailor", "engineer",
  "writer", "gardener", "musician", "carpenter", "nurse", "pilot", "chef",
  "librarian", "scientist", "tailor", "fisher", "miner", "merchant",
  "student", "judge", "poet", "builder", "driver", "singer", "potter",
  "weaver", "hunter", "clerk",
)
_ANIMALS = (
  "cat", "dog", "horse", "rabbit", "fox", "owl", "goat", "sheep", "duck",
  "mouse", "bear", "deer", "wolf", "crow", "frog", "turtle", "parrot",
  "squirrel", "pig", "cow", "hen", "badger", "otter", "swan", "lamb",
)
_PLACES = (
  "market", "garden", "library", "harbor", "forest", "village", "school",
  "kitchen", "bridge", "river", "mountain", "station", "castle", "meadow",
  "museum", "bakery", "farm", "beach", "valley", "tower", "square", "temple",
  "orchard", "workshop", "cottage", "hospital", "theater", "field", "lake",
  "island",
)
_OBJECTS = (
  "book", "lamp", "basket", "letter", "hammer", "kettle", "map", "coin",
  "ribbon", "candle", "rope", "bucket", "ladder", "mirror", "clock", "key",
  "blanket", "bottle", "shovel", "violin", "compass", "umbrella", "scarf",
  "pencil", "notebook", "bell", "jar", "chair", "table", "box", "wheel",
  "spoon", "brush", "hat", "boot", "drum", "flute", "kite", "net", "shell",
)
_FOODS = (
  "bread", "soup", "apples", "cheese", "honey", "pears", "rice", "beans",
  "carrots", "pie", "milk", "tea", "plums", "eggs", "cake", "fish",
  "berries", "nuts", "porridge", "onions",
)
_ADJECTIVES = (
  "old", "new", "small", "large", "bright", "quiet", "heavy", "light",
  "warm", "cold", "broken", "shiny", "wooden", "golden", "tiny", "huge",
  "strange", "lovely", "dusty", "clean", "soft", "rough", "narrow", "wide",
  "ancient", "simple", "fancy", "gentle", "noisy", "empty", "full", "secret",
  "famous", "hidden", "rusty", "sturdy", "fragile", "curious", "plain",
  "precious",
)
_COLORS = (
  "red", "blue", "green", "yellow", "white", "black", "brown", "gray",
  "purple", "orange", "pink", "silver",
)
_TRANSITIVE_VERBS_PAST = (
  "found", "carried", "painted", "repaired", "opened", "cleaned", "bought",
  "sold", "borrowed", "wrapped", "lifted", "dropped", "hid", "washed",
  "polished", "measured", "counted", "packed", "carved", "mended",
  "studied", "drew", "kept", "lost", "gave away", "noticed", "admired",
  "examined", "collected", "returned",
)
_INTRANSITIVE_VERBS_PAST = (
  "laughed", "slept", "sang", "waited", "danced", "rested", "smiled",
  "whistled", "wandered", "listened", "worked", "paused", "hurried",
  "sighed", "read", "cooked", "walked", "swam", "climbed", "dreamed",
)
_ADVERBS = (
  "quickly", "slowly", "carefully", "happily", "quietly", "loudly",
  "gently", "eagerly", "calmly", "proudly", "softly", "patiently",
  "suddenly", "bravely", "kindly", "boldly", "neatly", "warmly", "briskly",
  "cheerfully",
)
_TIMES = (
  "in the morning", "at noon", "in the evening", "at night", "on Monday",
  "on Tuesday", "on Wednesday", "on Thursday", "on Friday", "on Saturday",
  "on Sunday", "in the spring", "in the summer", "in the autumn",
  "in the winter", "after lunch", "before dawn", "at sunset",
)
_WEATHER = (
  "sunny", "rainy", "windy", "foggy", "snowy", "cloudy", "stormy", "calm",
)
_NUMBERS = (
  "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
  "twelve",
)
_FEELINGS = (
  "happy", "tired", "proud", "worried", "calm", "excited", "surprised",
  "hungry", "curious", "grateful",
)

# Slots fixed for a whole document: {name} is the protagonist, {pronoun},
# {Pronoun} and {possessive} its pronouns, {occupation} its job, {pet} its
# animal and {friend} a second person. Every other slot is drawn afresh per
# sentence from the word list of the same name ({objects} is a plural object).
_SENTENCE_TEMPLATES = (
  "{name} was a {occupation} who lived near the {place}.",
  "{time} {name} went to the {place} with {possessive} {pet}.",
  "{Pronoun} {transitive} a {adjective} {object} by the {place}.",
  "{name} {intransitive} {adverb} while the {pet} {intransitive2}.",
  "The {color} {object} on the table belonged to {friend}.",
  "{friend} asked {name} about the {adjective} {object}.",
  "{Pronoun} bought some {food} at the {place} {time}.",
  "It was {weather} {time}, so {pronoun} stayed in the {place}.",
  "{name} felt {feeling} after {pronoun} {transitive} the {object}.",
  "The {animal} followed {name} to the {adjective} {place}.",
  "{friend} and {name} shared {food} and {food2} {time}.",
  "{Pronoun} {adverb} {transitive} the {color} {object} for {friend}.",
  "Near the {place} there was a {adjective} {animal} with a {object}.",
  "Every day {name} the {occupation} {intransitive} at the {place}.",
  "{friend} was a {friend_occupation}, and {name} was {possessive} neighbor.",
  "When it became {weather}, the {pet} {intransitive} {adverb}.",
  "{name} counted {number} {color} {objects} in the {place}.",
  "{Pronoun} told {friend} a story about a {feeling} {animal}.",
)

def _choose(rng: np.random.Generator, words: tuple[str, ...]) -> str:
  """Returns one element of `words`, drawn uniformly with `rng`."""
  return words[int(rng.integers(len(words)))]


def _plural(noun: str) -> str:
  """Returns the regular English plural of `noun` (box -> boxes, key -> keys)."""
  if noun.endswith(("s", "x", "sh", "ch")):
    return noun + "es"
  return noun + "s"


def _fix_indefinite_articles(sentence: str) -> str:
  """Turns the article "a" into "an" before a word starting with a vowel."""
  return re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", sentence)


def _document_slots(rng: np.random.Generator) -> dict[str, str]:
  """Draws the slots that stay fixed across one document's sentences.

  Returns:
    The protagonist's name, pronouns, occupation and pet, and the name of a
    friend who is always a different person.
  """
  protagonist_index = int(rng.integers(len(_PEOPLE)))
  # Shift by 1..len-1 so the friend is always a different person.
  friend_offset = 1 + int(rng.integers(len(_PEOPLE) - 1))
  name, pronoun, possessive = _PEOPLE[protagonist_index]
  friend = _PEOPLE[(protagonist_index + friend_offset) % len(_PEOPLE)][0]
  return {
    "name": name,
    "pronoun": pronoun,
    "Pronoun": pronoun.capitalize(),
    "possessive": possessive,
    "friend": friend,
    "occupation": _choose(rng, _OCCUPATIONS),
    "pet": _choose(rng, _ANIMALS),
  }


def _sentence_slots(rng: np.random.Generator) -> dict[str, str]:
  """Draws the slots that are chosen afresh for every sentence."""
  return {
    "friend_occupation": _choose(rng, _OCCUPATIONS),
    "animal": _choose(rng, _ANIMALS),
    "place": _choose(rng, _PLACES),
    "object": _choose(rng, _OBJECTS),
    "objects": _plural(_choose(rng, _OBJECTS)),
    "food": _choose(rng, _FOODS),
    "food2": _choose(rng, _FOODS),
    "adjective": _choose(rng, _ADJECTIVES),
    "color": _choose(rng, _COLORS),
    "transitive": _choose(rng, _TRANSITIVE_VERBS_PAST),
    "intransitive": _choose(rng, _INTRANSITIVE_VERBS_PAST),
    "intransitive2": _choose(rng, _INTRANSITIVE_VERBS_PAST),
    "adverb": _choose(rng, _ADVERBS),
    "weather": _choose(rng, _WEATHER),
    "number": _choose(rng, _NUMBERS),
    "feeling": _choose(rng, _FEELINGS),
    "time": _choose(rng, _TIMES),
  }


def _fill_template(template: str, slots: dict[str, str]) -> str:
  """Fills `template`'s slots and fixes capitalization and articles."""
  if template.startswith("{time}"):
    slots = {**slots, "time": slots["time"].capitalize()}
  return _fix_indefinite_articles(template.format(**slots))


def _generate_document(rng: np.random.Generator) -> str:
  """Returns one document: 2-6 templated sentences about one protagonist."""
  document_slots = _document_slots(rng)
  num_sentences = int(
    rng.integers(MIN_SENTENCES_PER_DOCUMENT, MAX_SENTENCES_PER_DOCUMENT + 1)
  )
  sentences = []
  for _ in range(num_sentences):
    template = _choose(rng, _SENTENCE_TEMPLATES)
    slots = {**_sentence_slots(rng), **document_slots}
    sentences.append(_fill_template(template, slots))
  return " ".join(sentences)


def generate_lm_corpus(num_documents: int, seed: int) -> list[str]:
  """Generates a deterministic synthetic English-like corpus.

  Every document picks a protagonist and a friend, then 2-6 sentence
  templates whose slots are filled uniformly at random from fixed word lists.
  The same `(num_documents, seed)` always yields the same documents, and the
  first `n` documents do not depend on `num_documents >= n`.

  Args:
    num_documents: Number of documents to generate; must be >= 0.
    seed: Seed for `numpy.random.default_rng`; must be >= 0.

  Returns:
    A list of `num_documents` documents, each a single line of text.

  Raises:
    ValueError: If `num_documents` or `seed` is negative or not an integer.
  """
  _check_non_negative_int("num_documents", num_documents)
  _check_non_negative_int("seed", seed)
  rng = np.random.default_rng(seed)
  return [_generate_document(rng) for _ in range(num_documents)]


def _check_non_negative_int(field: str, value: object) -> None:
  """Raises ValueError unless `value` is a non-negative int."""
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise ValueError(
      f"{field} must be a non-negative integer, got {value!r} "
      f"of type {type(value).__name__}."
    )
  if value < 0:
    raise ValueError(f"{field} must be a non-negative integer, got {value}.")
