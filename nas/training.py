"""The training recipe every trial uses: batch normalisation (folded before export, `nas/fold.py`),
Adam with a linear warm-up and cosine decay, light augmentation where it fits the data, early
stopping on the validation accuracy, seeded runs, and detection of runs that collapse to chance.

    recipe = Recipe(epochs=20, lr=3e-3, batch_size=64, augment=augmentation_for("fashion_mnist"))
    outcome = train(model, data, recipe, seed=0)     # -> TrainOutcome(val_accuracy, epochs_run, ...)

A run whose validation accuracy stays within `COLLAPSE_FACTOR` x chance is retried with another
seed and a lower learning rate (`COLLAPSE_RETRIES` times); if it still collapses the outcome says
so (`collapsed=True`) and the caller records the trial as failed to learn, never as the
architecture's quality.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

COLLAPSE_FACTOR = 1.5     # validation accuracy <= 1.5 x chance: the run learned nothing
COLLAPSE_RETRIES = 1      # retries of a collapsed run (new seed, learning rate / COLLAPSE_LR_DIVISOR)
COLLAPSE_LR_DIVISOR = 3.0
WARMUP_FRACTION = 0.05    # share of the steps with a linearly rising learning rate
FINAL_LR_FRACTION = 0.01  # the cosine decays to this fraction of the peak learning rate
EARLY_STOP_PATIENCE = 4   # epochs without a better validation accuracy before stopping (at least)
EARLY_STOP_PATIENCE_FRACTION = 0.25  # ... or this share of the epochs, whichever is more
EARLY_STOP_START_FRACTION = 0.5      # never before half of the epochs (the cosine tail still gains)


@dataclass(frozen=True)
class Augmentation:
    """Random translation by up to `shift` pixels (zero padded) and, if `flip`, horizontal flips."""
    shift: int = 0
    flip: bool = False

    @property
    def active(self) -> bool:
        return self.shift > 0 or self.flip


# Which augmentations fit which data: clothing and natural images may be flipped left-right,
# digits may not (a mirrored 2 is not a 2); small shifts fit all of them. The search chooses the
# level per trial: "none"; "light" (flips where they fit, else nothing); "full" (flips where they fit
# and shifts). Small models tend to gain from less (they underfit), larger ones from more.
_FLIPS = {"fashion_mnist": True, "cifar10": True, "mnist": False, "digits": False}
_SHIFT = {"fashion_mnist": 2, "cifar10": 2, "mnist": 2, "digits": 1}


def augmentation_for(dataset: str, level: str = "full") -> Augmentation:
    base = str(dataset).split(":")[0].removesuffix("_binary")
    flip = _FLIPS.get(base, False)
    if level == "none":
        return Augmentation()
    if level == "light":
        return Augmentation(0, flip)
    if level == "full":
        return Augmentation(_SHIFT.get(base, 0), flip)
    raise ValueError(f"unknown augmentation level {level!r}")


@dataclass(frozen=True)
class Recipe:
    epochs: int
    lr: float = 3e-3
    batch_size: int = 64
    augment: Augmentation = field(default_factory=Augmentation)
    early_stop: bool = True
    label_smoothing: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainOutcome:
    val_accuracy: float
    epochs_run: int
    collapsed: bool
    attempts: int
    seed: int
    history: list[float]


def chance_accuracy(num_classes: int) -> float:
    return 1.0 / max(1, int(num_classes))


def is_collapsed(val_accuracy: float, num_classes: int) -> bool:
    return float(val_accuracy) <= COLLAPSE_FACTOR * chance_accuracy(num_classes)


def lr_schedule(peak: float, total_steps: int):
    """Linear warm-up to `peak`, then cosine decay to FINAL_LR_FRACTION x peak."""
    from sparsemcu.tf import keras as _keras
    keras = _keras()
    total = max(2, int(total_steps))
    warm = max(1, int(WARMUP_FRACTION * total))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak * FINAL_LR_FRACTION, decay_steps=total - warm, alpha=FINAL_LR_FRACTION,
        warmup_target=peak, warmup_steps=warm)


def dataset_pipeline(x, y, batch_size: int, augment: Augmentation, seed: int):
    """A shuffled, augmented tf.data pipeline of (image, label) batches."""
    from sparsemcu.tf import tensorflow
    tf = tensorflow()
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(x, np.float32), np.asarray(y, np.int64)))
    ds = ds.shuffle(min(len(x), 60000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(int(batch_size))
    if augment.active:
        h, w = int(x.shape[1]), int(x.shape[2])
        s = int(augment.shift)
        gen = tf.random.Generator.from_seed(seed)

        def aug(xb, yb):
            if augment.flip:
                flip = gen.uniform([tf.shape(xb)[0], 1, 1, 1]) < 0.5
                xb = tf.where(flip, tf.reverse(xb, axis=[2]), xb)
            if s > 0:  # an independent random translation per image
                b = tf.shape(xb)[0]
                xb = tf.pad(xb, [[0, 0], [s, s], [s, s], [0, 0]])
                oy = gen.uniform([b], 0, 2 * s + 1, dtype=tf.int32)
                ox = gen.uniform([b], 0, 2 * s + 1, dtype=tf.int32)
                xb = tf.gather(xb, oy[:, None] + tf.range(h)[None], axis=1, batch_dims=1)
                xb = tf.gather(xb, ox[:, None] + tf.range(w)[None], axis=2, batch_dims=1)
            return xb, yb
        ds = ds.map(aug, num_parallel_calls=1)
    return ds.prefetch(2)


def compile_for(model, recipe: Recipe, steps: int, lr: float):
    from sparsemcu.tf import keras as _keras
    keras = _keras()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr_schedule(lr, steps)), loss=loss,
                  metrics=["accuracy"])


def _fit_once(model, data, recipe: Recipe, seed: int, lr: float, on_epoch: Callable | None):
    from sparsemcu.tf import keras as _keras
    keras = _keras()
    keras.utils.set_random_seed(int(seed) % (2 ** 31))
    steps_per_epoch = int(np.ceil(len(data.x_train) / recipe.batch_size))
    compile_for(model, recipe, steps_per_epoch * recipe.epochs, lr)
    callbacks = []
    if on_epoch is not None:
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: on_epoch(e, logs)))
    if recipe.early_stop and len(data.x_val):
        patience = max(EARLY_STOP_PATIENCE, int(np.ceil(EARLY_STOP_PATIENCE_FRACTION * recipe.epochs)))
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_accuracy", patience=patience, restore_best_weights=True, mode="max",
            start_from_epoch=int(EARLY_STOP_START_FRACTION * recipe.epochs)))
    ds = dataset_pipeline(data.x_train, data.y_train, recipe.batch_size, recipe.augment, seed)
    val = (data.x_val, data.y_val) if len(data.x_val) else None
    hist = model.fit(ds, epochs=int(recipe.epochs), validation_data=val, verbose=0, callbacks=callbacks)
    accs = [float(a) for a in hist.history.get("val_accuracy", [])]
    return (max(accs) if accs else 0.0), len(accs), accs


def train(model_fn: Callable[[], object], data, recipe: Recipe, *, seed: int = 0,
          on_epoch: Callable | None = None) -> tuple[object, TrainOutcome]:
    """Train `model_fn()` with the recipe; retry a run that collapses to chance. Returns the
    trained model and the outcome (the last attempt's model if every attempt collapsed)."""
    lr = float(recipe.lr)
    model, acc, n, hist, attempt = None, 0.0, 0, [], 0
    for attempt in range(COLLAPSE_RETRIES + 1):
        model = model_fn()
        run_seed = int(seed) + 7919 * attempt
        acc, n, hist = _fit_once(model, data, recipe, run_seed, lr, on_epoch)
        if not is_collapsed(acc, data.num_classes):
            return model, TrainOutcome(acc, n, False, attempt + 1, run_seed, hist)
        lr /= COLLAPSE_LR_DIVISOR
    return model, TrainOutcome(acc, n, True, attempt + 1, run_seed, hist)
