"""The classification track: train image classifiers, score their uncertainty, calibration and
out-of-distribution detection with the metric code the LLM measures use.

Spec section (``track: classification``)::

    name: classify-digits
    track: classification
    tasks: [{name: digits, ood: fashion_mnist}]    # tasks/image_tasks.py
    arch: small_cnn                                # bench/models/vision.py
    dropout: 0.3
    training: {epochs: 30, batch_size: 64, lr: 0.05}   # bench/train.py Schedule
    losses: [cross_entropy]                        # LOSSES entries of the form loss(logits, targets)
    label_noise: [none, {name: symmetric, rate: 0.4}]
    members: 5                                     # deep-ensemble size (member 0 is the model)
    mc_samples: 20                                 # MC-dropout passes of member 0
    uncertainty: [max_softmax_prob, temperature_scaling, ensemble_mi, …]
    seeds: [0, 1, 2]

A cell is (task, loss, label noise, seed) with the sweep's architecture and schedule: it trains
``members`` networks (:func:`entropy_bench.train.train`, cached and resumable), computes their
logits on the task's "val", "test" and "ood" images (cached), and hands every measure the
statistics it ``requires`` (``methods/uncertainty/classifier.py``): ``logits``, ``member_logits``,
``mc_logits`` over the test + OOD images, and ``calibration_logits`` / ``calibration_labels``
from "val". The measures score the cell but are not in its key: adding one reuses the models.

Per measure the cell logs ``test/cls/<measure>/<metric>`` with stratified bootstrap CIs over
images (``classification_rows``), per-example rows, and two figures: reliability diagrams and
risk–coverage curves. The table (:meth:`ClassificationTrack.summarise`) has one row per (task,
loss, label noise, measure): each metric's mean over the seeds with a 95 % Student-t interval
over seeds; :mod:`~entropy_bench.tracks.classification_claims` tests the papers' claims on it.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from entropy_bench.cache import content_key
from entropy_bench.methods.losses.base import ClassificationLoss
from entropy_bench.methods.registry import LOSSES, UNCERTAINTY, InvalidParameterError
from entropy_bench.metrics import keys
from entropy_bench.models.vision import ARCHITECTURES
from entropy_bench.tasks.base import TASKS
from entropy_bench.tasks.image_tasks import ImageTask, LabelNoise
from entropy_bench.tracks import classification_rows as rows_of
from entropy_bench.tracks.base import Cell, CellResult, Context, Track
from entropy_bench.tracks.spec import MethodSpec, SpecError, SweepName, build_methods, split_spec, unique
from entropy_bench.train import OPTIMIZERS, Schedule, TrainConfig, logits, mc_logits, seed_of, train

ROW_KEYS = ("task", "loss", "label_noise", "measure")
MC_STREAM = 3  # MC-dropout passes draw from seed_of(seed, member 0, MC_STREAM)
PROVIDED = frozenset({"logits", "member_logits", "mc_logits", "calibration_logits", "calibration_labels"})


class TrainingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    epochs: int = Field(30, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(0.05, gt=0)
    weight_decay: float = Field(5e-4, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    optimizer: Literal[OPTIMIZERS] = "sgd"  # type: ignore[valid-type]
    checkpoint_every: int = Field(200, ge=1)
    augment: bool = False


class ClassificationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: SweepName = Field(min_length=1)
    track: Literal["classification"]
    tasks: list[MethodSpec] = Field(min_length=1)
    arch: Literal[ARCHITECTURES] = "small_cnn"  # type: ignore[valid-type]
    dropout: float = Field(0.3, ge=0, lt=1)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    losses: list[MethodSpec] = Field(default_factory=lambda: ["cross_entropy"], min_length=1)
    label_noise: list[MethodSpec] = Field(default_factory=lambda: ["none"], min_length=1)
    members: int = Field(1, ge=1)
    mc_samples: int = Field(0, ge=0)
    uncertainty: list[MethodSpec] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)

    @field_validator("seeds")
    @classmethod
    def _non_negative(cls, seeds: list[int]) -> list[int]:
        if any(s < 0 for s in seeds):
            raise ValueError(f"seeds must be integers >= 0, got {seeds}")
        return seeds


@dataclasses.dataclass(frozen=True)
class ClassificationCell(Cell):
    """Train and evaluate one (task, loss, label noise, seed); the measures are not in its key."""

    track = "classification"
    task: ImageTask
    arch: str
    dropout: float
    schedule: Schedule
    loss: ClassificationLoss
    noise: LabelNoise
    members: int
    mc_samples: int
    seed: int
    measures: tuple[Any, ...]

    @property
    def params(self) -> dict[str, str]:
        return {
            "task": self.task.id, "task.name": self.task.name, "task.version": self.task.version,
            "arch": self.arch, "dropout": repr(self.dropout), "loss": self.loss.id, "label_noise": self.noise.id,
            **{f"training.{k}": str(v) for k, v in dataclasses.asdict(self.schedule).items()},
            "members": str(self.members), "mc_samples": str(self.mc_samples), "seed": str(self.seed),
        }

    @property
    def label(self) -> str:
        return f"{self.task.id}/{self.loss.id}/{self.noise.id}/seed={self.seed}"

    @property
    def scorers(self) -> tuple[Any, ...]:
        return self.measures

    def config(self, member: int) -> TrainConfig:
        return TrainConfig(self.task, self.arch, self.dropout, self.loss, self.noise, self.schedule, self.seed, member)


def _check_loss(loss: Any) -> ClassificationLoss:
    """A loss the trainer can call as ``loss(logits, targets)``."""
    extra = [p for p in list(inspect.signature(loss.__call__).parameters)[2:]]
    if not isinstance(loss, ClassificationLoss) or extra:
        needs = f" (it also needs {', '.join(extra)})" if extra else ""
        raise SpecError(f"sweep spec: invalid 'losses': {loss.id!r} is not a loss(logits, targets) of a "
                        f"classifier{needs}")
    return loss


def _check_measure(measure: Any, spec: ClassificationSpec) -> Any:
    missing = sorted(set(measure.requires) - PROVIDED)
    if missing:
        raise SpecError(f"sweep spec: invalid 'uncertainty': {measure.id!r} reads {', '.join(missing)}, which the "
                        f"classification track does not provide (it provides {', '.join(sorted(PROVIDED))})")
    if "member_logits" in measure.requires and spec.members < 2:
        raise SpecError(f"sweep spec: invalid 'members': {measure.id!r} needs an ensemble, members >= 2")
    if "mc_logits" in measure.requires and (spec.mc_samples < 2 or spec.dropout == 0):
        raise SpecError(f"sweep spec: invalid 'mc_samples': {measure.id!r} needs mc_samples >= 2 and dropout > 0")
    return measure


def _build_noise(entry: MethodSpec) -> LabelNoise:
    name, params = split_spec(entry, "label_noise")
    unknown = sorted(set(params) - {"rate"})
    if unknown:
        raise SpecError(f"sweep spec: invalid 'label_noise': {entry!r}: no such parameter {unknown[0]!r}; parameters: rate")
    try:
        return LabelNoise(name, float(params.get("rate", 0.0)))
    except (InvalidParameterError, TypeError, ValueError) as err:
        raise SpecError(f"sweep spec: invalid 'label_noise': {err}") from None


class ClassificationTrack(Track):
    name = "classification"
    spec = ClassificationSpec
    row_keys = ROW_KEYS
    has_figures = True

    def expand(self, spec: ClassificationSpec) -> list[ClassificationCell]:
        tasks = build_methods(spec.tasks, TASKS, "tasks")
        for task in tasks:
            if not isinstance(task, ImageTask):
                raise SpecError(f"sweep spec: invalid 'tasks': {task.id!r} is not an image task")
        losses = [_check_loss(loss) for loss in build_methods(spec.losses, LOSSES, "losses")]
        noises = [_build_noise(e) for e in spec.label_noise]
        measures = [_check_measure(m, spec) for m in build_methods(spec.uncertainty, UNCERTAINTY, "uncertainty")]
        unique({"task": [t.id for t in tasks], "loss": [x.id for x in losses], "label noise": [n.id for n in noises],
                "uncertainty measure": [m.id for m in measures], "seed": [str(s) for s in spec.seeds]})
        schedule = Schedule(**spec.training.model_dump())
        return [ClassificationCell(task, spec.arch, spec.dropout, schedule, loss, noise, spec.members, spec.mc_samples,
                                   seed, tuple(measures))
                for task in tasks for loss in losses for noise in noises for seed in spec.seeds]

    def evaluate(self, cell: ClassificationCell, context: Context) -> CellResult:
        splits = cell.task.splits(cell.seed)
        outputs, produced = [], 0
        for member in range(cell.members):
            found, made = _outputs(cell, member, splits, context)
            outputs.append(found)
            produced += made
        stats = _statistics(outputs, splits["val"].labels)
        scores = {m.id: np.asarray(m(_select(stats, m.requires)), dtype=float) for m in cell.measures}
        n_test = len(splits["test"].labels)
        predictive = {m.id: np.asarray(m.predictive(_select(stats, m.requires)))[:n_test] for m in cell.measures}
        rows = rows_of.example_rows(splits["test"].labels, len(splits["ood"].labels), scores, predictive)
        columns = rows_of.columns_of(rows)
        metrics = {}
        for measure in scores:
            for metric, (value, ci) in rows_of.metrics_with_ci(columns, measure).items():
                metrics |= keys.with_ci(keys.classification("test", measure, metric), value, ci)
        from entropy_bench.tracks.classification_plots import cell_figures

        return CellResult(metrics, rows, produced=produced,
                          figures=cell_figures(columns, predictive, splits["test"].labels, cell.label))

    def summarise(self, examples: pd.DataFrame, **_) -> pd.DataFrame:
        from entropy_bench.tracks.classification_table import summarise

        return summarise(examples)

    def figures(self, summary: pd.DataFrame) -> dict[str, Any]:
        from entropy_bench.tracks.classification_claims import claims
        from entropy_bench.tracks.classification_plots import sweep_figures

        return {**sweep_figures(summary), "claims.md": claims(summary).to_markdown(index=False)}


def _select(stats: dict[str, Any], names) -> dict[str, Any]:
    return {n: stats[n] for n in names}


def _outputs(cell: ClassificationCell, member: int, splits: dict, context: Context) -> tuple[dict, int]:
    """Member ``member``'s float64 logits on "val" and on "test" + "ood" (and, for member 0, its
    MC-dropout passes there), from the cache or computed (training it if needed); and 1 if computed."""
    config = cell.config(member)
    passes = cell.mc_samples if member == 0 else 0
    key = content_key(kind="classifier_logits", model=config.key, mc_samples=passes)
    found = context.cache.get("classifier_logits", key)
    if found is not None:
        return found, 0
    model = train(config, context.cache, progress=context.progress)
    evaluated = torch.cat([cell.task.tensors(splits["test"].images), cell.task.tensors(splits["ood"].images)])
    found = {"val": logits(model, cell.task.tensors(splits["val"].images)), "eval": logits(model, evaluated)}
    if passes:
        found["mc"] = mc_logits(model, evaluated, passes, seed_of(cell.seed, member, MC_STREAM))
    context.cache.put("classifier_logits", key, found)
    return found, 1


def _statistics(outputs: list[dict], val_labels: np.ndarray) -> dict[str, np.ndarray]:
    stats = {"logits": outputs[0]["eval"].numpy(), "calibration_logits": outputs[0]["val"].numpy(),
             "calibration_labels": np.asarray(val_labels, dtype=np.int64),
             "member_logits": np.stack([o["eval"].numpy() for o in outputs])}
    if "mc" in outputs[0]:
        stats["mc_logits"] = outputs[0]["mc"].numpy()
    return stats
