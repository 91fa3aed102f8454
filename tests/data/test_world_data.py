"""The world's TFDS datasets: names that tell their generator settings apart."""

from afjax.data import world_data


def test_organism_datasets_of_close_af_rates_are_distinct(tmp_path):
  first = world_data.organism_dataset(tmp_path, "tgg_plain", 4, 0, af_rate=0.1234561,
                                      validation_fraction=0.25)
  second = world_data.organism_dataset(tmp_path, "tgg_plain", 4, 0, af_rate=0.1234564,
                                       validation_fraction=0.25)
  assert first.data_dir != second.data_dir
  assert "0.1234561" in str(first.data_dir)
