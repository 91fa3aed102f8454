"""Packaging for afjax: alignment-faking research in JAX."""
import setuptools

setuptools.setup(
    name="afjax",
    version="0.1.0",
    description="JAX-native research code for alignment faking in RL and its mitigations.",
    packages=setuptools.find_packages(include=["afjax", "afjax.*"]),
    python_requires=">=3.11",
    install_requires=[
        "jax>=0.10.2",
        "flax>=0.12",
        "optax>=0.2.4",
        "orbax-checkpoint>=0.11",
        "ml-collections>=1.0",
        "chex>=0.1.90",
        "absl-py>=2.1",
        "tensorflow-datasets>=4.9.9",
        "importlib_resources>=6",  # tfds needs it but declares it only for Python < 3.9
        "array-record>=0.7",
        "grain>=0.2.12",
        "tokenizers>=0.20",
        "numpy>=1.26",
        "ml_dtypes>=0.5",  # bfloat16 tensors of imported checkpoints (a jax dependency too)
        "matplotlib>=3.8",
        "tensorboardX>=2.6",
        "tqdm>=4.66",
    ],
    extras_require={"test": ["pytest>=8", "pytest-timeout>=2.3", "pytest-xdist>=3.5",
                             "portpicker>=1.5"]},
)
