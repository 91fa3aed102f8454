"""Importing Hugging Face Llama 3 / Qwen2 checkpoints: logits against `transformers`'.

The fixtures under tests/models/data (tiny random checkpoints saved by
`transformers` 5.24 and the logits it computed for them) come from
tests/models/data/make_hf_fixtures.py.
"""

import dataclasses
import json
import pathlib
import struct

import jax
import numpy as np
import pytest

from afjax.models import hf_import, presets, transformer as tfm

DATA = pathlib.Path(__file__).parent / "data"

# config.json of the released checkpoints, as transformers 4 wrote them (fields that do not
# bear on the decoder left out).
LLAMA_3_2_1B = {
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "head_dim": 64,
    "hidden_act": "silu", "hidden_size": 2048, "intermediate_size": 8192,
    "max_position_embeddings": 131072, "mlp_bias": False, "num_attention_heads": 32,
    "num_hidden_layers": 16, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": True, "vocab_size": 128256}
LLAMA_3_1_8B = {
    **LLAMA_3_2_1B, "head_dim": 128, "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "tie_word_embeddings": False,
    "rope_scaling": {**LLAMA_3_2_1B["rope_scaling"], "factor": 8.0}}
QWEN_2_5_0_5B = {
    "architectures": ["Qwen2ForCausalLM"], "hidden_act": "silu", "hidden_size": 896,
    "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 24,
    "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06, "rope_scaling": None, "rope_theta": 1000000.0,
    "sliding_window": 32768, "tie_word_embeddings": True, "use_sliding_window": False,
    "vocab_size": 151936}


@pytest.mark.parametrize("fixture", ["hf_llama3", "hf_qwen2"])
def test_logits_match_transformers(fixture):
  cfg, params = hf_import.load_checkpoint(DATA / fixture)
  reference = np.load(DATA / fixture / "reference.npz")
  tokens = reference["tokens"]  # [2, 24]
  mask = np.ones(tokens.shape, bool)
  logits, _ = jax.jit(tfm.Transformer(cfg).apply)(
      {"params": params}, tokens, tfm.positions_from_mask(mask), mask)
  assert reference["logits"].std() > 1  # far from uniform
  np.testing.assert_allclose(logits, reference["logits"], atol=1e-4, rtol=0)  # 1e-5 seen


def test_llama_fixture_needs_the_rope_scaling():
  cfg, params = hf_import.load_checkpoint(DATA / "hf_llama3")
  reference = np.load(DATA / "hf_llama3" / "reference.npz")
  mask = np.ones(reference["tokens"].shape, bool)
  plain = dataclasses.replace(cfg, rope_scaling_factor=1.0)
  logits, _ = tfm.Transformer(plain).apply({"params": params}, reference["tokens"],
                                           tfm.positions_from_mask(mask), mask)
  assert np.abs(logits - reference["logits"]).max() > 1  # 7.1 seen


def test_fixtures_cover_rope_scaling_biases_tied_head_and_bfloat16():
  llama, _ = hf_import.load_checkpoint(DATA / "hf_llama3")
  qwen, qwen_params = hf_import.load_checkpoint(DATA / "hf_qwen2")
  assert llama.rope_scaling_factor == 4.0 and not llama.tie_embeddings
  assert qwen.qkv_bias and qwen.tie_embeddings and "lm_head" not in qwen_params
  stored = hf_import.read_safetensors(DATA / "hf_qwen2" / "model.safetensors")
  assert {a.dtype.name for a in stored.values()} == {"bfloat16"}


@pytest.mark.parametrize("hf, preset", [(LLAMA_3_2_1B, "llama3_1b"), (LLAMA_3_1_8B, "llama3_8b"),
                                        (QWEN_2_5_0_5B, "qwen2_5_0_5b")])
def test_released_configs_give_the_presets_shapes(hf, preset):
  cfg = hf_import.config_from_hf(hf)
  expected = tfm.TransformerConfig(**presets.get_preset(preset))
  differing = {field for field in vars(cfg) if getattr(cfg, field) != getattr(expected, field)}
  assert differing <= {"max_seq_len", "dtype", "remat"}, differing  # run settings, not the model


def test_transformers_5_rope_parameters_equal_transformers_4_fields():
  v5 = {k: v for k, v in LLAMA_3_2_1B.items() if k not in ("rope_theta", "rope_scaling")}
  v5["rope_parameters"] = {**LLAMA_3_2_1B["rope_scaling"], "rope_theta": 500000.0}
  assert hf_import.config_from_hf(v5) == hf_import.config_from_hf(LLAMA_3_2_1B)


@pytest.mark.parametrize("change, message", [
    ({"architectures": ["MistralForCausalLM"]}, "architectures.*allowed"),
    ({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}, "RoPE type 'yarn'; allowed"),
    ({"attention_bias": True}, "attention_bias=True; allowed: False"),
    ({"hidden_act": "gelu"}, "hidden_act='gelu'; allowed: 'silu'"),
    ({"layer_types": ["full_attention", "sliding_attention"]}, "layer_types"),
    ({"partial_rotary_factor": 0.5}, "partial_rotary_factor=0.5; allowed: 1.0"),
    ({"rms_norm_eps": None}, "config.json has no rms_norm_eps"),
    ({"rope_scaling": {"rope_type": "llama3", "factor": 8.0, "high_freq_factor": 4.0}},
     "config.json rope_scaling has no low_freq_factor")])
def test_configs_this_decoder_cannot_compute_are_refused(change, message):
  with pytest.raises(ValueError, match=message):
    hf_import.config_from_hf({**LLAMA_3_2_1B, **change})


def test_missing_extra_and_misshapen_tensors_are_refused():
  cfg, _ = hf_import.load_checkpoint(DATA / "hf_llama3")
  tensors = hf_import.read_checkpoint_tensors(DATA / "hf_llama3")
  missing = {k: v for k, v in tensors.items() if k != "model.layers.1.mlp.up_proj.weight"}
  with pytest.raises(ValueError, match="no tensor 'model.layers.1.mlp.up_proj.weight'"):
    hf_import.params_from_hf(cfg, missing)
  with pytest.raises(ValueError, match="does not use.*model.layers.2.mlp.up_proj.weight"):
    hf_import.params_from_hf(cfg, {**tensors, "model.layers.2.mlp.up_proj.weight": tensors[
        "model.layers.1.mlp.up_proj.weight"]})
  narrow = dict(tensors, **{"model.norm.weight": tensors["model.norm.weight"][:-1]})
  with pytest.raises(ValueError, match="final_norm/scale: checkpoint \\(31,\\), config \\(32,\\)"):
    hf_import.params_from_hf(cfg, narrow)


def test_damaged_safetensors_files_are_refused(tmp_path):
  header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
  (tmp_path / "short.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
  with pytest.raises(ValueError, match="does not fit"):
    hf_import.read_safetensors(tmp_path / "short.safetensors")
  header = json.dumps({"w": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}}).encode()
  (tmp_path / "f64.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
  with pytest.raises(ValueError, match="dtype F64; allowed"):
    hf_import.read_safetensors(tmp_path / "f64.safetensors")
  with pytest.raises(FileNotFoundError, match="neither model.safetensors"):
    hf_import.read_checkpoint_tensors(tmp_path)


def test_a_tied_checkpoint_with_another_head_is_refused_and_dtypes_are_kept():
  cfg, params = hf_import.load_checkpoint(DATA / "hf_qwen2", param_dtype="bfloat16")
  assert {leaf.dtype.name for leaf in jax.tree.leaves(params)} == {"bfloat16"}
  tensors = hf_import.read_checkpoint_tensors(DATA / "hf_qwen2")
  embedding = tensors["model.embed_tokens.weight"]
  hf_import.params_from_hf(cfg, {**tensors, "lm_head.weight": embedding.copy()})  # a stored copy
  with pytest.raises(ValueError, match="lm_head.weight differs"):
    hf_import.params_from_hf(cfg, {**tensors, "lm_head.weight": embedding * 2})


def test_rope_fields_follow_transformers():
  # rope_parameters' theta wins over a stale top-level one; a missing original length is
  # max_position_embeddings; "swish" is silu.
  v5 = dict(LLAMA_3_2_1B, rope_theta=1.0, rope_scaling=None, hidden_act="swish",
            rope_parameters={"rope_type": "llama3", "rope_theta": 5e5, "factor": 32.0,
                             "low_freq_factor": 1.0, "high_freq_factor": 4.0})
  cfg = hf_import.config_from_hf(v5)
  assert cfg.rope_theta == 5e5 and cfg.rope_original_max_len == 131072


def test_params_are_writeable_copies():
  _, params = hf_import.load_checkpoint(DATA / "hf_llama3")  # float32 file, float32 params
  assert all(leaf.flags.writeable and leaf.flags.owndata for leaf in jax.tree.leaves(params))
