"""Video data sets as lists of labelled files: a class-per-folder tree, a CSV list, UCF-101, HMDB-51, Kinetics.

Every source gives a ``VideoDataset``: ``samples`` (path, label index, optional segment in seconds), a
``LabelMap`` (names <-> indices, saved beside every training run) and ``missing`` (entries of an annotation
file whose video is not on disk: counted and reported, never fatal). Nothing here decodes video.
"""

import csv
import dataclasses
import logging
import os
import re

from i3d_keras import files

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ogv")


@dataclasses.dataclass(frozen=True)
class Sample:
    """One labelled video; ``start`` / ``end`` (seconds) select a segment, None the whole video."""

    path: str
    label: int
    start: float | None = None
    end: float | None = None

    @property
    def video_id(self):
        stem = os.path.splitext(os.path.basename(self.path))[0]
        return stem if self.start is None and self.end is None else f"{stem}_{self.start or 0:g}_{self.end or 0:g}"


class LabelMap:
    """Class names in index order, with lookups both ways."""

    def __init__(self, names):
        self.names = tuple(str(name) for name in names)
        if not self.names or len(set(self.names)) != len(self.names) or not all(self.names):
            raise ValueError("a label map needs distinct, non-empty class names")
        self._indices = {name: index for index, name in enumerate(self.names)}

    def __len__(self):
        return len(self.names)

    def __eq__(self, other):
        return isinstance(other, LabelMap) and self.names == other.names

    def __repr__(self):
        return f"LabelMap({len(self)} classes: {', '.join(self.names[:3])}{', ...' if len(self) > 3 else ''})"

    def index(self, label):
        """The index of ``label``: a class name, or an index given as an int or a string of digits."""
        if isinstance(label, str) and label in self._indices:
            return self._indices[label]
        if isinstance(label, int) or (isinstance(label, str) and label.strip().isdigit()):
            index = int(label)
            if 0 <= index < len(self):
                return index
            raise ValueError(f"label index {index} is outside 0..{len(self) - 1}")
        raise ValueError(f"unknown class {label!r} (the label map has {len(self)} classes)")

    def save(self, path):
        """Writes one name per line, atomically."""
        with files.atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as out:
            out.writelines(name + "\n" for name in self.names)

    @classmethod
    def load(cls, path):
        """Reads a file of one class name per line (blank lines ignored)."""
        with open(path, encoding="utf-8") as lines:
            return cls(line.rstrip("\n") for line in lines if line.strip())

    @classmethod
    def of(cls, labels):
        """``labels`` as a ``LabelMap``: a LabelMap, a label file's path, or a sequence of names."""
        if labels is None or isinstance(labels, LabelMap):
            return labels
        if isinstance(labels, (str, os.PathLike)):
            return cls.load(labels)
        return cls(labels)


@dataclasses.dataclass
class VideoDataset:
    """Labelled videos: ``samples``, their ``labels`` map, and the ``missing`` entries that had no file."""

    samples: list
    labels: LabelMap
    missing: list = dataclasses.field(default_factory=list)
    name: str = "videos"

    def __len__(self):
        return len(self.samples)

    def describe(self):
        """One line: how many videos and classes, and how many listed videos were missing."""
        missing = f", {len(self.missing)} listed videos missing" if self.missing else ""
        return f"{self.name}: {len(self.samples)} videos, {len(self.labels)} classes{missing}"


def kinetics400_labels():
    """The Kinetics-400 classes in the order of the pretrained models' outputs."""
    from i3d_keras.preprocessing import label_names

    return LabelMap(label_names("kinetics400"))


def is_video(name):
    return name.lower().endswith(VIDEO_EXTENSIONS) and not os.path.basename(name).startswith(".")


def _index_videos(root):
    """Every video file under ``root``: ``{relative path lower-cased: path}`` (UCF's lists differ in case)."""
    found = {}
    for folder, subfolders, names in os.walk(root):
        subfolders.sort()
        for name in sorted(names):
            if is_video(name):
                path = os.path.join(folder, name)
                found[os.path.relpath(path, root).replace(os.sep, "/").lower()] = path
    return found


def _check_root(root, what):
    if not os.path.isdir(root):
        raise ValueError(f"{root}: no such folder ({what})")


def _with_missing(name, samples, labels, missing):
    if missing:
        log.warning("%s: %d listed videos are missing (first: %s)", name, len(missing), missing[0])
    return VideoDataset(samples, labels, missing, name)


def from_folder(root, labels=None):
    """One sub-folder per class (``root/<class>/<video>``, deeper folders allowed); classes sorted by name
    unless ``labels`` (names, a label file, or a LabelMap) fixes the order."""
    _check_root(root, "the data set root")
    classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir() and not entry.name.startswith("."))
    found = {name: list(_index_videos(os.path.join(root, name)).values()) for name in classes}
    if not any(found.values()):
        raise ValueError(f"{root}: no videos in class sub-folders (expected {root}/<class>/<video>)")
    labels = LabelMap.of(labels) or LabelMap(classes)
    samples = [Sample(path, labels.index(name)) for name in classes for path in found[name]]
    return VideoDataset(samples, labels, name=os.path.basename(os.path.normpath(root)))


def from_list(path, root=None, labels=None):
    """A CSV or whitespace-separated list of ``path,label[,start_s,end_s]`` (a header line and ``#`` comments are
    allowed). Labels are class names or indices; relative paths are relative to ``root`` (default: the list's
    folder). Classes are ``labels`` if given, else the sorted names (or ``0..max`` when all are indices)."""
    root = root or os.path.dirname(os.path.abspath(path))
    rows = []
    with open(path, encoding="utf-8", newline="") as text:
        for number, line in enumerate(text, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = next(csv.reader([line])) if "," in line else line.split()
            fields = [field.strip() for field in fields]
            if number == 1 and fields[:2] == ["path", "label"]:
                continue
            if len(fields) not in (2, 4):
                raise ValueError(f"{path}:{number}: expected path,label[,start_s,end_s], got {line.strip()!r}")
            rows.append((number, fields))
    if not rows:
        raise ValueError(f"{path}: the list has no videos")
    labels = LabelMap.of(labels)
    if labels is None:
        names = sorted({fields[1] for _, fields in rows})
        labels = LabelMap(map(str, range(max(map(int, names)) + 1))) if all(n.isdigit() for n in names) else LabelMap(names)
    samples, missing = [], []
    for number, fields in rows:
        video = fields[0] if os.path.isabs(fields[0]) else os.path.join(root, fields[0])
        try:
            label = labels.index(fields[1])
            segment = tuple(float(value) for value in fields[2:4]) or (None, None)
        except ValueError as error:
            raise ValueError(f"{path}:{number}: {error}") from None
        if os.path.isfile(video):
            samples.append(Sample(video, label, *segment))
        else:
            missing.append(video)
    return _with_missing(os.path.basename(path), samples, labels, missing)


def ucf101(videos, splits, split=1):
    """UCF-101 split ``split`` (1-3) as ``(train, test)``, from the extracted videos (``UCF-101/<class>/*.avi``)
    and the official ``ucfTrainTestlist`` folder (``classInd.txt``, ``trainlist0N.txt``, ``testlist0N.txt``)."""
    _check_root(videos, "the extracted UCF-101 videos")
    class_file = os.path.join(splits, "classInd.txt")
    with open(class_file, encoding="utf-8") as lines:
        entries = [line.split() for line in lines if line.strip()]
    labels = LabelMap(name for _, name in sorted(entries, key=lambda entry: int(entry[0])))
    found = _index_videos(videos)
    lookup = {name.lower(): name for name in labels.names}

    def subset(kind):
        samples, missing = [], []
        with open(os.path.join(splits, f"{kind}list{split:02d}.txt"), encoding="utf-8") as lines:
            for line in lines:
                if not line.strip():
                    continue
                relative = line.split()[0]
                class_name = lookup.get(relative.split("/")[0].lower())
                if class_name is None:
                    raise ValueError(f"{kind}list{split:02d}.txt: {relative}: class not in {class_file}")
                video = found.get(relative.lower())
                if video:
                    samples.append(Sample(video, labels.index(class_name)))
                else:
                    missing.append(relative)
        return _with_missing(f"ucf101 split {split} {kind}", samples, labels, missing)

    return subset("train"), subset("test")


def hmdb51(videos, splits, split=1):
    """HMDB-51 split ``split`` (1-3) as ``(train, test)``, from the extracted videos (``<class>/*.avi``) and the
    official split folder (``<class>_test_splitN.txt``: ``video.avi 1`` train, ``2`` test, ``0`` unused)."""
    _check_root(videos, "the extracted HMDB-51 videos")
    _check_root(splits, "the HMDB-51 split files")
    pattern = re.compile(rf"^(.+)_test_split{split}\.txt$")
    split_files = sorted(name for name in os.listdir(splits) if pattern.match(name))
    if not split_files:
        raise ValueError(f"{splits}: no <class>_test_split{split}.txt files")
    labels = LabelMap(pattern.match(name).group(1) for name in split_files)
    found = _index_videos(videos)
    parts = {"1": ([], []), "2": ([], [])}  # tag -> (samples, missing)
    for name in split_files:
        class_name = pattern.match(name).group(1)
        with open(os.path.join(splits, name), encoding="utf-8") as lines:
            for line in lines:
                fields = line.split()
                if len(fields) != 2 or fields[1] not in parts:
                    continue
                samples, missing = parts[fields[1]]
                video = found.get(f"{class_name}/{fields[0]}".lower())
                if video:
                    samples.append(Sample(video, labels.index(class_name)))
                else:
                    missing.append(fields[0])
    return tuple(_with_missing(f"hmdb51 split {split} {kind}", samples, labels, missing)
                 for kind, (samples, missing) in (("train", parts["1"]), ("test", parts["2"])))


def kinetics(annotations, videos, labels=None):
    """A Kinetics-400/600/700 annotation CSV (``label,youtube_id,time_start,time_end,split``) matched to local
    clips under ``videos``, found by the names downloaders write: ``<id>_<start:06d>_<end:06d>.<ext>`` or
    ``<id>.<ext>``, in any sub-folder. Classes: ``labels`` if given, the package's Kinetics-400 order for
    those 400 classes, else the sorted names."""
    _check_root(videos, "the downloaded Kinetics clips")
    with open(annotations, encoding="utf-8", newline="") as text:
        rows = list(csv.DictReader(text))
    if not rows or not {"youtube_id", "time_start", "time_end"} <= set(rows[0]):
        raise ValueError(f"{annotations}: expected a Kinetics CSV with label,youtube_id,time_start,time_end columns")
    if "label" not in rows[0]:
        raise ValueError(f"{annotations}: no label column (an unlabelled test list cannot be trained or evaluated on)")
    names = sorted({row["label"] for row in rows})
    labels = LabelMap.of(labels)
    if labels is None:
        labels = kinetics400_labels() if set(names) == set(kinetics400_labels().names) else LabelMap(names)
    by_stem = {}
    for path in _index_videos(videos).values():
        by_stem.setdefault(os.path.splitext(os.path.basename(path))[0], path)
    samples, missing = [], []
    for row in rows:
        start, end = int(float(row["time_start"])), int(float(row["time_end"]))
        key = f"{row['youtube_id']}_{start:06d}_{end:06d}"
        video = by_stem.get(key) or by_stem.get(row["youtube_id"])
        if video:
            samples.append(Sample(video, labels.index(row["label"])))
        else:
            missing.append(key)
    return _with_missing(os.path.basename(annotations), samples, labels, missing)
