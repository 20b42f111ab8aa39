"""tf.distribute for the training runs (main.py, train_encoder.py): the strategy that
--distribute and --virtual_devices ask for, which process writes, and how each worker
gets its replicas' rows of every global batch.

    --distribute none          one device (the default)
    --distribute mirrored      every local GPU; without one, the CPU's logical devices
    --distribute multi_worker  the machines listed in TF_CONFIG, each with its local GPUs
    --virtual_devices N        split the CPU into N logical devices (tests, no GPU needed)

--batch_size is the global batch. Batch norm is synchronised and gradients are summed over
the replicas (ops.py), and every replica reads its rows of the same global batches one
device would (dataset.train_batches), so N replicas train as one device at the same batch,
and a run can resume on another number of devices. The chief writes checkpoints, samples,
logs and config.json; the other workers save to a scratch folder that is removed at once
(tf.distribute's saving protocol wants every worker to save). The checkpoint folder must
be one every worker can read, to resume. The latent search and blending stay per device.
launch_workers.py starts a multi-worker run's workers on one host.
"""
import json
import os
import shutil

from core.configs import DISTRIBUTE_MODES
from core.tfstart import tf
from utils import UserError


def make_strategy(mode="none", virtual_devices=0):
    """The strategy for a training run. Create it first thing in a process: TensorFlow fixes
    its devices and collective ops when it first runs anything."""
    if virtual_devices:
        split_cpu(virtual_devices)
    if mode == "none":
        return tf.distribute.get_strategy()
    if mode == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if mode == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise UserError("--distribute multi_worker needs TF_CONFIG set on every machine (its cluster and this "
                            "task), e.g. from `python launch_workers.py --workers 2 main.py ...` on one host")
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except (ValueError, KeyError, TypeError, json.JSONDecodeError) as error:
            raise UserError(f"TF_CONFIG is not a cluster TensorFlow can use ({error}): see "
                            "https://www.tensorflow.org/guide/distributed_training#TF_CONFIG") from None
    raise UserError(f"unknown --distribute {mode}: use {', '.join(DISTRIBUTE_MODES)}")


def split_cpu(count):
    """Split the CPU into `count` logical devices, which MirroredStrategy then trains on."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        if len(tf.config.list_logical_devices("CPU")) != count:
            raise UserError(f"--virtual_devices {count}: TensorFlow had already started its devices; split the CPU "
                            "first thing in the process") from None


def check_batch(batch_size, strategy):
    """The global batch must split evenly over the replicas."""
    count = strategy.num_replicas_in_sync
    if batch_size % count:
        raise UserError(f"--batch_size {batch_size} (the global batch) does not split over {count} replicas: "
                        f"use a multiple of {count}")


def is_chief(strategy):
    """Whether this process writes the run's files: always, unless it is a multi-worker task
    other than the chief (the task "chief", else worker 0)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    if not cluster:
        return True
    if "chief" in cluster:
        return resolver.task_type == "chief"
    return resolver.task_type == "worker" and resolver.task_id == 0


def scratch_dir(directory, strategy):
    """Where a worker other than the chief saves its checkpoints (removed after each save)."""
    return os.path.join(directory, f".worker{strategy.cluster_resolver.task_id}")


def inputs(strategy):
    """The `distribute` argument of dataset.epoch_iterators for this strategy: each worker's
    dataset yields the batches of its local replicas, in replica order (tf.distribute hands
    a worker's batches to its replicas in turn). None on one device."""
    if strategy.num_replicas_in_sync == 1:
        return None

    def distribute(make_dataset):
        def dataset_fn(context):
            local = context.num_replicas_in_sync // context.num_input_pipelines
            return make_dataset((context.input_pipeline_id * local, local, context.num_replicas_in_sync))
        return strategy.distribute_datasets_from_function(dataset_fn)
    return distribute


def run_step(strategy, step, *args):
    """step(*args) on every replica of `strategy` (inside a tf.function); what it returns,
    the same on every replica (summed over them), from the first."""
    values = strategy.run(step, args)
    return tf.nest.map_structure(lambda value: strategy.experimental_local_results(value)[0], values)


def run_steps(strategy, step, names, iterator, count):
    """Inside a tf.function: up to `count` train steps, each step(*batch) -> ({name: value},
    finite) on every replica with the next batch of `iterator`, stopping after the first
    step that is not finite (which the step itself undid). Several steps per compiled call:
    Python, and the read-back of the losses, come once per call instead of once per step.
    Returns ({name: [steps run]} of the values named in `names`, the number of finite steps)."""
    arrays = tuple(tf.TensorArray(tf.float32, size=0, dynamic_size=True) for _ in names)
    finite_steps = tf.constant(0)
    for i in tf.range(count):
        values, finite = run_step(strategy, step, *next(iterator))
        arrays = tuple(array.write(i, values[name]) for array, name in zip(arrays, names))
        if not finite:
            break
        finite_steps += 1
    return {name: array.stack() for name, array in zip(names, arrays)}, finite_steps


def remove_scratch(path):
    shutil.rmtree(path, ignore_errors=True)
