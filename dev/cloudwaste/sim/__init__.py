"""Simulated cloud estates with known waste, for the demo, tests and benchmarks.

- :mod:`cloudwaste.sim.truth`: the ground truth (``GroundTruth``, ``TruthResource``), SDK-free.
- :mod:`cloudwaste.sim.profile`: realistic tags and the simulated user-decision model.
- :mod:`cloudwaste.sim.aws`: a seeded AWS estate served by moto (``start_moto``, ``seed_estate``,
  ``python -m cloudwaste.sim.aws serve``).
"""

from .truth import GroundTruth, TruthResource

__all__ = ["GroundTruth", "TruthResource"]
