import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pytest  # noqa: E402

from core import tfstart  # noqa: E402,F401  (TensorFlow, imported quietly before any test imports it)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A 32x32 conditioned GAN (gf_dim 8) trained for a few steps on synthetic faces, and
    synthetic test pairs: (checkpoint_dir, test_dir, train_records)."""
    import main
    from facedata import preprocess
    root = tmp_path_factory.mktemp("tiny_model")
    args = main.parse_args([
        "--synthetic", "64", "--train_records", str(root / "records"), "--output_size", "32",
        "--gf_dim", "8", "--df_dim", "8", "--batch_size", "16", "--max_steps", "40",
        "--checkpoint_dir", str(root / "ckpt"), "--sample_dir", str(root / "samples"),
        "--log_dir", str(root / "logs"), "--print_every", "40"])
    main.main(args)
    preprocess.run(preprocess.write_test_pairs, synthetic=10, seed=1, size=64, processes=1,
                   output_dir=str(root / "test"))
    return str(root / "ckpt"), str(root / "test"), str(root / "records")
