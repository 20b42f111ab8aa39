import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A 32x32 conditioned GAN (gf_dim 8) trained for a few steps on synthetic faces, and
    synthetic test pairs: (checkpoint_dir, test_dir, train_records)."""
    import main
    import preprocess
    import preprocess_test_images
    root = tmp_path_factory.mktemp("tiny_model")
    args = main.parse_args([
        "--synthetic", "64", "--train_records", str(root / "records"), "--output_size", "32",
        "--gf_dim", "8", "--df_dim", "8", "--batch_size", "16", "--max_steps", "40",
        "--checkpoint_dir", str(root / "ckpt"), "--sample_dir", str(root / "samples"),
        "--log_dir", str(root / "logs"), "--print_every", "40"])
    main.main(args)
    test_args = preprocess_test_images.parse_args(
        ["--synthetic", "10", "--size", "64", "--processes", "1", "--output_dir", str(root / "test")])
    preprocess.run(test_args, preprocess.write_test_pairs)
    return str(root / "ckpt"), str(root / "test"), str(root / "records")
