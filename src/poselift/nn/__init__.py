"""Split-and-recombine layers (SRNet) and the feature layouts they use.

- :class:`SRLinear`: the split-and-recombine fully connected layer (paper Eq. 5-6).
- :class:`SRConv1d`: the same over channels with a temporal convolution ("SR convolution").
- :class:`GroupGather` / :class:`GroupScatter`: joint-major <-> group-after-group layouts.
- :func:`split_width`: split a total width across groups in proportion to their sizes.
- :class:`Dropout`: ``nn.Dropout`` with a cheaper random mask on the CPU.
- :func:`norm_act_dropout`: BatchNorm, LeakyReLU and dropout as one training-mode operation.
- :class:`RowForm`: a layer as one map of rows with a BatchNorm folded in, for inference
  copies (:func:`poselift.models.fuse_for_inference`).

See docs/layers.md.

Examples:
    >>> import torch
    >>> from poselift.nn import SRLinear
    >>> SRLinear([4, 6], [8, 8])(torch.randn(3, 10)).shape
    torch.Size([3, 16])
"""

from poselift.nn._sr_core import RowForm as RowForm
from poselift.nn.dropout import Dropout as Dropout
from poselift.nn.grouping import GroupGather as GroupGather
from poselift.nn.grouping import GroupScatter as GroupScatter
from poselift.nn.grouping import split_width as split_width
from poselift.nn.norm_act import norm_act_dropout as norm_act_dropout
from poselift.nn.sr_conv import SRConv1d as SRConv1d
from poselift.nn.sr_linear import SRLinear as SRLinear

__all__ = ["Dropout", "GroupGather", "GroupScatter", "RowForm", "SRConv1d", "SRLinear",
           "norm_act_dropout", "split_width"]
