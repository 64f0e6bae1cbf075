"""SpArSe search space, its Optuna encoding, and the Keras model builder.

A candidate is a stack of up to MAX_BLOCKS conv blocks; each block has 1-3 layers, each
layer a regular Conv2D, a downsampled Conv2D (1x1 reduction, then k x k) or a
depthwise-separable conv (depthwise k x k, then 1x1); the block sets the number of filters,
the kernel size and an optional 2x2 pooling. Then a Flatten or global average pooling
head, 0-2 hidden Dense layers and the logits layer (no softmax: argmax of int8 logits).
Pruning (method, strength/target) and training (learning rate, batch size, augmentation
level) hyper-parameters are part of the space.

Every trial suggests every parameter (unused ones are ignored by the builder), so the
space is fixed-dimensional: Optuna's NSGA-II/TPE and the GP sampler all work on it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

MAX_BLOCKS = 3
MAX_LAYERS = 3
MAX_DENSE = 2
LAYER_TYPES = ("conv", "down", "dw")
POOLS = ("none", "max", "avg")
PRUNE_METHODS = ("none", "svd", "bc", "magnitude")
AUGMENT_LEVELS = ("none", "light", "full")  # nas/training.py: what each means for a dataset
# Batch-norm moving averages: 0.9 settles within a few dozen steps, so even a short screening run
# is evaluated with statistics of the trained network (Keras' 0.99 needs hundreds of steps).
BN_MOMENTUM = 0.9


@dataclass
class SpaceConfig:
    """Ranges of the space (the defaults suit 8x8 to 32x32 inputs)."""
    max_blocks: int = MAX_BLOCKS
    filters: tuple[int, int] = (2, 64)
    kernels: tuple[int, ...] = (3, 5)
    dense_units: tuple[int, int] = (8, 128)
    lr: tuple[float, float] = (1e-3, 1.5e-2)  # peak of the warm-up + cosine schedule (Adam, batch norm)
    batch_sizes: tuple[int, ...] = (32, 64, 128)
    augment_levels: tuple[str, ...] = AUGMENT_LEVELS
    prune_methods: tuple[str, ...] = PRUNE_METHODS

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        d: dict[str, optuna.distributions.BaseDistribution] = {}
        d["n_blocks"] = IntDistribution(1, self.max_blocks)
        for b in range(self.max_blocks):
            d[f"b{b}_layers"] = IntDistribution(1, MAX_LAYERS)
            for i in range(MAX_LAYERS):
                d[f"b{b}_l{i}_type"] = CategoricalDistribution(LAYER_TYPES)
            d[f"b{b}_filters"] = IntDistribution(self.filters[0], self.filters[1], log=True)
            d[f"b{b}_kernel"] = CategoricalDistribution(tuple(self.kernels))
            d[f"b{b}_reduce"] = CategoricalDistribution((0.25, 0.5))
            d[f"b{b}_pool"] = CategoricalDistribution(POOLS)
        d["head"] = CategoricalDistribution(("flatten", "gap"))
        d["n_dense"] = IntDistribution(0, MAX_DENSE)
        for i in range(MAX_DENSE):
            d[f"d{i}_units"] = IntDistribution(self.dense_units[0], self.dense_units[1], log=True)
        d["prune"] = CategoricalDistribution(tuple(self.prune_methods))
        d["prune_target"] = FloatDistribution(0.3, 0.95)       # magnitude: final sparsity
        d["prune_kl"] = FloatDistribution(0.3, 30.0, log=True)  # SVD / BC: KL scale
        d["prune_threshold"] = FloatDistribution(-2.0, 3.0)     # BC: log-alpha threshold
        d["lr"] = FloatDistribution(self.lr[0], self.lr[1], log=True)
        d["batch_size"] = CategoricalDistribution(tuple(self.batch_sizes))
        d["augment"] = CategoricalDistribution(tuple(self.augment_levels))
        return d


def suggest(trial: optuna.Trial, space: SpaceConfig) -> dict:
    """Suggest every parameter of the space (fixed-dimensional), return the params dict."""
    params = {}
    for name, d in space.distributions().items():
        if isinstance(d, IntDistribution):
            params[name] = trial.suggest_int(name, d.low, d.high, log=d.log)
        elif isinstance(d, FloatDistribution):
            params[name] = trial.suggest_float(name, d.low, d.high, log=d.log)
        else:
            params[name] = trial.suggest_categorical(name, d.choices)
    return params


@dataclass
class LayerSpec:
    type: str
    filters: int
    kernel: int
    reduce: int = 0  # 1x1 reduction filters for "down"


@dataclass
class BlockSpec:
    layers: list[LayerSpec]
    pool: str = "none"


@dataclass
class Candidate:
    blocks: list[BlockSpec]
    head: str = "flatten"
    dense: list[int] = field(default_factory=list)
    prune: str = "none"
    prune_params: dict = field(default_factory=dict)
    lr: float = 3e-3
    batch_size: int = 64
    augment: str = "light"

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        parts = []
        for b in self.blocks:
            ls = "+".join(f"{l.type}{l.filters}k{l.kernel}" for l in b.layers)
            parts.append(ls + ("" if b.pool == "none" else f"/{b.pool}"))
        parts.append(self.head)
        parts += [f"fc{u}" for u in self.dense]
        return " ".join(parts) + f" prune={self.prune}"


def decode(params: dict) -> Candidate:
    blocks = []
    for b in range(int(params["n_blocks"])):
        f = int(params[f"b{b}_filters"])
        k = int(params[f"b{b}_kernel"])
        red = max(1, int(round(f * float(params.get(f"b{b}_reduce", 0.5)))))
        layers = [LayerSpec(params[f"b{b}_l{i}_type"], f, k, red) for i in range(int(params[f"b{b}_layers"]))]
        blocks.append(BlockSpec(layers, params[f"b{b}_pool"]))
    dense = [int(params[f"d{i}_units"]) for i in range(int(params["n_dense"]))]
    method = params.get("prune", "none")
    pp: dict = {}
    if method == "magnitude":
        pp = {"target_sparsity": float(params["prune_target"])}
    elif method == "svd":
        pp = {"kl_scale": float(params["prune_kl"])}
    elif method == "bc":
        pp = {"kl_scale": float(params["prune_kl"]), "threshold": float(params["prune_threshold"])}
    return Candidate(blocks, params.get("head", "flatten"), dense, method, pp,
                     float(params.get("lr", 3e-3)), int(params.get("batch_size", 64)),
                     str(params.get("augment", "light")))


def build_model(cand: Candidate, input_shape, num_classes: int, batchnorm: bool = True):
    """The Keras (tf_keras) Sequential model of a candidate. Layer names are stable per
    position (b{block}_l{layer}_{part}, d{i}, logits) so that network morphism can copy
    weights between related candidates. With `batchnorm` every convolution is
    conv (no bias) -> BatchNormalization -> ReLU, folded back into one conv with a ReLU by
    `nas.fold.fold_batchnorm` before pruning and export."""
    import tf_keras as keras
    L = keras.layers
    layers = [L.Input(tuple(input_shape))]

    def conv(kind, name, **kw):
        if not batchnorm:
            return [kind(padding="same", activation="relu", name=name, **kw)]
        return [kind(padding="same", use_bias=False, name=name, **kw),
                L.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn"), L.ReLU(name=f"{name}_relu")]

    h, w = int(input_shape[0]), int(input_shape[1])
    for bi, block in enumerate(cand.blocks):
        for li, spec in enumerate(block.layers):
            k = max(1, int(min(spec.kernel, max(h, w))))
            name = f"b{bi}_l{li}"
            if spec.type == "conv":
                layers += conv(L.Conv2D, f"{name}_conv", filters=spec.filters, kernel_size=k)
            elif spec.type == "down":
                layers += conv(L.Conv2D, f"{name}_reduce", filters=spec.reduce, kernel_size=1)
                layers += conv(L.Conv2D, f"{name}_conv", filters=spec.filters, kernel_size=k)
            elif spec.type == "dw":
                layers += conv(L.DepthwiseConv2D, f"{name}_dw", kernel_size=k)
                layers += conv(L.Conv2D, f"{name}_pw", filters=spec.filters, kernel_size=1)
            else:
                raise ValueError(f"unknown layer type {spec.type}")
        if block.pool != "none" and h >= 2 and w >= 2:
            P = L.MaxPooling2D if block.pool == "max" else L.AveragePooling2D
            layers.append(P(2, name=f"b{bi}_pool"))
            h, w = h // 2, w // 2
    layers.append(L.Flatten(name="flatten") if cand.head == "flatten" else L.GlobalAveragePooling2D(name="gap"))
    for i, u in enumerate(cand.dense):
        layers.append(L.Dense(u, activation="relu", name=f"d{i}"))
    layers.append(L.Dense(num_classes, name="logits"))
    return keras.Sequential(layers, name="candidate")


def params_count(cand: Candidate, input_shape, num_classes: int) -> int:
    """Rough parameter count (only to reject absurdly large candidates before building)."""
    h, w, c = (int(v) for v in input_shape)
    n = 0
    for block in cand.blocks:
        for spec in block.layers:
            k = min(spec.kernel, max(h, w))
            if spec.type == "conv":
                n += k * k * c * spec.filters
            elif spec.type == "down":
                n += c * spec.reduce + k * k * spec.reduce * spec.filters
            else:
                n += k * k * c + c * spec.filters
            c = spec.filters
        if block.pool != "none" and h >= 2 and w >= 2:
            h, w = h // 2, w // 2
    feat = h * w * c if cand.head == "flatten" else c
    for u in cand.dense:
        n += feat * u
        feat = u
    return n + feat * num_classes




def active_names(params: dict) -> set[str]:
    """The parameters that influence the candidate (the others are ignored by decode)."""
    act = {"n_blocks", "head", "n_dense", "prune", "lr", "batch_size", "augment"}
    for b in range(int(params.get("n_blocks", 1))):
        act |= {f"b{b}_layers", f"b{b}_filters", f"b{b}_kernel", f"b{b}_pool"}
        types = [params.get(f"b{b}_l{i}_type") for i in range(int(params.get(f"b{b}_layers", 1)))]
        act |= {f"b{b}_l{i}_type" for i in range(len(types))}
        if "down" in types:
            act.add(f"b{b}_reduce")
    act |= {f"d{i}_units" for i in range(int(params.get("n_dense", 0)))}
    method = params.get("prune", "none")
    if method == "magnitude":
        act.add("prune_target")
    elif method == "svd":
        act.add("prune_kl")
    elif method == "bc":
        act |= {"prune_kl", "prune_threshold"}
    return act
