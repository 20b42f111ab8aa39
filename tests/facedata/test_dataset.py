import numpy as np

from facedata import dataset, records


def write_shards(directory, shards, per_shard, size=16):
    """shards x per_shard records whose image's first pixel is the shard's number and the
    second the record's number in it."""
    writer = records.ShardWriter(str(directory), shard_size=per_shard)
    for shard in range(shards):
        for i in range(per_shard):
            image = np.zeros((size, size, 3), np.uint8)
            image[0, 0, 0], image[0, 1, 0] = shard, i
            writer.write(records.encode_example(image, image, np.zeros((68, 2)), f"shard{shard}"))
        writer.close()


def shards_in_order(records_dir, seed, epoch):
    batches = dataset.train_batches(str(records_dir), 16, 8, seed, epoch, in_memory=False)
    return np.concatenate([images.numpy()[:, 0, 0, 0] for images, _ in batches])


def test_a_streamed_epoch_mixes_shards_in_an_order_drawn_per_seed_and_epoch(tmp_path, monkeypatch):
    """At CelebA scale the records stream and the shuffle buffer holds one shard's worth:
    the shards' order must change from epoch to epoch and several must be read at once."""
    monkeypatch.setattr(dataset, "SHUFFLE_BUFFER", 4)
    write_shards(tmp_path, shards=40, per_shard=4)
    epochs = {(seed, epoch): shards_in_order(tmp_path, seed, epoch) for seed in (0, 1) for epoch in (0, 1)}
    for order in epochs.values():
        assert sorted(order) == sorted(np.repeat(np.arange(40), 4))  # every record once
        assert len(set(order[:16])) >= 8  # the first 16 records come from many shards, not 4 in a row
    firsts = [tuple(order[:40]) for order in epochs.values()]
    assert len(set(firsts)) == 4  # each (seed, epoch) walks the shards in its own order
    late = [set(order[:40]) & set(range(24, 40)) for order in epochs.values()]
    assert all(late)  # the last shards of the set are not always read last
    np.testing.assert_array_equal(shards_in_order(tmp_path, 0, 1), epochs[(0, 1)])  # and it is repeatable
