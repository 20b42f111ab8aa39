"""Training runs: the resumable, interruptible loop and the GAN's run built on it (`loop`,
behind `main.py` and `train_encoder.py`), and runs side by side in worker processes with one
thread each (`jobs`, used by the paper's comparison). The networks and their train step are
in `model.py` at the top, as in the original."""
