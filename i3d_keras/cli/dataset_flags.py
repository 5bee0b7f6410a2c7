"""Flags that name a video data set (for build-tfrecords, train, evaluate): exactly one source flag."""

from absl import flags

from i3d_keras.data import datasets

flags.DEFINE_string("folder", None, "Data set as a folder with one sub-folder of videos per class.")
flags.DEFINE_string("list", None, "Data set as a CSV/text list of path,label[,start_s,end_s] lines.")
flags.DEFINE_string("ucf101", None, "Folder of the extracted UCF-101 videos (UCF-101/<class>/*.avi); needs --splits.")
flags.DEFINE_string("hmdb51", None, "Folder of the extracted HMDB-51 videos (<class>/*.avi); needs --splits.")
flags.DEFINE_string("kinetics", None, "Kinetics annotation CSV (label,youtube_id,time_start,time_end,split); "
                    "clips are looked up under --root.")
flags.DEFINE_string("tfrecords", None, "Data set as TFRecords written by build-tfrecords (folder or glob).")
flags.DEFINE_string("root", None, "Folder that relative paths of --list start from / that holds the --kinetics clips.")
flags.DEFINE_string("splits", None, "Folder of the official UCF-101 / HMDB-51 split files.")
flags.DEFINE_integer("split", 1, "UCF-101 / HMDB-51 split number (1-3).")
flags.DEFINE_enum("subset", "train", ["train", "test"], "UCF-101 / HMDB-51: which half of the split.")
flags.DEFINE_string("labels", None, "File of class names, one per line, fixing the label order.")
FLAGS = flags.FLAGS

SOURCES = ("folder", "list", "ucf101", "hmdb51", "kinetics")
TFRECORDS_TOO = SOURCES + ("tfrecords",)


def load_dataset(subset=None, allow_tfrecords=False):
    """The ``VideoDataset`` the flags name (TFRecords: their path, when ``allow_tfrecords``); ``ValueError``
    with the fix when they do not name exactly one. ``subset`` overrides ``--subset`` for UCF-101 / HMDB-51."""
    choices = TFRECORDS_TOO if allow_tfrecords else SOURCES
    given = [name for name in choices if getattr(FLAGS, name)]
    if len(given) != 1:
        raise ValueError(f"name the data set with exactly one of --{', --'.join(choices)}")
    source = given[0]
    if source == "tfrecords":
        return FLAGS.tfrecords
    if source == "folder":
        return datasets.from_folder(FLAGS.folder, labels=FLAGS.labels)
    if source == "list":
        return datasets.from_list(FLAGS.list, root=FLAGS.root, labels=FLAGS.labels)
    if source == "kinetics":
        if not FLAGS.root:
            raise ValueError("--kinetics needs --root: the folder of the downloaded clips")
        return datasets.kinetics(FLAGS.kinetics, FLAGS.root, labels=FLAGS.labels)
    if not FLAGS.splits:
        raise ValueError(f"--{source} needs --splits: the folder of the official split files")
    train, test = getattr(datasets, source)(getattr(FLAGS, source), FLAGS.splits, split=FLAGS.split)
    return train if (subset or FLAGS.subset) == "train" else test
