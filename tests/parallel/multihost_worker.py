"""One of two processes exercising afjax.parallel.multihost (tests/parallel/test_multihost.py).

    python -m tests.parallel.multihost_worker --port=PORT --process_id=I --out=DIR

Runs with 2 fake CPU devices per process and prints one line per check.
"""

import argparse
import pathlib

import jax
import numpy as np


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--port", required=True)
  parser.add_argument("--process_id", type=int, required=True)
  parser.add_argument("--out", required=True)
  args = parser.parse_args()
  jax.distributed.initialize(coordinator_address=f"127.0.0.1:{args.port}", num_processes=2,
                             process_id=args.process_id)
  from afjax.parallel import mesh as mesh_lib
  from afjax.parallel import multihost

  def failing_stage():
    if multihost.is_primary():
      raise OSError("disk full")
    return "loaded"

  try:
    multihost.primary_first(failing_stage, "dataset")
  except OSError as err:
    print(f"stage failed here: {err}", flush=True)
  except RuntimeError as err:
    print(f"stage failed elsewhere: {err}", flush=True)
  print(f"next stage returned {multihost.primary_first(jax.process_index, 'next stage')}",
        flush=True)
  out = pathlib.Path(args.out)
  multihost.write_text(out / "shared.txt", f"written by process {jax.process_index()}")
  mesh = mesh_lib.make_mesh({"data": -1})
  host = np.arange(8 * 3, dtype=np.float32).reshape(8, 3)
  placed = multihost.global_array(host, mesh_lib.batch_sharding(mesh))
  assert not placed.is_fully_addressable
  print(f"gathered equal {np.array_equal(multihost.to_host(placed), host)}", flush=True)
  print(f"flag {multihost.primary_flag(jax.process_index() == 0)}", flush=True)


if __name__ == "__main__":
  main()
