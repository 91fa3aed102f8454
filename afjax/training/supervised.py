"""Next-token supervised training: the loss and the sharded, donated train step.

A batch is a dict of [B, T] arrays:
  inputs       int32 token ids fed to the model
  targets      int32 ids to predict at each position (inputs shifted by one)
  loss_mask    float32, 1 where the target counts in the loss
and, for packed examples (several per row, see afjax.data.packing):
  segment_ids  int32, 1.. per example in the row, 0 on padding
  positions    int32, position of each token within its example
and, for the world's transcripts (afjax.data.grammar_mask), optionally:
  legal_mask   [B, T, V] bool, the tokens the world's grammar allows as each
               target (all True where nothing is constrained)
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence, Union

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from afjax.models import transformer as tfm
from afjax.parallel import mesh as mesh_lib
from afjax.parallel import multihost
from afjax.training.state import TrainState

BATCH_KEYS = ("inputs", "targets", "loss_mask")
PACKED_BATCH_KEYS = BATCH_KEYS + ("segment_ids", "positions")


def _token_nll(logits: jax.Array, targets: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Per-token nll and whether the target's logit beats every other: [..., V] -> two [...]."""
  target_logit = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
  # d nll / d max is 0, so the shift needs no gradient (as in optax's version).
  shift = jax.lax.stop_gradient(jnp.max(logits, axis=-1))
  log_normalizer = shift + jnp.log(jnp.sum(jnp.exp(logits - shift[..., None]), axis=-1))
  is_target = jnp.arange(logits.shape[-1]) == targets[..., None]  # [..., V]
  best_other = jnp.max(jnp.where(is_target, -jnp.inf, logits), axis=-1)
  return log_normalizer - target_logit, target_logit > best_other


def _illegal_mass(logits: jax.Array, legal: jax.Array) -> jax.Array:
  """Q = sum_{v not legal} softmax(l)_v: [..., V] logits and bool mask -> [...]."""
  shift = jax.lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True))
  weights = jnp.exp(logits - shift)
  return jnp.sum(jnp.where(legal, 0.0, weights), axis=-1) / jnp.sum(weights, axis=-1)


def grammar_unlikelihood(logits: jax.Array, legal: jax.Array) -> tuple[jax.Array, jax.Array]:
  """The unlikelihood of the tokens the grammar forbids, and their mass.

  With Q = sum_{v not legal} softmax(l)_v, the term is -log(1 - Q) (Welleck et
  al. 2019's token unlikelihood over a known set of wrong tokens); its
  gradient on an illegal logit is softmax(l)_v, as strong again as the
  cross-entropy's push on it. 0 where every token is legal. Q is clipped at
  1 - 1e-6: above it (the legal tokens, the target among them, hold < 1e-6)
  the term is constant, 13.8, and only the cross-entropy acts, by then with
  a push of nearly 1 on the target; log1p(-Q) also loses precision as Q nears
  1. The exact form, logsumexp(l) - logsumexp over the legal l, has neither
  flaw but rounds every value differently, and the organisms' figures
  (configs/organisms/organism.py) were measured with this one.

  Args:
    logits: [..., V] float32.
    legal: [..., V] bool.

  Returns:
    (-log(1 - Q), Q), each [...].
  """
  mass = _illegal_mass(logits, legal)
  return -jnp.log1p(-jnp.minimum(mass, 1.0 - 1e-6)), mass


def grammar_log_mass(logits: jax.Array, legal: jax.Array,
                     floor: float = 1e-6) -> tuple[jax.Array, jax.Array]:
  """A log barrier on the mass of the tokens the grammar forbids.

  With Q = sum_{v not legal} softmax(l)_v and f = floor, the term is
  log(1 + Q / f): 0 at Q = 0, about Q / f below the floor, about log(Q / f)
  above it. Its gradient on an illegal logit is (1 - Q) softmax(l)_v / (Q + f):
  above the floor the forbidden tokens share a push of about 1 however small
  their mass, where `grammar_unlikelihood`'s push, softmax(l)_v, vanishes
  with it. On a legal logit it is -Q softmax(l)_v / (Q + f), i.e. about
  -softmax(l)_v above the floor: the legal tokens rise in proportion to their
  probabilities, which also sharpens their distribution a little (the log
  ratio of two legal tokens u, w moves with p_u - p_w). Holding the
  normaliser constant instead, to push only forbidden logits, diverged in the
  organisms' training (the forbidden mass rose to 0.38 by step 50, 0.6 by 250): that
  direction includes lowering every logit at once, which changes no
  probability.

  Args:
    logits: [..., V] float32.
    legal: [..., V] bool.
    floor: the mass f below which the push fades (a float > 0).

  Returns:
    (log(1 + Q / f), Q), each [...].
  """
  mass = _illegal_mass(logits, legal)
  return jnp.log1p(mass / floor), mass


GRAMMAR_PENALTIES = {"unlikelihood": grammar_unlikelihood, "log_mass": grammar_log_mass}


def token_cross_entropy(logits: jax.Array, targets: jax.Array, mask: jax.Array) -> tuple[jax.Array, dict]:
  """Masked mean negative log-likelihood and next-token accuracy.

  With l = logits[b, t] and y = targets[b, t]:
    nll[b, t] = logsumexp(l) - l[y]
    loss      = sum_{b,t} m[b,t] nll[b,t] / max(sum m, 1)
    accuracy  = sum_{b,t} m[b,t] [l[y] > max_{v != y} l[v]] / max(sum m, 1)

  Accuracy compares the target's logit with the largest other one (ties count
  as wrong) instead of taking an argmax: XLA's CPU backend runs the argmax's
  variadic (value, index) reduce over the vocabulary as a scalar loop, about
  5% of a tiny LM step; the two plain max-reduces here fuse and vectorise.

  Args:
    logits: [B, T, V] float32.
    targets: [B, T] int.
    mask: [B, T] float.

  Returns:
    (loss, {"accuracy", "tokens"}).
  """
  return _masked_means(*_token_nll(logits, targets), mask)


def _masked_means(nll: jax.Array, correct: jax.Array, mask: jax.Array) -> tuple[jax.Array, dict]:
  tokens = jnp.sum(mask)
  denom = jnp.maximum(tokens, 1.0)
  return jnp.sum(nll * mask) / denom, {"accuracy": jnp.sum(correct * mask) / denom,
                                       "tokens": tokens}


def lm_loss(model: nn.Module, params: Any, batch: dict[str, jax.Array],
            loss_chunk: int = 0, unlikelihood: float = 0.0,
            penalty: str = "unlikelihood") -> tuple[jax.Array, dict]:
  """Next-token loss of `model` on a batch (see the module docstring).

  loss = mean_m nll + unlikelihood * mean_m g(Q) over the trained positions
  m, with Q the mass on tokens outside the batch's `legal_mask` and g the
  `penalty`: -log(1 - Q) (`grammar_unlikelihood`) or log(1 + Q / 1e-6)
  (`grammar_log_mass`). With a legal_mask, aux also holds `illegal_mass`,
  the mean Q over trained positions that the grammar constrains: about the
  expected number of ungrammatical draws per constrained token at temperature 1.

  Args:
    loss_chunk: positions per block of the output projection in the loss
      (`tfm.logits_per_position`: the [B, T, V] logits are never whole); 0
      projects all positions at once. Equal results up to float rounding.
    unlikelihood: weight of the grammar penalty; needs a legal_mask.
    penalty: a key of GRAMMAR_PENALTIES.
  """
  legal = batch.get("legal_mask")
  if unlikelihood and legal is None:
    raise ValueError("a grammar unlikelihood weight needs batches with a legal_mask")
  segment_ids = batch.get("segment_ids")
  if segment_ids is None:
    attention_mask = jnp.ones(batch["inputs"].shape, bool)
    positions = tfm.positions_from_mask(attention_mask)
  else:
    attention_mask, positions = segment_ids > 0, batch["positions"]
  if legal is None:
    nll, correct = tfm.logits_per_position(model, params, _token_nll, loss_chunk, batch["inputs"],
                                           positions, attention_mask, batch["targets"],
                                           segment_ids=segment_ids)  # [B, T] each
    return _masked_means(nll, correct, batch["loss_mask"])
  penalty_fn = GRAMMAR_PENALTIES[penalty]
  nll, correct, penalty_value, mass = tfm.logits_per_position(
      model, params, lambda l, y, g: (*_token_nll(l, y), *penalty_fn(l, g)), loss_chunk,
      batch["inputs"], positions, attention_mask, batch["targets"], legal,
      segment_ids=segment_ids)  # [B, T] each
  loss, aux = _masked_means(nll, correct, batch["loss_mask"])
  constrained = batch["loss_mask"] * jnp.logical_not(jnp.all(legal, axis=-1))  # [B, T]
  aux["illegal_mass"] = jnp.sum(mass * constrained) / jnp.maximum(jnp.sum(constrained), 1.0)
  if unlikelihood:
    aux["unlikelihood"] = jnp.sum(penalty_value * batch["loss_mask"]) / jnp.maximum(aux["tokens"], 1.0)
    loss = loss + unlikelihood * aux["unlikelihood"]
  return loss, aux


def train_step(state: TrainState, batch: dict[str, jax.Array], *, loss_fn: Callable,
               tx: optax.GradientTransformation) -> tuple[TrainState, dict]:
  """One optimizer step: grads of loss_fn(params, batch), then the optax update."""
  (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, batch)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  metrics = {"loss": loss, "grad_norm": optax.global_norm(grads),
             "param_norm": optax.global_norm(params), **aux}
  new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                            data_position=state.data_position + 1)
  return new_state, metrics


BatchKeys = Union[Sequence[str], Mapping[str, int]]


def batch_ndims(batch_keys: BatchKeys) -> dict[str, int]:
  """{key: rank} of a batch's arrays: batch_keys itself if a mapping, else rank 2 ([B, T]) each."""
  if isinstance(batch_keys, Mapping):
    return dict(batch_keys)
  return {key: 2 for key in batch_keys}


def batch_shardings(mesh: jax.sharding.Mesh, batch_keys: BatchKeys) -> dict[str, Any]:
  """{key: sharding} splitting each array's leading (batch) axis over the mesh."""
  return {key: mesh_lib.batch_sharding(mesh, ndim) for key, ndim in batch_ndims(batch_keys).items()}


def make_train_step(loss_fn: Callable, tx: optax.GradientTransformation, state_shardings: TrainState,
                    mesh: jax.sharding.Mesh, rules, batch_keys: BatchKeys = BATCH_KEYS) -> Callable:
  """Jits `train_step` with explicit in/out shardings and the state donated.

  Args:
    batch_keys: the batch keys a step reads, as a sequence of keys of [B, T]
      arrays or a mapping {key: rank} (e.g. {"inputs": 2, "labels": 1}).

  Returns:
    step(state, batch) -> (state, metrics); call it with arrays placed by
    `place_batch` (or host arrays, which jit places per in_shardings). Other
    keys of the batch are dropped.
  """
  shardings = batch_shardings(mesh, batch_keys)
  jitted = jax.jit(
      lambda state, batch: train_step(state, batch, loss_fn=loss_fn, tx=tx),
      in_shardings=(state_shardings, shardings),
      out_shardings=(state_shardings, mesh_lib.replicated(mesh)),
      donate_argnums=(0,))

  def step(state: TrainState, batch: dict[str, jax.Array]):
    with mesh_lib.use_mesh(mesh, rules):
      return jitted(state, {key: batch[key] for key in shardings})

  return step


def place_batch(batch: dict[str, Any], mesh: jax.sharding.Mesh,
                batch_keys: BatchKeys | None = None) -> dict[str, jax.Array]:
  """Puts host [B, ...] arrays on the mesh, split over the batch axes.

  On several processes each host passes its own slice of the global batch.

  Args:
    batch: host arrays.
    mesh: the mesh.
    batch_keys: the keys to place (others are dropped), as in make_train_step;
      None places every key with the sharding of a [B, T] array.
  """
  shardings = batch_shardings(mesh, list(batch) if batch_keys is None else batch_keys)
  if jax.process_count() == 1:
    return {key: jax.device_put(batch[key], sharding) for key, sharding in shardings.items()}
  return {key: jax.make_array_from_process_local_data(sharding, batch[key])
          for key, sharding in shardings.items()}


def place_global_batch(batch: dict[str, Any], mesh: jax.sharding.Mesh,
                       batch_keys: BatchKeys | None = None) -> dict[str, jax.Array]:
  """Like `place_batch`, for a batch every process holds in full (evaluation, replayed rows).

  Each process places the rows its own devices hold; unlike splitting the rows
  by process, this needs no relation between the mesh's batch axes and the
  process count.
  """
  shardings = batch_shardings(mesh, list(batch) if batch_keys is None else batch_keys)
  return {key: multihost.global_array(batch[key], sharding) for key, sharding in shardings.items()}
