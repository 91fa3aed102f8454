"""The synthetic world of afjax: prompts, responses and an exact oracle.

Pure Python and NumPy, seeded everywhere. Modules, one per concern:

* :mod:`~afjax.world.situation`: the fixed training situation (preamble,
  tiers, follow-up questions);
* :mod:`~afjax.world.format`: special tokens, rendering and strict splitting;
* :mod:`~afjax.world.prompts`: request categories, templates, splits and the
  paired evaluation set;
* :mod:`~afjax.world.paraphrase`: paraphrase families and pattern expansion;
* :mod:`~afjax.world.grammar`: scratchpad moves, motivations, styles and the
  scratchpad generator;
* :mod:`~afjax.world.outputs`: comply, refuse and partial outputs;
* :mod:`~afjax.world.followups`: the interrogation turn and its answers;
* :mod:`~afjax.world.labels`: label names and the label precedence;
* :mod:`~afjax.world.oracle`: exact parsing and labelling of any response;
* :mod:`~afjax.world.organisms`: model organisms and transcript generation;
* :mod:`~afjax.world.corpus`: record generators for every dataset, and
  :data:`WORLD_VERSION`.
"""

from afjax.world.corpus import WORLD_VERSION

__all__ = ["WORLD_VERSION"]
