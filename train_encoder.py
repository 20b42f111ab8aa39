"""Train the learned latent initialiser for a trained GAN (G and D stay frozen).

    python train_encoder.py --checkpoint_dir checkpoints --steps 5000
    python complete.py --z_init encoder --nIter 100          # then start the search from E(x)

Saves <checkpoint_dir>/encoder/ (checkpoints and encoder.json); re-running resumes.
"""
import argparse
import os
import time

from utils import UserError, run_cli


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint_dir", default="checkpoints", help="the trained GAN")
    p.add_argument("--train_records", default="data/train_records")
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--ef_dim", type=int, default=None, help="encoder width (default: the model's df_dim)")
    p.add_argument("--learning_rate", type=float, default=1e-3)
    p.add_argument("--lam", type=float, default=0.1)
    p.add_argument("--l2_weight", type=float, default=1.0, help="weight of the whole-face L2 term")
    p.add_argument("--print_every", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def train(args):
    import math

    import tensorflow as tf

    import dataset
    from encoder import ENCODER_DIR, EncoderConfig, EncoderTrainer, save_config
    from inpaint import load_model

    gan = load_model(args.checkpoint_dir)
    size = gan.config.output_size
    dataset.check_record_size(args.train_records, size)
    config = EncoderConfig(output_size=size, z_dim=gan.config.z_dim, ef_dim=args.ef_dim or gan.config.df_dim,
                           conditional=gan.config.conditional, seed=args.seed)
    trainer = EncoderTrainer(gan, config, args.lam, args.l2_weight, args.learning_rate, args.seed)
    directory = os.path.join(args.checkpoint_dir, ENCODER_DIR)
    checkpoint = trainer.checkpoint()
    manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=2)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint)
        print(f"resumed the encoder at step {int(trainer.step)}")
    save_config(directory, config)
    faces = dataset.count_records(args.train_records)
    per_epoch = max(1, faces // args.batch_size)
    step, started = int(trainer.step), time.perf_counter()
    first = step
    while step < args.steps:
        epoch, done = divmod(step, per_epoch)
        for images, keypoint_maps in dataset.train_batches(args.train_records, size, args.batch_size,
                                                           args.seed + 7, epoch, done):
            loss, context = (float(v) for v in trainer.train_step(images, keypoint_maps))
            step += 1
            if not math.isfinite(loss):
                raise UserError(f"encoder loss became {loss} at step {step}; lower --learning_rate")
            if step % args.print_every == 0 or step == args.steps:
                print(f"encoder step {step}/{args.steps} loss {loss:.1f} context {context:.1f} "
                      f"({(time.perf_counter() - started) / (step - first):.3f} s/step)", flush=True)
            if step >= args.steps or step % per_epoch == 0:
                break
    manager.save(checkpoint_number=step)
    print(f"encoder saved in {directory}")
    return trainer


def main(args):
    return train(args)


if __name__ == "__main__":
    run_cli(main, parse_args)
