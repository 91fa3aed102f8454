"""The benchmarks run at tiny sizes and print parseable BENCH_JSON lines.

No speed is asserted (speed is measured in benchmarks/, see BENCHMARKS.md);
the FLOP counters are checked against explicit sums.
"""

import dataclasses
import gzip
import json
import pathlib
import subprocess
import sys
import time
import types

import jax.numpy as jnp
import numpy as np
import pytest

from afjax.models import presets, transformer as tfm
from benchmarks import (common, cost_growth, device_suite, grpo_iteration, lm_step, matmul_peak,
                        matmul_shapes, memory, profile_step, rl_step, sampler)

ROOT = pathlib.Path(__file__).resolve().parents[2]
MACHINE_KEYS = {"platform", "device_kind", "jax", "cpu_count", "date"}


def only_record(text: str, name: str) -> dict:
  records = common.parse_json_lines(text)
  assert len(records) == 1, text
  record = records[0]
  assert record["benchmark"] == name
  assert MACHINE_KEYS <= set(record["machine"])
  return record


def test_time_fn_separates_compile_and_calls_setup_each_time():
  calls, setups = [], []

  def setup():
    setups.append(1)
    return (jnp.ones(3) * len(setups),)

  compile_s, times = common.time_fn(lambda x: calls.append(x) or x, warmup=2, repeats=3,
                                    setup=setup)
  assert compile_s >= 0 and len(times) == 3 and all(t >= 0 for t in times)
  assert len(calls) == len(setups) == 5
  with pytest.raises(ValueError, match="repeats=0"):
    common.time_fn(lambda: None, repeats=0)


def test_matmul_params_are_num_params_less_embedding_and_norms():
  cfg = tfm.TransformerConfig(**presets.get_preset("tiny"))
  norms = cfg.d_model * (2 * cfg.num_layers + 1)
  assert common.matmul_params(cfg) == cfg.num_params() - cfg.vocab_size * cfg.d_model - norms


def test_causal_flops_equal_the_explicit_sum_over_tokens():
  cfg = tfm.TransformerConfig(**presets.get_preset("test"))
  batch, prompt, new = 3, 5, 7
  explicit = batch * sum(common.forward_flops_per_token(cfg, prompt + t + 1) for t in range(new))
  assert common.causal_forward_flops(cfg, batch, new, start=prompt) == pytest.approx(explicit)
  per_token = sum(common.forward_flops_per_token(cfg, t + 1) for t in range(prompt)) / prompt
  assert common.train_flops_per_token(cfg, prompt) == pytest.approx(3 * per_token)
  # Prefill projects only the last position to the vocabulary: the other P - 1 skip 2 D V each.
  head = 2 * cfg.d_model * cfg.vocab_size
  prefill = batch * (prompt * per_token - (prompt - 1) * head)
  assert common.causal_forward_flops(cfg, batch, prompt, last_logits_only=True) == pytest.approx(prefill)


def test_bracket_peak_takes_the_max_and_warns_on_a_moving_peak(capsys):
  assert common.bracket_peak(100.0, 90.0) == (100.0, pytest.approx(0.1))
  assert "WARNING" not in capsys.readouterr().err
  assert common.bracket_peak(50.0, 100.0) == (100.0, pytest.approx(0.5))
  assert "moved by 50%" in capsys.readouterr().err


def test_print_table_aligns_columns(capsys):
  common.print_table([{"a": 1, "b": 2.5}, {"a": 10, "c": "x"}])
  lines = capsys.readouterr().out.splitlines()
  assert len(lines) == 4 and len({len(line) for line in lines}) == 1


def test_matmul_peak(capsys):
  record = matmul_peak.main(["--sizes=64,128", "--dtypes=float32,bfloat16", "--repeats=1"])
  printed = only_record(capsys.readouterr().out, "matmul_peak")
  assert printed == record
  assert [(r["dtype"], r["n"]) for r in printed["results"]] == [
      ("float32", 64), ("float32", 128), ("bfloat16", 64), ("bfloat16", 128)]
  assert all(r["gflop_per_s"] > 0 for r in printed["results"])
  assert set(printed["peak_gflop_per_s"]) == {"float32", "bfloat16"}


def test_sampler(capsys):
  sampler.main(["--preset=test", "--batch=4", "--prompt_len=8", "--new_tokens=4", "--repeats=1",
                "--peak_n=128", "--bandwidth_mb=4"])
  record = only_record(capsys.readouterr().out, "sampler")
  for key in ("prefill_tokens_per_s", "prefill_ms", "prefill_ratio_to_floor",
              "decode_tokens_per_s", "decode_ms_per_step", "decode_ratio_to_floor",
              "matmul_peak_flop_per_s", "prefill_compile_s", "decode_compile_s",
              "read_bandwidth_bytes_per_s", "decode_bw_floor_ms_per_step",
              "decode_ratio_to_bw_floor"):
    assert record[key] > 0, key
  assert record["config"]["batch"] == 4 and record["config"]["new_tokens"] == 4
  cfg = sampler.model_config("test", "float32", 12)
  assert record["decode_bytes_per_step"] == common.decode_step_bytes(cfg, 4, 12)


def test_decode_step_bytes_counts_weights_and_the_whole_cache():
  cfg = tfm.TransformerConfig(vocab_size=64, d_model=16, num_layers=2, num_heads=4,
                              num_kv_heads=2, head_dim=4, mlp_hidden=32, max_seq_len=32)
  # Per layer q 16x16, k and v 16x8, o 16x16, gate/up/down 3 x 16x32; the head 16x64.
  weights = 2 * (16 * 16 + 2 * 16 * 8 + 16 * 16 + 3 * 16 * 32) + 16 * 64
  cache = 2 * 2 * 3 * 2 * 10 * 4  # k and v, L = 2, B = 3, K = 2, S = 10, E = 4
  assert common.decode_step_bytes(cfg, batch=3, cache_slots=10) == 4 * (weights + cache)
  half = dataclasses.replace(cfg, dtype="bfloat16")  # the cache in the compute dtype
  assert common.decode_step_bytes(half, batch=3, cache_slots=10) == 4 * weights + 2 * cache


def test_read_bandwidth_is_bytes_over_time(monkeypatch):
  monkeypatch.setattr(common, "time_fn", lambda fn, x, **_: (0.0, [0.5, 0.25, 1.0]))
  assert common.measure_read_bandwidth(megabytes=2) == 2 * 2 ** 20 / 0.5
  with pytest.raises(ValueError, match="megabytes"):
    common.measure_read_bandwidth(megabytes=0)


def test_lm_step_width_sweep_configs():
  configs = lm_step.model_configs(lm_step.parse_args([]))
  assert [(c.d_model, c.num_heads, c.mlp_hidden) for c in configs] == [
      (128, 4, 352), (256, 8, 704), (512, 16, 1376)]
  tiny = lm_step.model_configs(lm_step.parse_args(["--preset=tiny"]))
  expected = tfm.TransformerConfig(**presets.get_preset("tiny")).num_params()
  assert [c.num_params() for c in tiny] == [expected]
  unrolls = lm_step.model_configs(lm_step.parse_args(["--preset=tiny", "--scan_unroll=1,4"]))
  assert [c.scan_unroll for c in unrolls] == [1, 4]


def test_lm_step(capsys):
  lm_step.main(["--d_model=32", "--num_layers=1", "--vocab=384", "--batch=4", "--seq_len=16",
                "--repeats=1", "--peak_n=128", "--loss_chunk=8"])
  record = only_record(capsys.readouterr().out, "lm_step")
  assert [r["d_model"] for r in record["results"]] == [32]
  assert record["config"]["loss_chunk"] == 8
  for row in record["results"]:
    for key in ("step_ms", "tokens_per_s", "fraction_of_peak", "gflop_per_step", "compile_s"):
      assert row[key] > 0, key


def test_command_line_entry_point():
  proc = subprocess.run(
      [sys.executable, "-m", "benchmarks.matmul_peak", "--sizes=32", "--dtypes=float32",
       "--repeats=1"], capture_output=True, text=True, cwd=ROOT, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert only_record(proc.stdout, "matmul_peak")["results"][0]["n"] == 32


def test_matmul_shapes_times_three_matmuls_per_projection(capsys):
  matmul_shapes.main(["--d_model=32", "--num_layers=2", "--vocab=64", "--tokens=16",
                      "--repeats=1", "--peak_n=64"])
  record = only_record(capsys.readouterr().out, "matmul_shapes")
  cfg = common.width_config(32, 64, 2)
  assert len(record["results"]) == 3 * 8
  assert record["summary"]["gflop"] * 1e9 == pytest.approx(
      3 * 2 * 16 * common.matmul_params(cfg))
  assert record["summary"]["matmuls_alone_s"] > 0 and record["summary"]["fraction_of_peak"] > 0


TINY_GRPO = ["--d_model=32", "--num_layers=1", "--vocab=64", "--num_prompts=2", "--group_size=2",
             "--prompt_len=4", "--new_tokens=4", "--warmup=1", "--repeats=1", "--peak_n=128"]


def test_synthetic_reward_is_the_low_token_share():
  tokens = jnp.array([[0, 15, 16, 63], [1, 2, 3, 4]])  # V = 64: ids < 16 count
  mask = jnp.array([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
  np.testing.assert_allclose(grpo_iteration.synthetic_reward(tokens, mask, 64), [0.5, 1.0])


def test_grpo_iteration_flops_of_w():
  flops = grpo_iteration.iteration_flops(grpo_iteration.Workload())
  cfg = grpo_iteration.Workload().model_config()
  assert (cfg.d_model, cfg.num_heads, cfg.mlp_hidden, cfg.num_params()) == (256, 8, 704, 3475712)
  explicit_update = 3 * 64 * sum(common.forward_flops_per_token(cfg, t + 1) for t in range(79))
  assert flops["update"] == pytest.approx(explicit_update)
  assert flops["total"] == pytest.approx(sum(v for k, v in flops.items() if k != "total"))
  assert 135e9 < flops["total"] - flops["monitor"] < 145e9  # the issue's ~140 GFLOP


def test_grpo_iteration(capsys):
  grpo_iteration.main(TINY_GRPO)
  out = capsys.readouterr().out
  record = only_record(out, "grpo_iteration")
  assert out.strip().splitlines()[-1].startswith("GRPO_STEP median_s=")
  assert record["config"]["batch"] == 4 and len(record["times_s"]) == 1
  for key in ("median_s", "floor_s", "rollout_s", "update_s", "compile_s"):
    assert record[key] > 0, key
  # old_logp are the sampler's log-probs: the update's first ratio is 1 (no recomputation drift).
  assert record["metrics"]["approx_kl_old"] < 1e-6
  assert record["metrics"]["ratio_mean"] == pytest.approx(1.0, abs=1e-5)


def test_rl_step(capsys):
  rl_step.main(["--d_model=32", "--num_layers=1", "--vocab=64", "--batch=4", "--group_size=2",
                "--prompt_len=4", "--new_tokens=4", "--repeats=1", "--peak_n=128"])
  record = only_record(capsys.readouterr().out, "rl_step")
  assert [r["d_model"] for r in record["results"]] == [32]
  for key in ("step_ms", "tokens_per_s", "fraction_of_peak", "monitor_ms", "grad_ms"):
    assert record["results"][0][key] > 0, key


def test_cost_growth_writes_table_json_and_png(capsys, tmp_path):
  out = tmp_path / "growth.png"
  cost_growth.main(["--d_model=32,64", "--group_size=2,4", "--base_d_model=32",
                    "--base_group_size=2", "--num_prompts=2", "--prompt_len=4", "--new_tokens=4",
                    "--num_layers=1", "--vocab=64", "--repeats=1", "--peak_n=128",
                    f"--out={out}"])
  record = only_record(capsys.readouterr().out, "cost_growth")
  assert [(r["sweep"], r["d_model"], r["group_size"]) for r in record["results"]] == [
      ("width", 32, 2), ("width", 64, 2), ("group", 32, 2), ("group", 32, 4)]
  assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_memory_fsdp_on_fake_devices(capsys):
  record = memory.main(["--d_model=32", "--num_layers=1", "--vocab=64", "--devices=8"])
  assert only_record(capsys.readouterr().out, "memory") == record
  assert record["machine"]["device_count"] == 8
  row = record["results"][0]
  assert row["bytes_per_device_fsdp8"] < row["bytes_1_device"]
  assert row["ratio"] == pytest.approx(row["bytes_per_device_fsdp8"] / row["bytes_1_device"])


def test_rank_kernels_sums_per_instruction_and_skips_runtime_events(tmp_path):
  def event(name, dur, module="jit_step"):
    return {"ph": "X", "name": name, "dur": dur, "args": {"hlo_module": module}}
  events = [event("fusion.1", 300.0), event("fusion.1", 100.0), event("dot.2", 100.0),
            event("ThunkExecutor::Execute", 5000.0), event("while.3", 4000.0),
            {"ph": "i", "name": "fusion.1"}]
  path = tmp_path / "trace.json.gz"
  with gzip.open(path, "wt") as f:
    json.dump({"traceEvents": events}, f)
  rows = profile_step.rank_kernels(path, steps=2, instructions={
      ("jit_step", "fusion.1"): ("f32[4,8]{1,0}", "jit(step)/mul")})
  assert [r["kernel"] for r in rows] == ["fusion.1", "dot.2"]
  assert rows[0]["ms_per_step"] == pytest.approx(0.2) and rows[0]["calls_per_step"] == 1
  assert rows[0]["share"] == pytest.approx(0.8) and rows[1]["share"] == pytest.approx(0.2)
  assert (rows[0]["shape"], rows[0]["op"]) == ("f32[4,8]{1,0}", "jit(step)/mul")
  assert (rows[1]["shape"], rows[1]["op"]) == ("", "")


def test_thread_occupancy_counts_pool_regions_and_only_worker_threads(tmp_path):
  def thread(tid, name):
    return {"ph": "M", "name": "thread_name", "tid": tid, "args": {"name": name}}
  def span(tid, name, start, dur=0.0):
    return {"ph": "X", "tid": tid, "name": name, "ts": start, "dur": dur}
  region = "ThreadpoolListener::{}Region"
  events = [thread(1, "tf_XLAEigen/1"), thread(2, "tf_XLAEigen/2"), thread(3, "python"),
            span(1, "ynn_fusion.1", 0.0, 10.0),         # a matmul launched on thread 1 ...
            span(2, region.format("Start"), 0.0),         # ... that thread 2 helps with
            span(2, "fusion.4", 2.0, 3.0),                # (a kernel inside the region: no double count)
            span(2, region.format("Stop"), 10.0),
            span(1, "dot.2", 10.0, 10.0),                 # thread 1 alone
            span(2, "fusion.3", 25.0, 5.0),               # thread 2 alone, after a gap of 5
            span(3, "ParseArguments", 0.0, 30.0)]         # the host thread: not a worker
  path = tmp_path / "trace.json.gz"
  with gzip.open(path, "wt") as f:
    json.dump({"traceEvents": events}, f)
  occupancy = profile_step.thread_occupancy(path)
  assert occupancy == pytest.approx([5 / 30, 15 / 30, 10 / 30])  # 0, 1, 2 threads busy
  with gzip.open(path, "wt") as f:
    json.dump({"traceEvents": events[:3]}, f)  # the threads, no kernel
  assert profile_step.thread_occupancy(path) == [1.0, 0.0, 0.0]


def test_profile_step_traces_a_tiny_lm_step_and_names_its_ops(tmp_path):
  record = profile_step.main(["--target=lm_step", "--d_model=32", "--num_layers=1", "--vocab=384",
                              "--batch=2", "--seq_len=8", "--steps=1", "--warmup=1", "--top=6",
                              f"--out={tmp_path}"])
  kernels = record["kernels"]
  assert len(kernels) == 6 and all(k["ms_per_step"] > 0 for k in kernels)
  times = [k["ms_per_step"] for k in kernels]
  assert times == sorted(times, reverse=True)
  assert any("jit(" in k["op"] for k in kernels), kernels  # joined from the HLO dump
  assert list((tmp_path / "hlo").glob("*after_optimizations.txt"))
  occupancy = record["thread_occupancy"]
  assert sum(occupancy) == pytest.approx(1.0) and len(occupancy) >= 2


def test_device_suite_sizes_parse_and_exceed_300m_parameters():
  full = {}
  for name, module, full_argv, smoke_argv in device_suite.SUITE:
    full[name] = module.parse_args(full_argv)
    module.parse_args(smoke_argv)
  qwen = tfm.TransformerConfig(**presets.get_preset(full["lm_step"].preset))
  rl = common.width_config(int(full["rl_step"].d_model), full["rl_step"].vocab,
                           full["rl_step"].num_layers)
  assert full["sampler"].preset == full["lm_step"].preset
  assert qwen.num_params() > 3e8 and rl.num_params() > 3e8
  for name in ("sampler", "lm_step", "rl_step", "grpo_iteration"):
    assert full[name].dtype == "bfloat16", name


def test_device_suite_smoke_writes_one_record_per_benchmark(tmp_path, capsys):
  summary = device_suite.main(["--smoke", "--only=matmul_peak", f"--out={tmp_path}"])
  assert summary["done"] == ["matmul_peak"] and not summary["failed"]
  records = [json.loads(line) for line in (tmp_path / device_suite.RECORDS_FILE).open()]
  assert [(r["benchmark"], r["suite_status"]) for r in records] == [("matmul_peak", "done")]
  assert capsys.readouterr().out.strip().splitlines()[-1].startswith("DEVICE_SUITE done=1 failed=0")


def test_device_suite_records_failures_and_skips_past_its_budget(tmp_path, monkeypatch):
  def slow(argv):
    time.sleep(0.05)
    return {"benchmark": "slow"}

  def broken(argv):
    raise RuntimeError("out of memory")

  fake = [("slow", types.SimpleNamespace(main=slow), [], []),
          ("broken", types.SimpleNamespace(main=broken), [], []),
          ("late", types.SimpleNamespace(main=slow), [], [])]
  monkeypatch.setattr(device_suite, "SUITE", fake)
  monkeypatch.setattr(device_suite, "SUITE_NAMES", ("slow", "broken", "late"))
  summary = device_suite.main([f"--out={tmp_path}", "--only=slow,late,broken", "--budget_s=0.01"])
  assert (summary["done"], summary["failed"], summary["skipped"]) == (["slow"], [], ["broken", "late"])
  summary = device_suite.main([f"--out={tmp_path}", "--only=broken"])
  assert summary["failed"] == ["broken"]
  records = [json.loads(line) for line in (tmp_path / device_suite.RECORDS_FILE).open()]
  assert [r["suite_status"] for r in records] == ["done", "failed"]
  assert records[1]["error"] == "RuntimeError: out of memory"
  with pytest.raises(SystemExit):
    device_suite.main([f"--out={tmp_path}", "--only=nope"])
