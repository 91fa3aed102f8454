"""The plots are written under deterministic names and are valid, non-blank PNGs."""

import struct

import numpy as np
import pytest
from matplotlib import image as mpl_image

from afjax.report import plots
from afjax.report import results as rl
from tests.report import synthetic

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_plot_files_and_png_validity(report):
  names = sorted(p.name for p in report["plots"])
  assert names == ["curves_igg_plain.png", "curves_tgg_plain.png", "reductions.png"]
  for path in report["plots"]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 300 and height > 200
    pixels = mpl_image.imread(path)
    assert pixels.shape[:2] == (height, width)
    assert np.std(pixels[..., :3]) > 0.01  # something was drawn


def test_curves_file_names():
  assert plots.curves_file("tgg_plain") == "curves_tgg_plain.png"
  assert plots.curves_file("a b/c#2") == "curves_a_b_c_2.png"


def test_organisms_with_one_file_name_are_an_error(tmp_path):
  runs = []
  for organism in ("org a", "org_a"):
    summary = synthetic.summary("tgg_plain", "baseline", 0)
    runs.append({**summary, "organism": organism, "run_dir": f"/runs/{organism}"})
  results = rl.build_results(runs, None, {})
  with pytest.raises(ValueError, match="'org a' and 'org_a' both plot to curves_org_a.png"):
    plots.write_plots(results, tmp_path)


def test_an_undefined_interval_draws_no_error_bar(tmp_path, monkeypatch):
  results = {"reductions": {"baseline_rl": {}, "pre_rl": {
      "baseline": {m: {"mean": 0.1, "ci95": [None, None], "n_organisms": 1}
                   for m in rl.REDUCTION_METRICS}}}}
  drawn = []
  original = plots.plt.Axes.bar

  def bar(self, *args, **kwargs):
    drawn.append(kwargs.get("yerr"))
    return original(self, *args, **kwargs)

  monkeypatch.setattr(plots.plt.Axes, "bar", bar)
  plots.plot_reductions(results, tmp_path / "reductions.png")
  assert drawn and all(np.isnan(e).all() for e in map(np.asarray, drawn))
  assert (tmp_path / "reductions.png").read_bytes()[:8] == PNG_SIGNATURE
