import numpy as np
import pytest
import tensorflow as tf

import complete
import train_encoder
from facedata import dataset
from inpainting.encoder import Encoder, EncoderConfig, mask_bank
from utils import UserError, from_uint8


def test_encoder_output_shape_and_range():
    config = EncoderConfig(output_size=32, ef_dim=8)
    encoder = Encoder(config)
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(-1, 1, (5, 32, 32, 3)) * 50, tf.float32)  # large inputs: tanh must bound z
    masks = tf.constant(mask_bank(32)[:5])
    z = encoder(images, masks, images, training=True).numpy()
    assert z.shape == (5, 100) and np.abs(z).max() <= 1.0
    assert Encoder(EncoderConfig(output_size=32, ef_dim=8, conditional=False)).convs[0].w.shape[2] == 4


def test_mask_bank_has_every_kind():
    bank = mask_bank(32)
    holes = 1 - bank.mean(axis=(1, 2, 3))
    assert bank.shape[1:] == (32, 32, 1) and len(bank) > 20
    assert holes.min() > 0.05 and holes.max() > 0.7  # from small centre holes to the grid


def test_training_lowers_the_loss_and_feeds_the_search(tiny_model, tmp_path):
    ckpt, test_dir, records = tiny_model
    args = train_encoder.parse_args(["--checkpoint_dir", ckpt, "--train_records", records, "--steps", "1",
                                     "--batch_size", "16", "--print_every", "1"])
    trainer = train_encoder.main(args)
    batch = next(iter(dataset.train_batches(records, 32, 16, 0, 0)))
    images, maps = (from_uint8(tf.cast(b, tf.float32)) for b in batch)
    masks = tf.constant(mask_bank(32)[:16])
    before = float(trainer.loss_terms(images, maps, masks, False)[0])
    args.steps = 100
    trainer = train_encoder.main(args)  # resumes at step 1
    assert int(trainer.step) == 100
    after = float(trainer.loss_terms(images, maps, masks, False)[0])
    assert after < 0.97 * before  # about 5% lower; how much depends on the GAN the fixture trains

    out = tmp_path / "out"
    summary = complete.main(complete.parse_args(["--checkpoint_dir", ckpt, "--test_dir", test_dir, "--outDir", str(out),
                                                 "--batch_size", "4", "--limit", "4", "--nIter", "0",
                                                 "--z_init", "encoder"]))
    assert summary["z_init"] == "encoder" and summary["psnr_after_blending"]["count"] == 4
    assert (out / "completed" / "0_0.png").exists() and (out / "completed" / "0_blended.png").exists()


def test_missing_encoder_is_one_clear_line(tiny_model, tmp_path):
    ckpt, test_dir, _ = tiny_model
    import shutil
    bare = tmp_path / "bare"
    shutil.copytree(ckpt, bare, ignore=shutil.ignore_patterns("encoder"))
    with pytest.raises(UserError, match="no trained encoder in .*train_encoder.py"):
        complete.main(complete.parse_args(["--checkpoint_dir", str(bare), "--test_dir", test_dir,
                                           "--outDir", str(tmp_path / "o"), "--z_init", "encoder", "--nIter", "0"]))


def test_a_resumed_encoder_run_ends_where_an_uninterrupted_one_does(tiny_model, tmp_path):
    import shutil
    ckpt, _, records = tiny_model
    for run in ("a", "b"):
        shutil.copytree(ckpt, tmp_path / run, ignore=shutil.ignore_patterns("encoder"))

    def train(run, steps):  # 64 faces at batch 16: 4 steps per epoch, so step 6 is mid-epoch
        return train_encoder.main(train_encoder.parse_args(["--checkpoint_dir", str(tmp_path / run), "--train_records",
                                                            records, "--steps", str(steps), "--batch_size", "16",
                                                            "--saveInterval", "100", "--print_every", "3"]))
    train("a", 6)
    resumed, straight = train("a", 9), train("b", 9)
    assert int(resumed.step) == int(straight.step) == 9
    for x, y in zip(resumed.encoder.variables + resumed.optimizer.variables,
                    straight.encoder.variables + straight.optimizer.variables):
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-6, atol=1e-7)


def test_an_encoder_fitted_to_older_gan_weights_is_refused(tiny_model, tmp_path):
    """Training the GAN on in its folder makes the encoder stale: using it, or resuming it,
    is refused with one line instead of starting searches from guesses for another G."""
    import shutil

    import main
    ckpt, test_dir, records = tiny_model
    run = tmp_path / "run"
    shutil.copytree(ckpt, run, ignore=shutil.ignore_patterns("encoder"))
    encoder_args = train_encoder.parse_args(["--checkpoint_dir", str(run), "--train_records", records, "--steps", "1",
                                             "--batch_size", "16"])
    train_encoder.main(encoder_args)
    search = ["--checkpoint_dir", str(run), "--test_dir", test_dir, "--outDir", str(tmp_path / "o"), "--limit", "2",
              "--batch_size", "2", "--nIter", "0", "--z_init", "encoder"]
    complete.main(complete.parse_args(search))  # fits: no error
    with pytest.raises(UserError, match=r"trained for GAN weights ckpt-\d+:average, but the model is now ckpt-\d+:raw"):
        complete.main(complete.parse_args(search + ["--generator", "raw"]))
    main.main(main.parse_args(["--train_records", records, "--output_size", "32", "--gf_dim", "8", "--df_dim", "8",
                               "--batch_size", "16", "--max_steps", "44", "--checkpoint_dir", str(run),
                               "--sample_dir", str(tmp_path / "s"), "--log_dir", str(tmp_path / "l")]))
    for use in (lambda: complete.main(complete.parse_args(search)), lambda: train_encoder.main(encoder_args)):
        with pytest.raises(UserError, match="the encoder in .* was trained for GAN weights .*train_encoder.py"):
            use()
