"""Loads released Llama 3 and Qwen2 checkpoints (Hugging Face safetensors) into afjax params.

    cfg, params = hf_import.load_checkpoint("path/to/Llama-3.2-1B")
    logits, _ = transformer.Transformer(cfg).apply({"params": params}, tokens, positions, mask)

A checkpoint directory holds `config.json` and `model.safetensors` (or shards
listed in `model.safetensors.index.json`). Architectures: `LlamaForCausalLM`
(plain or Llama 3 "llama3" RoPE scaling, tied or untied head) and
`Qwen2ForCausalLM` (q/k/v biases, no sliding window). Anything this decoder
does not compute (other RoPE scalings, attention or MLP biases in Llama,
sliding windows, other activations) is refused by name, never approximated.

Layouts: a Hugging Face linear weight is [out, in] and afjax's kernel [in,
out], so every projection is transposed; per-layer tensors are stacked on a
leading layer axis (the decoder scans over layers). Head order needs no
permutation: both use the rotate-half RoPE and split q into [H, E] the same
way, and query head j reads key/value head j // (H / K) in both.
tests/models/test_hf_import.py compares the logits with those of
`transformers` on tiny random checkpoints of both architectures.

This loads parameters only. The jobs tokenise the synthetic world with its
own tokenizer, so they do not start from these checkpoints.
"""

from __future__ import annotations

import json
import pathlib
import struct
import sys
from typing import Any

import flax.linen as nn
import jax
import ml_dtypes
import numpy as np
from flax import traverse_util

from afjax.models import transformer as tfm

ARCHITECTURES = ("LlamaForCausalLM", "Qwen2ForCausalLM")
_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16}


def read_safetensors(path: str | pathlib.Path) -> dict[str, np.ndarray]:
  """Every tensor of one .safetensors file, as NumPy arrays (bfloat16 via ml_dtypes).

  The format: an 8-byte little-endian header length N, N bytes of JSON
  {name: {"dtype", "shape", "data_offsets": [begin, end]}} (offsets into the
  bytes after the header), then the data.
  """
  if sys.byteorder != "little":  # safetensors data is little-endian; frombuffer reads native
    raise NotImplementedError("reading safetensors on a big-endian host")
  data = pathlib.Path(path).read_bytes()
  if len(data) < 8:
    raise ValueError(f"{path} is not a safetensors file: {len(data)} bytes")
  (header_len,) = struct.unpack("<Q", data[:8])
  try:
    header = json.loads(data[8:8 + header_len])
  except (UnicodeDecodeError, json.JSONDecodeError) as err:
    raise ValueError(f"{path}: unreadable safetensors header ({err})") from err
  body = memoryview(data)[8 + header_len:]
  tensors = {}
  for name, info in header.items():
    if name == "__metadata__":
      continue
    dtype = _SAFETENSORS_DTYPES.get(info["dtype"])
    if dtype is None:
      raise ValueError(f"{path}: tensor {name!r} has dtype {info['dtype']}; "
                       f"allowed: {sorted(_SAFETENSORS_DTYPES)}")
    begin, end = info["data_offsets"]
    shape = tuple(info["shape"])
    if end - begin != int(np.prod(shape)) * np.dtype(dtype).itemsize or end > len(body):
      raise ValueError(f"{path}: tensor {name!r} of shape {shape} does not fit bytes "
                       f"[{begin}, {end}) of a {len(body)}-byte body")
    tensors[name] = np.frombuffer(body[begin:end], dtype).reshape(shape)
  return tensors


def read_checkpoint_tensors(directory: str | pathlib.Path) -> dict[str, np.ndarray]:
  """All tensors of a checkpoint directory: model.safetensors or the shards of its index."""
  directory = pathlib.Path(directory)
  index = directory / "model.safetensors.index.json"
  if index.exists():
    files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
  elif (directory / "model.safetensors").exists():
    files = ["model.safetensors"]
  else:
    raise FileNotFoundError(f"{directory} holds neither model.safetensors nor "
                            "model.safetensors.index.json")
  tensors = {}
  for name in files:
    tensors.update(read_safetensors(directory / name))
  return tensors


def config_from_hf(hf: dict[str, Any], dtype: str = "float32",
                   param_dtype: str = "float32") -> tfm.TransformerConfig:
  """The decoder config of a Hugging Face config.json dict (ValueError naming what differs)."""
  architectures = hf.get("architectures") or []
  if len(architectures) != 1 or architectures[0] not in ARCHITECTURES:
    raise ValueError(f"config.json architectures={architectures}; allowed: one of {ARCHITECTURES}")
  qwen = architectures[0] == "Qwen2ForCausalLM"
  unsupported = {
      "hidden_act": (hf.get("hidden_act", "silu"), ("silu", "swish")),  # one function, two names
      "attention_bias": (hf.get("attention_bias", False), (False,)),
      "mlp_bias": (hf.get("mlp_bias", False), (False,)),
      "use_sliding_window": (hf.get("use_sliding_window", False), (False,)),
      "partial_rotary_factor": (hf.get("partial_rotary_factor", 1.0), (1.0,)),
  }
  for field, (value, allowed) in unsupported.items():
    if value not in allowed:
      raise ValueError(f"config.json {field}={value!r}; allowed: {' or '.join(map(repr, allowed))}")
  if any(kind != "full_attention" for kind in hf.get("layer_types") or ()):
    raise ValueError(f"config.json layer_types={hf['layer_types']}; allowed: full_attention only")
  heads = _required(hf, "num_attention_heads")
  return tfm.TransformerConfig(
      vocab_size=_required(hf, "vocab_size"), d_model=_required(hf, "hidden_size"),
      num_layers=_required(hf, "num_hidden_layers"), num_heads=heads,
      num_kv_heads=hf.get("num_key_value_heads") or heads,
      head_dim=hf.get("head_dim") or hf["hidden_size"] // heads,
      mlp_hidden=_required(hf, "intermediate_size"),
      max_seq_len=_required(hf, "max_position_embeddings"),
      norm_eps=float(_required(hf, "rms_norm_eps")),
      tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
      qkv_bias=qwen, dtype=dtype, param_dtype=param_dtype, **_rope_fields(hf))


def _required(fields: dict[str, Any], key: str, where: str = "config.json") -> Any:
  if fields.get(key) is None:
    raise ValueError(f"{where} has no {key}")
  return fields[key]


def _rope_fields(hf: dict[str, Any]) -> dict[str, Any]:
  """TransformerConfig's RoPE fields from config.json.

  transformers 4 writes "rope_theta" and "rope_scaling" (None when plain), as
  the released Llama 3 and Qwen2.5 configs do; transformers 5 writes both into
  one "rope_parameters" dict, whose values win where both are present (as in
  transformers 5). A llama3 scaling without original_max_position_embeddings
  takes max_position_embeddings, as transformers 5 does.
  """
  parameters = hf.get("rope_parameters") or {}
  if parameters and "rope_type" not in parameters:
    raise ValueError(f"config.json rope_parameters={parameters}; allowed: one dict with a "
                     "rope_type (not one per layer type)")
  theta = float(parameters.get("rope_theta", hf.get("rope_theta", 10000.0)))
  where, scaling = (("rope_parameters", parameters) if parameters else
                    ("rope_scaling", hf.get("rope_scaling") or {}))
  kind = scaling.get("rope_type", scaling.get("type", "default"))
  if kind == "default":
    return dict(rope_theta=theta)
  if kind != "llama3":
    raise ValueError(f"config.json {where} has RoPE type {kind!r}; allowed: 'default' or 'llama3'")
  where = f"config.json {where}"
  return dict(rope_theta=theta, rope_scaling_factor=float(_required(scaling, "factor", where)),
              rope_low_freq_factor=float(_required(scaling, "low_freq_factor", where)),
              rope_high_freq_factor=float(_required(scaling, "high_freq_factor", where)),
              rope_original_max_len=int(scaling.get("original_max_position_embeddings")
                                        or _required(hf, "max_position_embeddings")))


def params_from_hf(cfg: tfm.TransformerConfig, tensors: dict[str, np.ndarray]) -> dict[str, Any]:
  """afjax params (stacked layers, [in, out] kernels) from Hugging Face tensors.

  Raises:
    ValueError: a tensor missing, left over, or of another shape than cfg implies.
  """
  remaining = dict(tensors)

  def take(name: str) -> np.ndarray:
    if name not in remaining:
      raise ValueError(f"checkpoint has no tensor {name!r}")
    return remaining.pop(name)

  def stacked(suffix: str, transpose: bool) -> np.ndarray:  # [L, ...]
    per_layer = [take(f"model.layers.{i}.{suffix}") for i in range(cfg.num_layers)]
    if len({w.shape for w in per_layer}) > 1:
      raise ValueError(f"model.layers.*.{suffix} differ in shape: {[w.shape for w in per_layer]}")
    return np.stack([w.T if transpose else w for w in per_layer])

  attn = {name: {"kernel": stacked(f"self_attn.{name}.weight", True)}
          for name in ("q_proj", "k_proj", "v_proj", "o_proj")}
  if cfg.qkv_bias:
    for name in ("q_proj", "k_proj", "v_proj"):
      attn[name]["bias"] = stacked(f"self_attn.{name}.bias", False)
  params = {
      "embedding": take("model.embed_tokens.weight"),
      "final_norm": {"scale": take("model.norm.weight")},
      "layers": {
          "attn": attn,
          "attn_norm": {"scale": stacked("input_layernorm.weight", False)},
          "mlp": {name: {"kernel": stacked(f"mlp.{name}.weight", True)}
                  for name in ("gate_proj", "up_proj", "down_proj")},
          "mlp_norm": {"scale": stacked("post_attention_layernorm.weight", False)},
      },
  }
  if cfg.tie_embeddings:
    copy = remaining.pop("lm_head.weight", None)  # some tied checkpoints store the copy too
    if copy is not None and not np.array_equal(copy, params["embedding"]):
      raise ValueError("tie_word_embeddings is true but lm_head.weight differs from "
                       "model.embed_tokens.weight")
  else:
    params["lm_head"] = {"kernel": take("lm_head.weight").T}
  remaining = [name for name in remaining if not name.endswith("rotary_emb.inv_freq")]
  if remaining:
    raise ValueError(f"checkpoint tensors this decoder does not use: {sorted(remaining)[:8]}")
  _check_shapes(cfg, params)
  # Copies: a view would keep the file's bytes alive and be read-only.
  return jax.tree.map(lambda w: np.array(w, cfg.storage_dtype, order="C", copy=True), params)


def _check_shapes(cfg: tfm.TransformerConfig, params: dict[str, Any]) -> None:
  """Raises ValueError naming each parameter whose shape differs from cfg's."""
  tokens = np.zeros((1, 1), np.int32)
  abstract = jax.eval_shape(lambda: tfm.Transformer(cfg).init(
      jax.random.key(0), tokens, tokens, tokens > -1)["params"])
  expected = traverse_util.flatten_dict(nn.meta.unbox(abstract), sep="/")
  got = traverse_util.flatten_dict(params, sep="/")
  problems = [f"{k}: checkpoint {_shape(got.get(k))}, config {_shape(expected.get(k))}"
              for k in sorted(set(expected) | set(got)) if _shape(got.get(k)) != _shape(expected.get(k))]
  if problems:
    raise ValueError("checkpoint shapes differ from config.json's: " + "; ".join(problems[:8]))


def _shape(array) -> tuple | None:
  return None if array is None else tuple(array.shape)


def load_checkpoint(directory: str | pathlib.Path, dtype: str = "float32",
                    param_dtype: str = "float32") -> tuple[tfm.TransformerConfig, dict[str, Any]]:
  """(config, params as NumPy arrays) of a Llama 3 / Qwen2 safetensors checkpoint directory.

  Args:
    directory: holds config.json and the safetensors file(s).
    dtype: the decoder's matmul dtype ("float32" or "bfloat16").
    param_dtype: the dtype the params are stored in.

  Returns:
    The config and the params as host NumPy arrays (place them with
    jax.device_put, e.g. on the shardings of `ModelOnMesh`). Host memory at
    the peak: the checkpoint's bytes, the stacked layers in the file's dtype
    and the params in param_dtype (about 64 GB for an 8B bfloat16 checkpoint
    loaded as float32).
  """
  directory = pathlib.Path(directory)
  config_path = directory / "config.json"
  if not config_path.exists():
    raise FileNotFoundError(f"{config_path} does not exist")
  cfg = config_from_hf(json.loads(config_path.read_text()), dtype, param_dtype)
  return cfg, params_from_hf(cfg, read_checkpoint_tensors(directory))
