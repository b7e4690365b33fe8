"""Model zoo: registered builders for every network of the paper, and checkpoint I/O.

- :mod:`~poselift.models.registry`: the tables (model builders, shipped weights);
- :mod:`~poselift.models.checkpoint`: checkpoint files (safe load, atomic save);
- :mod:`~poselift.models.factory`: :func:`create_model`, :func:`load_model` (a file or a
  weights name: ``load_model("sr.coco")``);
- :mod:`~poselift.models.resolve`: :func:`resolve_model` (a name, a path or a module -> a
  ready eval model, cached per file version and device) and :func:`clear_model_cache`;
- :mod:`~poselift.models.inputs`: a model's input contract (normalization, score channel,
  flip, window padding);
- :mod:`~poselift.models.fuse`: :func:`fuse_for_inference`, a network's inference copy
  (BatchNorm folded in, dropout removed), as the lifting core runs it;
- :mod:`~poselift.models.single_frame`, :mod:`~poselift.models.temporal`: the networks;
  :mod:`~poselift.models.blend`: a temporal and a single-frame model averaged (``lift``'s
  default for sequences, ``"sr_tcn.coco+sr.coco"``);
  :mod:`~poselift.models.zoo`: the shipped weights and their cards.

Examples:
    >>> import torch, poselift
    >>> model = poselift.create_model("sr", hidden=64).eval()
    >>> model(torch.zeros(2, 17, 2)).shape
    torch.Size([2, 17, 3])
"""

from poselift.models import blend as blend
from poselift.models import single_frame as single_frame
from poselift.models import temporal as temporal
from poselift.models import zoo as zoo
from poselift.models.checkpoint import load_checkpoint as load_checkpoint
from poselift.models.checkpoint import save_model as save_model
from poselift.models.factory import create_model as create_model
from poselift.models.factory import load_model as load_model
from poselift.models.fuse import fuse_for_inference as fuse_for_inference
from poselift.models.registry import ModelEntry as ModelEntry
from poselift.models.registry import WeightsEntry as WeightsEntry
from poselift.models.registry import get_model_entry as get_model_entry
from poselift.models.registry import get_weights as get_weights
from poselift.models.registry import list_models as list_models
from poselift.models.registry import list_weights as list_weights
from poselift.models.registry import register_model as register_model
from poselift.models.registry import register_weights as register_weights
from poselift.models.registry import unregister_model as unregister_model
from poselift.models.registry import unregister_weights as unregister_weights
from poselift.models.resolve import clear_model_cache as clear_model_cache
from poselift.models.resolve import resolve_model as resolve_model
from poselift.models.zoo import weights_card as weights_card

__all__ = [
    "ModelEntry",
    "WeightsEntry",
    "clear_model_cache",
    "create_model",
    "fuse_for_inference",
    "get_model_entry",
    "get_weights",
    "list_models",
    "list_weights",
    "load_checkpoint",
    "load_model",
    "register_model",
    "register_weights",
    "resolve_model",
    "save_model",
    "unregister_model",
    "unregister_weights",
    "weights_card",
]
