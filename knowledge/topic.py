"""Is a question about PyTorch at all? Spot questions about other frameworks and technologies by name.

Similarity alone cannot tell "CUDA out of memory in TensorFlow" from "CUDA out of memory" in PyTorch: the two
share every word that matters except one. So a question that names another framework or technology, and does not
name PyTorch, is declined whatever its score. Naming PyTorch as well ("the PyTorch version of tf.function")
makes it a PyTorch question again.
"""

from __future__ import annotations

import re

# Other tensor, deep-learning and machine-learning libraries, by the names people type (incl. import aliases).
_FRAMEWORKS: dict[str, str] = {
    r"tensor\s?flow|tf\.\w+|tf2|tflite|tfjs": "TensorFlow",
    r"keras": "Keras",
    r"jax|jnp\.\w+|flax|optax|haiku": "JAX",
    r"cupy": "CuPy",
    r"mxnet|gluon": "MXNet",
    r"theano": "Theano",
    r"caffe": "Caffe",
    r"paddle\s?paddle|paddle": "PaddlePaddle",
    r"chainer": "Chainer",
    r"cntk": "CNTK",
    r"mindspore": "MindSpore",
    r"scikit[\s-]?learn|sklearn": "scikit-learn",
    r"xgboost|lightgbm|catboost": "gradient-boosting libraries",
    r"matlab": "MATLAB",
    r"mlx": "MLX",
    r"tinygrad": "tinygrad",
}
# Other technologies whose questions share words with PyTorch entries ("device", "transform", "grid", "layer").
_TECHNOLOGIES: dict[str, str] = {
    r"css|scss|flexbox|tailwind": "CSS",
    r"html": "HTML",
    r"javascript|typescript|node\.?js|npm|jquery": "JavaScript",
    r"react|angular|vue(?:\.js)?|svelte": "front-end frameworks",
    r"java|kotlin|spring\s?boot": "Java",
    r"c#|\.net|dotnet": "C#",
    r"php|laravel|wordpress": "PHP",
    r"ruby|rails": "Ruby",
    r"swiftui|xcode": "Swift",
    r"golang": "Go",
}
_PYTORCH = re.compile(
    r"(?<![a-z0-9_])(?:py\s?torch|torch(?:vision|audio|text|data|serve|script)?|libtorch|lightning|"
    r"nn\.\w+|f\.\w+\()",
    re.IGNORECASE,
)


def _compile(names: dict[str, str]) -> list[tuple[re.Pattern[str], str]]:
    # Whole words only: "reactive" is not React, "javadoc" is not Java, "sjax" is not JAX.
    return [(re.compile(rf"(?<![a-z0-9_])(?:{pattern})(?![a-z0-9_])", re.IGNORECASE), name)
            for pattern, name in names.items()]


_FRAMEWORK_NAMES = _compile(_FRAMEWORKS)
_FOREIGN = _FRAMEWORK_NAMES + _compile(_TECHNOLOGIES)
# A framework whose comparisons with PyTorch are answered together with another's (Keras is TensorFlow's API).
_FAMILY = {"Keras": "TensorFlow"}


def mentions_pytorch(text: str) -> bool:
    """Whether the text names PyTorch, a torch package or a torch identifier."""
    return _PYTORCH.search(text) is not None


def foreign_topic(text: str) -> str | None:
    """The other framework or technology a question is about, or None when it may be about PyTorch."""
    if mentions_pytorch(text):
        return None
    for pattern, name in _FOREIGN:
        if pattern.search(text):
            return name
    return None


def compared_framework(text: str) -> str | None:
    """The other framework a question weighs PyTorch against (it names both), or None."""
    if not mentions_pytorch(text):
        return None
    return next((name for pattern, name in _FRAMEWORK_NAMES if pattern.search(text)), None)


def names_framework(text: str, framework: str) -> bool:
    """Whether the text names the framework (or the one it belongs to: Keras counts for TensorFlow)."""
    wanted = {framework, _FAMILY.get(framework, framework)}
    return any(name in wanted and pattern.search(text) for pattern, name in _FRAMEWORK_NAMES)
