"""``TrainConfig``: every choice of a training run in one dataclass, saved as ``config.json`` in the run folder."""

import dataclasses
import json

from i3d_keras import files

INITS = ("kinetics400", "imagenet", "random")  # or another registered weight set, or a .weights.h5 path
TRAINABLE = ("all", "head")  # or an endpoint name: train from that block up
SCHEDULES = ("step", "cosine", "constant")
PRECISIONS = (None, "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass
class TrainConfig:
    """A training run. Defaults follow the paper: SGD, momentum 0.9, step decay by 10x, weight decay 1e-7,
    dropout 0.5, 64-frame clips at 224x224, the whole network trained."""

    run_dir: str
    modality: str = "rgb"
    init: str = "kinetics400"
    final_endpoint: str = "Mixed_5c"
    dropout_rate: float = 0.5
    trainable_from: str = "all"
    freeze_bn: bool = False
    sync_bn: bool = False
    num_frames: int = 64
    crop_size: int = 224
    short_side: int = 256
    resized_crop: bool = False
    batch_size: int = 8
    epochs: int = 40
    steps_per_epoch: int | None = None
    optimizer: str = "sgd"
    learning_rate: float | None = None
    momentum: float = 0.9
    weight_decay: float = 1e-7
    schedule: str = "step"
    decay_epochs: tuple = ()
    warmup_epochs: int = 0
    mixed_precision: str | None = None
    jit_compile: bool | None = None  # None: XLA on GPUs and TPUs only (model_setup.use_xla)
    strategy: str = "auto"
    seed: int | None = None
    flow_root: str | None = None
    train_data: str = ""
    validation_data: str = ""

    def resolved(self):
        """A copy with the defaults that depend on other fields filled in, after checking the fields."""
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.mixed_precision not in PRECISIONS:
            raise ValueError(f"mixed_precision must be mixed_float16, mixed_bfloat16 or None, got {self.mixed_precision!r}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be sgd or adam, got {self.optimizer!r}")
        if self.batch_size < 1 or self.epochs < 1:
            raise ValueError("batch_size and epochs must be positive")
        changes = {}
        if self.learning_rate is None:  # the paper's 0.1 from scratch; fine-tuning a trained trunk wants less
            changes["learning_rate"] = 0.1 if self.init in ("random", "imagenet") else 0.01
        if self.schedule == "step" and not self.decay_epochs:
            changes["decay_epochs"] = (max(1, self.epochs * 2 // 3),)
        changes["decay_epochs"] = tuple(changes.get("decay_epochs", self.decay_epochs))
        return dataclasses.replace(self, **changes)

    def save(self, path):
        with files.atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as out:
            json.dump(dataclasses.asdict(self), out, indent=1)

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as text:
            return cls(**json.load(text))
