"""Train the keypoint-conditioned GAN, or the authors' DCGAN baseline (--arch dcgan).

    python main.py --batch_size=64 --output_size=128                 # the paper's setting (GPU)
    python main.py --batch_size=64 --output_size=64 --arch dcgan     # the paper's DIP baseline
    python main.py --synthetic 2000 --output_size 32 --gf_dim 16 --df_dim 16 --max_steps 600  # CPU

Writes 8x8 grids of samples and their keypoint maps to samples/celebA/ every
--sampleInterval steps, checkpoints and config.json to --checkpoint_dir every
--saveInterval steps, and TensorBoard scalars to logs/. Re-running the same command resumes
from the last checkpoint; Ctrl-C saves one before exiting.
"""
import argparse
import math
import os
import time

import numpy as np

from utils import UserError, image_grid, run_cli, save_image, str2bool


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epoch", type=int, default=25, help="epochs to train")
    p.add_argument("--max_steps", type=int, default=0, help="stop after this many steps (0: no limit)")
    p.add_argument("--learning_rate", type=float, default=0.0002)
    p.add_argument("--beta1", type=float, default=0.5)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--output_size", type=int, default=64, help="32, 64 or 128")
    p.add_argument("--z_dim", type=int, default=100)
    p.add_argument("--gf_dim", type=int, default=64, help="generator width (64 in the paper)")
    p.add_argument("--df_dim", type=int, default=64, help="discriminator width (64 in the paper)")
    p.add_argument("--arch", default="ecgan", choices=["ecgan", "dcgan"],
                   help="ecgan: the paper's encoder-decoder G; dcgan: the authors' DIP baseline "
                        "(linear z -> 4x4, 3x3 transposed convs; never conditioned)")
    p.add_argument("--deconv_kernel", type=int, default=0,
                   help="kernel of G's stride-2 transposed convs; 0: the paper's (ecgan 5, dcgan 3). "
                        "4 overlaps evenly and avoids checkerboard artefacts")
    p.add_argument("--conditional", type=str2bool, nargs="?", const=True, default=True,
                   help="condition G and D on keypoint maps (ecgan); False gives the ablation "
                        "'same generator without its map'")
    p.add_argument("--dataset", default="celebA", help="name of the sample sub-folder")
    p.add_argument("--train_records", default="data/train_records", help="folder of TFRecord shards")
    p.add_argument("--synthetic", type=int, default=0, metavar="N",
                   help="first write N synthetic training faces to --train_records (resumable)")
    p.add_argument("--checkpoint_dir", default="checkpoints")
    p.add_argument("--sample_dir", default="samples")
    p.add_argument("--log_dir", default="logs")
    p.add_argument("--sampleInterval", type=int, default=500)
    p.add_argument("--saveInterval", type=int, default=2500)
    p.add_argument("--print_every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--visualize", action="store_true",
                   help="write same_k_diff_z.png and same_z_diff_k.png from the trained model, no training")
    p.add_argument("--xla", type=str2bool, nargs="?", const=True, default=False,
                   help="compile the train step with XLA (jit_compile)")
    return p.parse_args(argv)


def make_synthetic_records(args):
    import preprocess
    import preprocess_train_images
    pre = preprocess_train_images.parse_args(["--synthetic", str(args.synthetic), "--seed", str(args.seed),
                                              "--size", str(max(args.output_size, 64)),
                                              "--output_dir", args.train_records])
    preprocess.run(pre, preprocess.write_train_records)


class Trainer:
    """The training run of main.py: model, data, checkpoints and outputs of one run folder."""

    def __init__(self, args):
        import tensorflow as tf
        import dataset
        from model import KeypointGAN, ModelConfig

        self.args, self.tf = args, tf
        tf.random.set_seed(args.seed)
        self.config = ModelConfig(output_size=args.output_size, z_dim=args.z_dim, gf_dim=args.gf_dim,
                                  df_dim=args.df_dim, conditional=args.conditional, seed=args.seed,
                                  arch=args.arch, deconv_kernel=args.deconv_kernel)
        if os.path.exists(os.path.join(args.checkpoint_dir, "config.json")):
            saved = ModelConfig.load(args.checkpoint_dir)
            self.config.check_same_architecture(saved, args.checkpoint_dir)
        dataset.check_record_size(args.train_records, args.output_size)
        self.num_faces = dataset.count_records(args.train_records)
        self.steps_per_epoch = self.num_faces // args.batch_size
        if self.steps_per_epoch == 0:
            raise UserError(f"{args.train_records} holds {self.num_faces} faces, fewer than --batch_size "
                            f"{args.batch_size}: preprocess more images or lower --batch_size")
        self.total_steps = args.epoch * self.steps_per_epoch
        if args.max_steps:
            self.total_steps = min(self.total_steps, args.max_steps)

        self.gan = KeypointGAN(self.config, args.learning_rate, args.beta1, jit_compile=args.xla,
                               noise_seed=args.seed)
        self.checkpoint = self.gan.checkpoint()
        self.manager = tf.train.CheckpointManager(self.checkpoint, args.checkpoint_dir, max_to_keep=3)
        if self.manager.latest_checkpoint:
            self.checkpoint.restore(self.manager.latest_checkpoint).assert_existing_objects_matched()
            print(f"resumed from {self.manager.latest_checkpoint} at step {int(self.gan.step)}")
        self.config.save(args.checkpoint_dir)

        # Fixed inputs for the sample grids, so grids are comparable over the run.
        count = min(64, self.num_faces)
        _, self.sample_maps = dataset.first_examples(args.train_records, args.output_size, count)
        self.sample_z = tf.constant(np.random.default_rng(args.seed).uniform(-1, 1, (count, args.z_dim)),
                                    tf.float32)
        self.sampler = tf.function(lambda z, k: self.gan.generator(z, k, training=False))
        self.samples_dir = os.path.join(args.sample_dir, args.dataset)
        self.writer = tf.summary.create_file_writer(args.log_dir)

    def batches(self):
        """Batches from the current step to the end of the run, epoch by epoch."""
        import dataset
        step = int(self.gan.step)
        while step < self.total_steps:
            epoch, done = divmod(step, self.steps_per_epoch)
            for batch in dataset.train_batches(self.args.train_records, self.args.output_size,
                                               self.args.batch_size, self.args.seed, epoch, done):
                yield batch
                step += 1
                if step >= self.total_steps or step % self.steps_per_epoch == 0:
                    break

    def save_samples(self, step):
        images = self.sampler(self.sample_z, self.sample_maps).numpy()
        rows = int(math.sqrt(len(images)))
        save_image(os.path.join(self.samples_dir, f"sample_{step}.png"), image_grid(images, rows))
        if self.config.conditional:
            save_image(os.path.join(self.samples_dir, f"sampleky_{step}.png"),
                       image_grid(self.sample_maps.numpy(), rows))
        with self.writer.as_default():
            self.tf.summary.image("samples", (images[:8] + 1) / 2, step=step, max_outputs=8)

    def run(self):
        tf, args = self.tf, self.args
        step = int(self.gan.step)
        if step >= self.total_steps:
            print(f"already trained {step} of {self.total_steps} steps; raise --epoch or --max_steps to go on")
            return
        print(f"training {'conditioned' if self.config.conditional else 'unconditioned'} {self.config.arch} "
              f"{args.output_size}x{args.output_size} on {self.num_faces} faces: steps {step} -> "
              f"{self.total_steps} ({self.steps_per_epoch} per epoch), batch {args.batch_size}")
        started, window = time.perf_counter(), time.perf_counter()
        first_step = step
        try:
            for images, keypoint_maps in self.batches():
                losses = {k: float(v) for k, v in self.gan.train_step(images, keypoint_maps).items()}
                step += 1
                bad = [k for k, v in losses.items() if not math.isfinite(v)]
                if bad:
                    raise UserError(f"{bad[0]} became {losses[bad[0]]} at step {step}: stopped; the last good "
                                    f"checkpoint ({self.manager.latest_checkpoint}) is kept. Try a lower "
                                    "--learning_rate")
                with self.writer.as_default():
                    for name, value in losses.items():
                        tf.summary.scalar(name, value, step=step)
                if step % args.print_every == 0 or step == self.total_steps:
                    now = time.perf_counter()
                    per_step = (now - window) / (step - max(first_step, step - args.print_every) or 1)
                    window = now
                    eta = per_step * (self.total_steps - step)
                    print(f"step {step}/{self.total_steps} epoch {step // self.steps_per_epoch} "
                          f"d_loss {losses['d_loss']:.3f} (real {losses['d_loss_real']:.3f}, fake "
                          f"{losses['d_loss_fake']:.3f}) g_loss {losses['g_loss']:.3f}  "
                          f"{per_step:.3f} s/step, {eta / 60:.1f} min left", flush=True)
                if step % args.sampleInterval == 0 or step == self.total_steps:
                    self.save_samples(step)
                if step % args.saveInterval == 0 or step == self.total_steps:
                    self.manager.save(checkpoint_number=step)
        except KeyboardInterrupt:
            path = self.manager.save(checkpoint_number=int(self.gan.step))
            raise UserError(f"interrupted at step {int(self.gan.step)}; saved {path}. Run the same "
                            "command again to resume")
        finally:
            self.writer.flush()
        print(f"done: {step - first_step} steps in {time.perf_counter() - started:.0f} s; checkpoint "
              f"{self.manager.latest_checkpoint}; samples in {self.samples_dir}")


def visualize(args):
    """The pose/appearance figures of the model in --checkpoint_dir, with maps from the records."""
    import dataset
    from figures import pose_appearance_figures
    from inpaint import load_model
    gan = load_model(args.checkpoint_dir)  # the architecture comes from its config.json
    size = gan.config.output_size
    dataset.check_record_size(args.train_records, size)
    _, maps = dataset.first_examples(args.train_records, size, 8)
    paths = pose_appearance_figures(gan, maps.numpy(), os.path.join(args.sample_dir, args.dataset), args.seed)
    print(f"wrote {' and '.join(paths)}")
    return paths


def main(args):
    if args.visualize:
        return visualize(args)
    if args.synthetic:
        make_synthetic_records(args)
    trainer = Trainer(args)
    trainer.run()
    return trainer


if __name__ == "__main__":
    run_cli(main, parse_args)
