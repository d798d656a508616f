"""A small, seeded, resumable trainer for the classification track.

:func:`train` fits one network (:mod:`entropy_bench.models.vision`) of a :class:`TrainConfig` on
its task's "train" split (labels through the config's label noise) with any registry
classification loss, and returns it. Everything is a function of the config:

- **Determinism.** The initial weights come from torch's generator seeded with
  ``seed_of(seed, member)``; epoch e visits the training images in the order
  ``default_rng([seed, member, e]).permutation(n)``; dropout draws from torch's generator,
  whose state travels in every checkpoint. The trainer runs inside ``torch.random.fork_rng``,
  so the caller's generator is untouched. On one machine and thread count, the same config
  gives the same weights bit for bit.
- **Augmentation** (``augment``, He et al. 2016's CIFAR recipe): each epoch draws, for every
  training image, a horizontal flip (p = ½) and a crop offset in [0, 8]² of the image padded by
  4 zero pixels, from ``default_rng([seed, member, epoch, 1])``, before the epoch starts (so a
  resumed epoch sees the same draws).
- **Device**: CUDA when available (``device="auto"``), else CPU; the device is not part of the
  key (a GPU's kernels may round differently, so bit-identity holds per device). On the CPU,
  training and inference run on one thread (:func:`one_thread`): the weights then do not depend
  on the machine's core count, and these small networks are faster so — 5 epochs of the digits
  CNN took 0.74 s on one thread and 19.7 s on two on this 2-core machine with another process busy.
- **Optimiser.** SGD with Nesterov momentum (or Adam), weight decay, and a cosine learning rate
  η_t = η₀ · ½(1 + cos(π t / T)) over the T = epochs · ⌈n / batch_size⌉ steps, a pure function
  of the step t (nothing else to restore).
- **Checkpoints** (:class:`~entropy_bench.cache.Cache` kind ``checkpoint``, key = the config's
  hash): model, optimiser and generator state and the step, written atomically every
  ``checkpoint_every`` steps and at the end of every epoch. A rerun after a kill resumes from
  the last one — mid-epoch too: the epoch's order is recomputed and its first batches skipped —
  and ends with the weights an uninterrupted run has. The trained weights are kept under kind
  ``model`` (the checkpoint is then removed): a finished config is never trained again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from entropy_bench.cache import Cache, content_key
from entropy_bench.methods.losses.base import ClassificationLoss
from entropy_bench.models import vision
from entropy_bench.tasks.image_tasks import ImageTask, LabelNoise, noisy_labels

OPTIMIZERS = ("sgd", "adam")
PAD = 4  # augmentation: zero padding before the random crop
TRAINER_VERSION = "1"  # part of every checkpoint key: bump when training changes


@dataclasses.dataclass(frozen=True)
class Schedule:
    """How to train, whatever the data and network: the sweep's ``training`` section."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.05
    weight_decay: float = 5e-4
    momentum: float = 0.9
    optimizer: str = "sgd"
    checkpoint_every: int = 200  # steps; also at every epoch's end
    augment: bool = False  # random crops (4-pixel zero padding) and horizontal flips, for CIFAR


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    task: ImageTask
    arch: str
    dropout: float
    loss: ClassificationLoss
    noise: LabelNoise
    schedule: Schedule
    seed: int
    member: int = 0  # ensemble member: its own initialisation and data order

    @property
    def key(self) -> str:
        return content_key(kind="classifier", trainer=TRAINER_VERSION, task=self.task.id,
                           task_version=self.task.version, arch=self.arch, dropout=self.dropout,
                           loss=self.loss.id, noise=self.noise.id, schedule=dataclasses.asdict(self.schedule),
                           seed=self.seed, member=self.member)

    def network(self) -> torch.nn.Module:
        """A fresh network of this config's architecture for its task, from torch's generator."""
        return vision.build(self.arch, self.task.channels, self.task.side, self.task.num_classes, self.dropout)


@contextlib.contextmanager
def one_thread(device: torch.device):
    """torch's intra-op threads set to 1 inside the block on the CPU (restored after); nothing on a GPU."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_of(*parts: int) -> int:
    """One 63-bit torch seed from integers (numpy's SeedSequence mixing)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1, np.uint64)[0] >> 1)


def device_of(name: str = "auto") -> torch.device:
    """``auto``: the first CUDA device if there is one, else the CPU."""
    return torch.device("cuda" if name == "auto" and torch.cuda.is_available() else ("cpu" if name == "auto" else name))


def train(config: TrainConfig, cache: Cache, *, progress: bool = True, device: torch.device | None = None,
          on_step: Callable[[int], None] | None = None) -> torch.nn.Module:
    """The trained network of ``config`` in eval mode on ``device`` (default :func:`device_of`):
    from the cache, else trained (resuming from a checkpoint). ``on_step(step)`` is called after
    each optimiser step (tests kill training with it)."""
    device = device or device_of()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), one_thread(device):
        torch.manual_seed(seed_of(config.seed, config.member))
        model = config.network().to(device)  # initialised from the seeded generator
        done = cache.get("model", config.key)
        if done is not None:
            model.load_state_dict(done["state"])
            return model.eval()
        split = config.task.labelled(config.seed)["train"]
        x = config.task.tensors(split.images).to(device)
        y = torch.from_numpy(noisy_labels(split.labels, config.noise, config.task, config.seed)).to(device)
        _fit(model, x, y, config, cache, progress, on_step)
    cache.put("model", config.key, {"state": {k: v.cpu() for k, v in model.state_dict().items()}})
    cache.path("checkpoint", config.key).unlink(missing_ok=True)
    return model.eval()


def _fit(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig, cache: Cache,
         progress: bool, on_step: Callable[[int], None] | None) -> None:
    schedule = config.schedule
    per_epoch = math.ceil(len(y) / schedule.batch_size)
    total = schedule.epochs * per_epoch
    optimizer = _optimizer(model, schedule)
    start = _resume(model, optimizer, cache, config.key)
    model.train()
    bar = tqdm(total=total, initial=start, desc=f"train {config.task.id} seed={config.seed} member={config.member}",
               unit="step", disable=not progress, leave=False)
    epoch_data = None
    for step in range(start, total):
        epoch, index = divmod(step, per_epoch)
        if epoch_data is None or index == 0:
            epoch_data = _epoch(x, config, epoch)
        order, inputs = epoch_data
        batch = order[index * schedule.batch_size:(index + 1) * schedule.batch_size]
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(schedule.lr, step, total)
        optimizer.zero_grad(set_to_none=True)
        loss = config.loss(model(inputs(batch)), y[batch])
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training {config.task.id} with {config.loss.id}: loss is {loss.item()} at step {step}")
        loss.backward()
        optimizer.step()
        bar.update(1)
        if (step + 1) % schedule.checkpoint_every == 0 or (step + 1) % per_epoch == 0:
            cache.put("checkpoint", config.key, {"step": step + 1, "model": _cpu(model.state_dict()),
                                                 "optimizer": _cpu(optimizer.state_dict()), "rng": _rng_state(x.device)})
        if on_step is not None:
            on_step(step)
    bar.close()


def _epoch(x: torch.Tensor, config: TrainConfig, epoch: int):
    """Epoch ``epoch``'s visiting order and a function of a batch of indices → its (augmented) inputs."""
    order = torch.from_numpy(np.random.default_rng([config.seed, config.member, epoch]).permutation(len(x))).to(x.device)
    if not config.schedule.augment:
        return order, lambda batch: x[batch]
    rng = np.random.default_rng([config.seed, config.member, epoch, 1])
    flips, offsets = rng.random(len(x)) < 0.5, rng.integers(0, 2 * PAD + 1, (len(x), 2))
    return order, lambda batch: augment(x[batch], flips[batch.cpu().numpy()], offsets[batch.cpu().numpy()])


def augment(x: torch.Tensor, flips: np.ndarray, offsets: np.ndarray) -> torch.Tensor:
    """Images [B, C, H, W] flipped left–right where ``flips``, then cropped back to H × W at
    ``offsets`` (row, column) from the image padded by :data:`PAD` zeros on every side."""
    x = torch.where(torch.from_numpy(flips).to(x.device)[:, None, None, None], x.flip(3), x)
    padded = torch.nn.functional.pad(x, (PAD, PAD, PAD, PAD))
    h, w = x.shape[2:]
    return torch.stack([padded[i, :, r:r + h, c:c + w] for i, (r, c) in enumerate(offsets.tolist())])


def _cpu(state: Any) -> Any:
    """A state dict with every tensor on the CPU (a checkpoint loads on any device)."""
    if isinstance(state, torch.Tensor):
        return state.cpu()
    if isinstance(state, dict):
        return {k: _cpu(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_cpu(v) for v in state)
    return state


def _rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def cosine_lr(lr: float, step: int, total: int) -> float:
    """η₀ · ½(1 + cos(π · step / total))."""
    return lr * 0.5 * (1 + math.cos(math.pi * step / total))


def _optimizer(model: torch.nn.Module, schedule: Schedule) -> torch.optim.Optimizer:
    if schedule.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=schedule.lr, momentum=schedule.momentum,
                               nesterov=schedule.momentum > 0, weight_decay=schedule.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=schedule.lr, weight_decay=schedule.weight_decay)


def _resume(model: torch.nn.Module, optimizer: torch.optim.Optimizer, cache: Cache, key: str) -> int:
    """Load the checkpoint of ``key`` into ``model``, ``optimizer`` and torch's generator; its step (0 if none)."""
    state: dict[str, Any] | None = cache.get("checkpoint", key)
    if state is None:
        return 0
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])  # moves its tensors to the parameters' device
    torch.set_rng_state(state["rng"]["cpu"])
    if "cuda" in state["rng"]:
        torch.cuda.set_rng_state(state["rng"]["cuda"], next(model.parameters()).device)
    return int(state["step"])


@torch.no_grad()
def logits(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Eval-mode float64 CPU logits [N, K]."""
    model.eval()
    device = next(model.parameters()).device
    x = x.to(device)
    with one_thread(device):
        return torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]).double().cpu()


@torch.no_grad()
def mc_logits(model: torch.nn.Module, x: torch.Tensor, passes: int, seed: int, batch_size: int = 512) -> torch.Tensor:
    """[passes, N, K] float64 CPU logits with only dropout active, from torch's generator seeded
    with ``seed`` (the caller's generator untouched)."""
    device = next(model.parameters()).device
    x = x.to(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), one_thread(device):
        torch.manual_seed(seed)
        vision.enable_dropout(model)
        out = torch.stack([torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
                           for _ in range(passes)]).double().cpu()
    model.eval()
    return out
