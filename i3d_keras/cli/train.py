"""``i3d train --tfrecords records/ --run_dir runs/ucf101``: fine-tune or train I3D with ``model.fit``.

The data set comes from the data set flags (or ``--tfrecords``); validation from ``--val_tfrecords``, or with
``--validate`` the test half of a UCF-101 / HMDB-51 split. Rerunning the same command after a kill resumes
after the last completed epoch. See ``i3d_keras.training``.
"""

import sys

from absl import flags

from i3d_keras.cli import common, dataset_flags
from i3d_keras.training import config as config_lib, strategy as strategy_lib

defaults = config_lib.TrainConfig(run_dir="")
flags.DEFINE_string("run_dir", None, "Folder of the run (config, labels, checkpoints, logs, history, model).",
                    required=True)
flags.DEFINE_string("val_tfrecords", None, "Validation TFRecords (folder or glob).")
flags.DEFINE_bool("validate", False, "UCF-101 / HMDB-51: validate on the test half of the split.")
flags.DEFINE_enum("modality", "rgb", ["rgb", "flow"], "Stream to train (flow: TFRecords with flow, or --flow_root).")
flags.DEFINE_string("flow_root", None, "Raw-video data sets with --modality flow: the `i3d flow` output folder.")
flags.DEFINE_string("init", defaults.init, "Start from: kinetics400 (or another registered weight set of the "
                    "modality), imagenet (Inception-V1 inflated), random, or a .weights.h5 of an earlier run.")
flags.DEFINE_string("final_endpoint", defaults.final_endpoint, "Last block of the network (a shorter, faster model).")
flags.DEFINE_string("trainable_from", defaults.trainable_from, "all, head, or an endpoint (e.g. Mixed_4b): the "
                    "first block that trains; frozen layers (batch norm included) run in inference mode.")
flags.DEFINE_bool("freeze_bn", defaults.freeze_bn, "Keep every batch norm frozen (small batches).")
flags.DEFINE_bool("sync_bn", defaults.sync_bn, "Synchronise batch-norm statistics across replicas.")
flags.DEFINE_float("dropout", defaults.dropout_rate, "Dropout before the classifier.")
flags.DEFINE_integer("frames", defaults.num_frames, "Frames per training clip.")
flags.DEFINE_integer("crop", defaults.crop_size, "Crop size.")
flags.DEFINE_integer("short_side", defaults.short_side, "Raw videos: decode with this short side before cropping.")
flags.DEFINE_bool("resized_crop", defaults.resized_crop, "Random-resized crop instead of a random crop.")
flags.DEFINE_integer("batch_size", defaults.batch_size, "Global batch size (split over the replicas).")
flags.DEFINE_integer("epochs", defaults.epochs, "Epochs.")
flags.DEFINE_integer("steps_per_epoch", 0, "Steps per epoch (0: videos / batch size).")
flags.DEFINE_enum("optimizer", defaults.optimizer, ["sgd", "adam"], "Optimizer.")
flags.DEFINE_float("learning_rate", None, "Peak learning rate (default 0.1 from scratch/imagenet, 0.01 otherwise).")
flags.DEFINE_float("momentum", defaults.momentum, "SGD momentum.")
flags.DEFINE_float("weight_decay", defaults.weight_decay, "Weight decay.")
flags.DEFINE_enum("schedule", defaults.schedule, list(config_lib.SCHEDULES), "Learning-rate schedule.")
flags.DEFINE_list("decay_epochs", [], "step schedule: epochs after which the rate drops 10x (default: 2/3 through).")
flags.DEFINE_integer("warmup_epochs", defaults.warmup_epochs, "cosine schedule: linear warm-up epochs.")
flags.DEFINE_enum("mixed_precision", None, ["mixed_float16", "mixed_bfloat16"], "Mixed precision (logits stay float32).")
flags.DEFINE_bool("xla", None, "Compile the training step with XLA (default: on GPUs and TPUs; on a CPU it "
                  "trains I3D 4-5x slower than TensorFlow's own kernels).")
flags.DEFINE_enum("strategy", "auto", list(strategy_lib.STRATEGIES), "tf.distribute strategy (auto: multi-worker "
                  "from TF_CONFIG, mirrored over several GPUs, else one device).")
flags.DEFINE_integer("seed", None, "Random seed.")
FLAGS = flags.FLAGS


def main(argv):
    common.start(argv)
    from i3d_keras.training import TrainConfig, run_training

    with common.one_line_errors():
        train = dataset_flags.load_dataset(subset="train", allow_tfrecords=True)
        validation = FLAGS.val_tfrecords
        if FLAGS.validate:
            if not (FLAGS.ucf101 or FLAGS.hmdb51):
                raise ValueError("--validate needs --ucf101 or --hmdb51 (or give --val_tfrecords)")
            validation = dataset_flags.load_dataset(subset="test")
        config = TrainConfig(
            run_dir=FLAGS.run_dir, modality=FLAGS.modality, init=FLAGS.init, final_endpoint=FLAGS.final_endpoint,
            dropout_rate=FLAGS.dropout, trainable_from=FLAGS.trainable_from, freeze_bn=FLAGS.freeze_bn,
            sync_bn=FLAGS.sync_bn, num_frames=FLAGS.frames, crop_size=FLAGS.crop, short_side=FLAGS.short_side,
            resized_crop=FLAGS.resized_crop, batch_size=FLAGS.batch_size, epochs=FLAGS.epochs,
            steps_per_epoch=FLAGS.steps_per_epoch or None, optimizer=FLAGS.optimizer,
            learning_rate=FLAGS.learning_rate, momentum=FLAGS.momentum, weight_decay=FLAGS.weight_decay,
            schedule=FLAGS.schedule, decay_epochs=tuple(int(e) for e in FLAGS.decay_epochs),
            warmup_epochs=FLAGS.warmup_epochs, mixed_precision=FLAGS.mixed_precision, jit_compile=FLAGS.xla,
            strategy=FLAGS.strategy, seed=FLAGS.seed, flow_root=FLAGS.flow_root)
        run_training(config, train, validation)
    print(f"{FLAGS.run_dir}/model.keras", file=sys.stdout)
