"""ganforge: a workbench for generative adversarial networks.

    import ganforge
    run = ganforge.train("mnist-dcgan", max_minutes=2)   # a Run; in Jupyter it shows its grid
    run.sample(64, seed=0)                               # uint8 images (N, C, H, W)
    run.evaluate(n=10_000)["fid"]
    g = ganforge.load_generator(run.export("onnx"))      # g(z), g.sample(n, seed=0)

Everything here is documented in docs/python.md; `ganforge.api` holds the functions
every `ganforge` command calls.
"""

import logging

from ganforge.api import (
    Generator,
    Run,
    evaluate,
    load,
    load_generator,
    make_config,
    metric_info,
    presets,
    register_loss,
    register_metric,
    register_model,
    resume,
    train,
    train_together,
)
from ganforge.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    GanforgeError,
    TrainingDiverged,
)
from ganforge.version import __version__

# A library leaves logging's configuration to its user; the epoch lines also go to the console.
logging.getLogger("ganforge").addHandler(logging.NullHandler())

# (export and report are Run methods and ganforge.api functions: ganforge.export and
# ganforge.report name modules.)
__all__ = [
    "CheckpointError", "ConfigError", "DataError", "GanforgeError", "Generator", "Run", "__version__",
    "TrainingDiverged", "evaluate", "load", "load_generator", "make_config", "metric_info", "presets",
    "register_loss", "register_metric", "register_model", "resume", "train", "train_together",
]
