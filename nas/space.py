"""SpArSe search space, its Optuna encoding, and the Keras model builder.

A candidate is a stack of up to MAX_BLOCKS conv blocks; each block has 1-3 layers, each
layer a regular Conv2D, a downsampled Conv2D (1x1 reduction, then k x k) or a
depthwise-separable conv (depthwise k x k, then 1x1); the block sets the number of filters,
the kernel size, the stride of its first layer's k x k convolution (2 halves the feature map
before it is stored: under a few KB of RAM a 28x28 map of more than a few channels does not fit)
and an optional 2x2 pooling. Then a Flatten or global average pooling
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

# Changes whenever the space's parameters do (version 2: strided blocks); part of a study's identity,
# so a study is never resumed with another space.
SPACE_VERSION = 2
MAX_BLOCKS = 3
MAX_LAYERS = 3
MAX_DENSE = 2
LAYER_TYPES = ("conv", "down", "dw")
POOLS = ("none", "max", "avg")
STRIDES = (1, 2)  # of a block's first k x k convolution
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
            d[f"b{b}_stride"] = CategoricalDistribution(STRIDES)
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
    stride: int = 1  # of the k x k convolution (conv, the k x k of "down", the depthwise of "dw")


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
            ls = "+".join(f"{l.type}{l.filters}k{l.kernel}" + (f"s{l.stride}" if l.stride != 1 else "")
                          for l in b.layers)
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
        stride = int(params.get(f"b{b}_stride", 1))
        layers = [LayerSpec(params[f"b{b}_l{i}_type"], f, k, red, stride if i == 0 else 1)
                  for i in range(int(params[f"b{b}_layers"]))]
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
            s = _stride(spec, h, w)
            name = f"b{bi}_l{li}"
            if spec.type == "conv":
                layers += conv(L.Conv2D, f"{name}_conv", filters=spec.filters, kernel_size=k, strides=s)
            elif spec.type == "down":
                layers += conv(L.Conv2D, f"{name}_reduce", filters=spec.reduce, kernel_size=1)
                layers += conv(L.Conv2D, f"{name}_conv", filters=spec.filters, kernel_size=k, strides=s)
            elif spec.type == "dw":
                layers += conv(L.DepthwiseConv2D, f"{name}_dw", kernel_size=k, strides=s)
                layers += conv(L.Conv2D, f"{name}_pw", filters=spec.filters, kernel_size=1)
            else:
                raise ValueError(f"unknown layer type {spec.type}")
            h, w = -(-h // s), -(-w // s)  # 'same' padding
        if block.pool != "none" and h >= 2 and w >= 2:
            P = L.MaxPooling2D if block.pool == "max" else L.AveragePooling2D
            layers.append(P(2, name=f"b{bi}_pool"))
            h, w = h // 2, w // 2
    layers.append(L.Flatten(name="flatten") if cand.head == "flatten" else L.GlobalAveragePooling2D(name="gap"))
    for i, u in enumerate(cand.dense):
        layers.append(L.Dense(u, activation="relu", name=f"d{i}"))
    layers.append(L.Dense(num_classes, name="logits"))
    return keras.Sequential(layers, name="candidate")


def _stride(spec: LayerSpec, h: int, w: int) -> int:
    """A layer's stride: 1 once the map is a single pixel (nothing left to halve)."""
    return int(spec.stride) if h >= 2 or w >= 2 else 1


def _ops(cand: Candidate, input_shape, num_classes: int):
    """The int8 model's operators, roughly as the exporter sees them: (weights, biases, input elements,
    output elements) of each. A convolution that ends a pooled block is fused with its pooling
    (`export/fuse.py`): its output is the pooled map."""
    h, w, c = (int(v) for v in input_shape)
    for block in cand.blocks:
        pooled = block.pool != "none"
        for li, spec in enumerate(block.layers):
            k = min(spec.kernel, max(h, w))
            s = _stride(spec, h, w)
            ho, wo = -(-h // s), -(-w // s)
            last = li == len(block.layers) - 1
            hp, wp = (ho // 2, wo // 2) if last and pooled and ho >= 2 and wo >= 2 else (ho, wo)
            if spec.type == "conv":
                yield k * k * c * spec.filters, spec.filters, h * w * c, hp * wp * spec.filters
            elif spec.type == "down":
                yield c * spec.reduce, spec.reduce, h * w * c, h * w * spec.reduce
                yield k * k * spec.reduce * spec.filters, spec.filters, h * w * spec.reduce, hp * wp * spec.filters
            else:
                yield k * k * c, c, h * w * c, ho * wo * c
                yield c * spec.filters, spec.filters, ho * wo * c, hp * wp * spec.filters
            c, h, w = spec.filters, hp, wp
    feat = h * w * c
    if cand.head != "flatten":
        yield 0, 0, feat, c
        feat = c
    for u in cand.dense:
        yield feat * u, u, feat, u
        feat = u
    yield feat * num_classes, num_classes, feat, num_classes


def params_count(cand: Candidate, input_shape, num_classes: int) -> int:
    """Rough weight count (only to reject absurdly large candidates before building)."""
    return sum(op[0] for op in _ops(cand, input_shape, num_classes))


ARENA_OVERLAP_DIVISOR = 4  # size_estimate: an operator's smaller tensor counts this fraction (1 / 4)


def size_estimate(cand: Candidate, input_shape, num_classes: int) -> tuple[int, int]:
    """Rough int8 (weight bytes, arena bytes) before pruning: a byte per weight and four per bias; for
    the arena, the largest of an operator's input and output plus a quarter of the other (the memory
    planner lets an output overwrite the input rows already read, `export/overlap.py`). On random
    28x28 candidates: weights within 1.0-1.2x of the exporter's, arena 0.7-1.9x (median 1.06). Only
    a prior for proposing candidates (`nas/objectives.plausible`); the search's objectives are the
    exporter's measured footprint."""
    ops = list(_ops(cand, input_shape, num_classes))
    return (sum(wt + 4 * b for wt, b, _, _ in ops),
            max(max(i, o) + min(i, o) // ARENA_OVERLAP_DIVISOR for _, _, i, o in ops))


def active_names(params: dict) -> set[str]:
    """The parameters that influence the candidate (the others are ignored by decode)."""
    act = {"n_blocks", "head", "n_dense", "prune", "lr", "batch_size", "augment"}
    for b in range(int(params.get("n_blocks", 1))):
        act |= {f"b{b}_layers", f"b{b}_filters", f"b{b}_kernel", f"b{b}_pool", f"b{b}_stride"}
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
