"""What the rest stands on: every setting as a dataclass named after its flag, and the enums
(`configs`); TensorFlow, imported once and quietly with its threads set (`tfstart`); and the
device strategies and distribution helpers of training (`distribute`). It imports nothing of
the project but `utils`, so `ops.py` and `model.py` at the top can build on it."""
