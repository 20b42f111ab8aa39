import numpy as np
import pytest
import tensorflow as tf

from model import (DCGANGenerator, Discriminator, Generator, KeypointGAN, ModelConfig, count_parameters,
                   flops_per_image)
from utils import UserError, to_uint8

TINY = dict(output_size=32, gf_dim=8, df_dim=8)


def inputs(config, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    shape = (batch, config.output_size, config.output_size, 3)
    return (tf.constant(rng.uniform(-1, 1, shape), tf.float32), tf.constant(rng.uniform(-1, 1, shape), tf.float32),
            tf.constant(rng.uniform(-1, 1, (batch, config.z_dim)), tf.float32))


def uint8(*batches):
    """Float batches in [-1, 1] as the uint8 batches the train steps take."""
    return [tf.constant(to_uint8(b)) for b in batches]


def test_shapes_and_ranges():
    config = ModelConfig(**TINY)
    gan = KeypointGAN(config)
    images, maps, z = inputs(config)
    for training in (True, False):
        fake = gan.generator(z, maps, training=training)
        assert fake.shape == (4, 32, 32, 3)
        assert float(tf.reduce_min(fake)) >= -1 and float(tf.reduce_max(fake)) <= 1
        assert gan.discriminator(fake, maps, training).shape == (4,)


@pytest.mark.parametrize("size, g_params, d_params", [(64, 35_164_035, 4_321_345), (128, 35_164_035, 17_439_809)])
def test_parameter_counts_at_paper_widths(size, g_params, d_params):
    # Counted as the original's ops define them: conv/deconv/dense weights and biases, batch-norm
    # scale and offset (moving statistics are not parameters).
    config = ModelConfig(output_size=size)
    assert count_parameters(Generator(config)) == g_params
    assert count_parameters(Discriminator(config)) == d_params


def test_flops_match_the_paper_architecture():
    g, d = flops_per_image(ModelConfig(output_size=128))
    assert round(g / 1e9, 1) == 24.3 and round(d / 1e9, 2) == 1.76
    g, d = flops_per_image(ModelConfig(output_size=64))
    assert round(g / 1e9, 1) == 6.1 and round(d / 1e9, 2) == 0.33
    first_conv = 2 * 128 * 128 * 25 * 103 * 128
    assert 0.43 < first_conv / flops_per_image(ModelConfig(output_size=128))[0] < 0.45


def test_tiled_z_shortcut_is_exact():
    for size in (16, 32):
        config = ModelConfig(output_size=size, gf_dim=8, df_dim=8)
        generator = Generator(config)
        _, maps, z = inputs(config)
        short = generator.first_conv(z, maps, tiled_z_shortcut=True)
        plain = generator.first_conv(z, maps, tiled_z_shortcut=False)
        assert float(tf.reduce_max(tf.abs(short - plain))) < 1e-4
        # Border pixels really differ from interior ones (the padding is honoured).
        assert float(tf.reduce_max(tf.abs(plain[:, 0, 0] - plain[:, size // 2, size // 2]))) > 1e-3


def test_unconditioned_model_takes_no_keypoint_map():
    config = ModelConfig(conditional=False, **TINY)
    gan = KeypointGAN(config)
    assert gan.generator.conv0.w.shape[2] == config.z_dim
    assert gan.discriminator.convs[0].w.shape[2] == 3
    images, maps, z = inputs(config)
    np.testing.assert_allclose(gan.generator(z, None), gan.generator(z, maps), atol=1e-6)
    losses = gan.train_step(*uint8(images, maps))
    assert np.isfinite(float(losses["g_loss"]))


def test_train_step_updates_both_networks_and_stays_finite():
    config = ModelConfig(**TINY)
    gan = KeypointGAN(config)
    images, maps, _ = inputs(config, batch=8)
    g_before = [v.numpy() for v in gan.generator.trainable_variables]
    d_before = [v.numpy() for v in gan.discriminator.trainable_variables]
    for _ in range(3):
        losses = gan.train_step(*uint8(images, maps))
    assert all(np.isfinite(float(v)) for v in losses.values())
    assert float(losses["d_loss"]) == pytest.approx(float(losses["d_loss_real"] + losses["d_loss_fake"]), rel=1e-5)
    assert all(not np.array_equal(a, b.numpy()) for a, b in zip(g_before, gan.generator.trainable_variables))
    assert all(not np.array_equal(a, b.numpy()) for a, b in zip(d_before, gan.discriminator.trainable_variables))
    assert int(gan.step) == 3


def test_discriminator_learns_real_from_fake():
    config = ModelConfig(**TINY)
    gan = KeypointGAN(config)
    images, maps, _ = inputs(config, batch=16)
    first = float(gan.train_step(*uint8(images, maps))["d_loss_real"])
    for _ in range(15):
        last = float(gan.train_step(*uint8(images, maps))["d_loss_real"])
    assert last < first


def test_config_mismatch_is_one_clear_line(tmp_path):
    ModelConfig(**TINY).save(tmp_path)
    asked = ModelConfig(output_size=64, gf_dim=8, df_dim=8)
    with pytest.raises(UserError, match="output_size 32 \\(asked 64\\)"):
        asked.check_same_architecture(ModelConfig.load(tmp_path), str(tmp_path))
    with pytest.raises(UserError, match="no config.json"):
        ModelConfig.load(tmp_path / "empty")
    with pytest.raises(UserError, match="power of two"):
        ModelConfig(output_size=48)


@pytest.mark.parametrize("size, g_params, d_params", [(64, 2_379_779, 4_316_545), (128, 7_928_323, 17_435_009)])
def test_dcgan_parameter_counts_equal_the_authors(size, g_params, d_params):
    # docs/spec.md section 3b: the DCGAN/ folder of the authors' first commit, at the paper's widths.
    config = ModelConfig(output_size=size, arch="dcgan")
    assert not config.conditional  # the baseline never sees a map, whatever --conditional says
    generator = DCGANGenerator(config)
    assert count_parameters(generator) == g_params
    assert count_parameters(Discriminator(config)) == d_params
    assert generator.project.w.shape == (100, 4 * 4 * (512 if size == 64 else 1024))
    assert all(d.w.shape[:2] == (3, 3) for d in generator.up)


@pytest.mark.parametrize("size", [32, 64, 128])
def test_dcgan_shapes_ranges_and_training(size):
    config = ModelConfig(output_size=size, gf_dim=4, df_dim=4, arch="dcgan")
    gan = KeypointGAN(config)
    assert isinstance(gan.generator, DCGANGenerator)
    images, maps, z = inputs(config)
    for training in (True, False):
        fake = gan.generator(z, maps, training=training)
        assert fake.shape == (4, size, size, 3)
        assert float(tf.reduce_min(fake)) >= -1 and float(tf.reduce_max(fake)) <= 1
        assert gan.discriminator(fake, maps, training).shape == (4,)
    # Different z give different images: z reaches the pixels through the linear layer.
    fake = gan.generator(z, None, training=True)
    assert float(tf.reduce_max(tf.abs(fake[0] - fake[1]))) > 1e-3
    g_before = [v.numpy() for v in gan.generator.trainable_variables]
    losses = gan.train_step(*uint8(images, maps))
    assert all(np.isfinite(float(v)) for v in losses.values())
    assert all(not np.array_equal(a, b.numpy()) for a, b in zip(g_before, gan.generator.trainable_variables))


def test_dcgan_flops_count_its_own_layers():
    config = ModelConfig(output_size=64, arch="dcgan")
    g, d = flops_per_image(config)
    linear = 2 * 100 * 16 * 512
    deconvs = 2 * 9 * (16 * 512 * 256 + 64 * 256 * 128 + 256 * 128 * 64 + 1024 * 64 * 3)
    assert g == linear + deconvs
    assert d == flops_per_image(ModelConfig(output_size=64, conditional=False))[1]


def test_arch_mismatch_and_unknown_arch(tmp_path):
    ModelConfig(arch="dcgan", **TINY).save(tmp_path)
    saved = ModelConfig.load(tmp_path)
    assert saved.arch == "dcgan" and not saved.conditional
    with pytest.raises(UserError, match="arch dcgan \\(asked ecgan\\)"):
        ModelConfig(**TINY).check_same_architecture(saved, str(tmp_path))
    with pytest.raises(UserError, match="unknown --arch"):
        ModelConfig(arch="unet")


def test_config_without_arch_is_the_paper_model(tmp_path):
    (tmp_path / "config.json").write_text('{"output_size": 32, "z_dim": 100, "gf_dim": 8, "df_dim": 8, '
                                          '"c_dim": 3, "conditional": true, "seed": 0}')
    assert ModelConfig.load(tmp_path).arch == "ecgan"


@pytest.mark.parametrize("arch", ["ecgan", "dcgan"])
def test_deconv_kernel_option(arch):
    # 0 keeps each architecture's own kernel (the paper's); 4 overlaps evenly at stride 2.
    assert ModelConfig(arch=arch, **TINY).up_kernel == (5 if arch == "ecgan" else 3)
    config = ModelConfig(arch=arch, deconv_kernel=4, **TINY)
    gan = KeypointGAN(config)
    assert all(d.w.shape[:2] == (4, 4) for d in gan.generator.up)
    _, maps, z = inputs(config)
    assert gan.generator(z, maps, training=True).shape == (4, 32, 32, 3)
    assert config.architecture()["deconv_kernel"] == 4  # a checkpoint of another kernel is refused


def test_resize_upsampling_paints_no_checkerboard_on_a_flat_input():
    """A stride-2 transposed conv of kernel 5 turns a constant input into a period-2 grid
    (uneven overlap of its taps); nearest-neighbour upsampling then a stride-1 conv keeps it
    flat (away from the zero-padded border), whatever the weights."""
    from ops import Conv2DTranspose, ResizeConv2D
    flat = tf.ones([1, 8, 8, 4])
    for layer, grid in ((Conv2DTranspose(4, 2, [0, 1], kernel=5), True), (ResizeConv2D(4, 2, [0, 1], kernel=5), False)):
        out = layer(flat).numpy()[0, 4:-4, 4:-4]
        assert out.shape[:2] == (8, 8)
        assert (np.ptp(out, axis=(0, 1)).max() > 1e-3) == grid


@pytest.mark.parametrize("arch", ["ecgan", "dcgan"])
def test_the_resize_upsampling_option(arch, tmp_path):
    config = ModelConfig(arch=arch, upsample="resize", deconv_kernel=3, **TINY)
    gan = KeypointGAN(config)
    assert all(d.conv.w.shape[:2] == (3, 3) for d in gan.generator.up)
    _, maps, z = inputs(config)
    assert gan.generator(z, maps, training=True).shape == (4, 32, 32, 3)
    config.save(tmp_path)
    assert ModelConfig.load(tmp_path).upsample == "resize"
    with pytest.raises(UserError, match="upsample resize \\(asked transposed\\)"):  # a checkpoint of the other upsampling is refused
        ModelConfig(arch=arch, deconv_kernel=3, **TINY).check_same_architecture(ModelConfig.load(tmp_path), "here")
    with pytest.raises(UserError, match="unknown --upsample"):
        ModelConfig(upsample="bilinear")
    assert ModelConfig(**TINY).upsample == "transposed"  # the paper's, and that of configs saved before the option


def test_experiments_upsample_flag_changes_the_conditioned_model_only():
    from paper import comparison
    import experiments
    from core.configs import ComparisonConfig, pick
    config = pick(ComparisonConfig, vars(experiments.parse_args(["--upsample", "resize", "--deconv_kernel", "3"])))
    conditioned, _ = comparison.train_configs(config, "conditioned", 0, None)
    dcgan, _ = comparison.train_configs(config, "dip", 0, None)
    assert (conditioned.upsample, conditioned.up_kernel) == ("resize", 3)
    assert (dcgan.upsample, dcgan.up_kernel) == ("transposed", 3)  # the authors' baseline as they built it


@pytest.mark.parametrize("arch", ["ecgan", "dcgan"])
def test_bfloat16_mixed_precision_is_close_to_float32(arch):
    # Same seed, same weights: the first step's losses (before any update) differ only by the
    # rounding of bfloat16's 8-bit mantissa; variables and optimiser state stay float32.
    config = ModelConfig(arch=arch, **TINY)
    full, mixed = KeypointGAN(config), KeypointGAN(ModelConfig(arch=arch, precision="bfloat16", **TINY))
    images, maps, z = inputs(config, batch=8)
    assert mixed.generator(z, maps).dtype == tf.float32 and mixed.discriminator(images, maps).dtype == tf.float32
    a, b = full.train_step(*uint8(images, maps)), mixed.train_step(*uint8(images, maps))
    for name in a:
        assert np.isfinite(float(b[name])) and float(b[name]) == pytest.approx(float(a[name]), rel=0.05, abs=0.02)
    assert int(mixed.step) == 1
    state = mixed.generator.variables + mixed.discriminator.variables + mixed.g_optimizer.variables
    assert all(v.dtype in (tf.float32, tf.int64) for v in state)
    assert config.architecture() == mixed.config.architecture()  # a float32 checkpoint resumes in bfloat16


def test_bfloat16_search_step_is_close_to_float32():
    from core.configs import SearchConfig
    from inpainting.inpaint import LatentSearch
    from model import GANNetworks
    config = ModelConfig(**TINY)
    images, maps, _ = inputs(config, batch=4)
    masks = np.ones((4, 32, 32, 1), np.float32)
    masks[:, 8:24, 8:24] = 0
    totals = []
    for precision in ("float32", "bfloat16"):
        search = LatentSearch(GANNetworks(ModelConfig(precision=precision, **TINY)), SearchConfig(batch_size=4))
        search.start()
        totals.append(search.run(images.numpy(), maps.numpy(), masks, 3)[0])
    assert np.all(np.isfinite(totals[1]))
    np.testing.assert_allclose(totals[1], totals[0], rtol=0.03)
