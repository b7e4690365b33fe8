"""SRLinear: the split-and-recombine fully connected layer (SRNet, paper Sec. 3, Eq. 5-6)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from poselift.nn._sr_core import Combine, Context, ContextInit, SRBase

__all__ = ["SRLinear"]


class SRLinear(SRBase):
    r"""Split-and-recombine linear layer (paper Eq. 5-6, Fig. 2c).

    Features are laid out *group after group* in disjoint contiguous blocks: the input
    ``(..., sum(in_groups))`` holds ``in_groups[0]`` features of group 0, then
    ``in_groups[1]`` of group 1, and so on. For every group g, with ``x_g`` its own block and
    ``x_rest`` the other groups' features:

    .. code-block:: text

        z_g = U_g x_rest (+ c_g)                         H = context_dim numbers  (Eq. 6)
        y_g = W_g (x_g o z_g) + b_g                      out_groups[g] features   (Eq. 5)

    with the recombination ``o`` chosen by ``combine``:

    - ``"mul"`` (paper default, H = 1): ``x_g * sigmoid(z_g)``. ``U_g`` is weight-normalized
      (``gain * U_g / ||U_g||``) instead of the official BatchNorm over one channel, so
      evaluation-mode outputs equal training-mode outputs (docs/layers.md). For H > 1 the
      h-th gate scales the h-th of H contiguous, near-equal chunks of ``x_g``.
    - ``"add"``: ``x_g + leaky_relu(z_g)``, the h-th number added to the h-th chunk.
    - ``"cat"``: ``[x_g; z_g]`` (linear context; paper Table 3). ``W_g``'s context columns
      are the rows of ``recombine_weight`` belonging to group g.

    ``context_dim=0`` is the group-connected layer (paper "GP", ``M = Zero``).
    ``context="identity"`` (``M = Identity``, requires ``combine="cat"``) lets every group
    see all other features, which makes the layer a dense linear map (the FC end of Eq. 5).

    The output of group g depends on ``x_rest`` only through H numbers: the Jacobian
    ``d y_g / d x_rest`` has rank ``<= H``. All groups' contexts are computed by one matrix
    product; the groups' own maps are G matrix products on views of the input.

    Args:
        in_groups: (G,) input features per group.
        out_groups: (G,) output features per group (see :func:`~poselift.nn.split_width`).
        context_dim: H, numbers of context per group; 0 for no context. Default 1.
        combine: ``"mul"``, ``"cat"`` or ``"add"``. Default ``"mul"``.
        context: ``"learned"`` (``M_g = U_g``, Eq. 6) or ``"identity"`` (``M_g = I``).
        context_init: ``"zero"`` (default): the map that carries the other groups' features
            (the gate's gain for ``"mul"``, ``U_g`` for ``"cat"``/``"add"``, the
            recombination weight of the identity context) starts at zero, as in the official
            code, so the layer starts group-connected and learns its context; ``"random"``:
            a random context map from the start (see ``reset_parameters`` and
            docs/layers.md for the measured difference).
        bias: learn the output biases ``b_g`` (and the context biases ``c_g``).
        device: parameter device.
        dtype: parameter dtype.

    Attributes:
        in_groups, out_groups: the group widths as tuples.
        context_dim, combine, context, context_init: as given.
        num_groups: G. in_features: ``sum(in_groups)``. out_features: ``sum(out_groups)``.
        weights: ``ParameterList`` of G tensors ``(out_groups[g], in_groups[g])``: ``W_g`` on
            the group's own features.
        bias: ``(out_features,)`` or ``None``.
        context_weight: ``(G*H, in_features)``, rows ``g*H:(g+1)*H`` are ``U_g`` with
            group g's own columns held at zero (masked); ``None`` without learned context.
        context_bias: ``(G*H,)`` or ``None``. context_gain: ``(G*H,)`` for ``"mul"``.
        recombine_weight: ``"cat"``: ``(out_features, H)``; identity context:
            ``(out_features, in_features)`` with the diagonal blocks masked; else ``None``.

    Shape:
        - input: ``(..., sum(in_groups))``
        - output: ``(..., sum(out_groups))``

    Raises:
        ValueError: mismatched group counts, non-positive widths, negative ``context_dim``,
            unknown ``combine``/``context``/``context_init``, ``"identity"`` without ``"cat"``,
            or H larger than a group for ``"mul"``/``"add"``; at call time, an input of the
            wrong width.

    Examples:
        Use SRLinear in your own model: gather each group's joints, then stack SR layers.

        >>> import torch
        >>> from torch import nn
        >>> from poselift.nn import GroupGather, SRLinear, split_width
        >>> groups = [(0, 1, 2, 3), (0, 4, 5, 6), (0, 7, 8, 9, 10), (0, 11, 12, 13),
        ...           (0, 14, 15, 16)]                      # h36m-5, pelvis in every group
        >>> gather = GroupGather(groups, features_per_joint=2)
        >>> hidden = split_width(256, [len(g) for g in groups])
        >>> owned = [3 * len(g) for g in [(0, 1, 2, 3), (4, 5, 6), (7, 8, 9, 10),
        ...                               (11, 12, 13), (14, 15, 16)]]
        >>> model = nn.Sequential(
        ...     gather,
        ...     SRLinear(gather.group_sizes, hidden), nn.LeakyReLU(),
        ...     SRLinear(hidden, hidden), nn.LeakyReLU(),
        ...     SRLinear(hidden, owned),
        ... )
        >>> keypoints = torch.randn(8, 17 * 2)             # (B, J*2) normalized 2D
        >>> model(keypoints).shape                         # (B, 17*3), in group order
        torch.Size([8, 51])
        >>> hidden
        (49, 49, 61, 49, 48)
        >>> SRLinear([4, 6], [3, 3], context_dim=0)(torch.randn(5))
        Traceback (most recent call last):
        ...
        ValueError: input: expected shape (..., 10) (sum(in_groups) = 10), got (5,)
    """

    def __init__(
        self,
        in_groups: Sequence[int],
        out_groups: Sequence[int],
        *,
        context_dim: int = 1,
        combine: Combine = "mul",
        context: Context = "learned",
        context_init: ContextInit = "zero",
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            in_groups, out_groups, (), context_dim=context_dim, combine=combine,
            context=context, context_init=context_init, bias=bias, device=device, dtype=dtype,
        )

    def _map(self, x: torch.Tensor, weight: torch.Tensor,
             bias: torch.Tensor | None) -> torch.Tensor:
        return F.linear(x, weight, bias)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Apply the layer: ``(..., sum(in_groups))`` -> ``(..., sum(out_groups))``."""
        if not isinstance(input, torch.Tensor):
            raise TypeError(f"input: expected a torch.Tensor, got {type(input).__name__}")
        if input.dim() < 1 or input.shape[-1] != self.in_features:
            raise ValueError(
                f"input: expected shape (..., {self.in_features}) (sum(in_groups) = "
                f"{self.in_features}), got {tuple(input.shape)}"
            )
        lead = input.shape[:-1]
        rows = input.reshape(-1, self.in_features)
        if self._uses_group_rows(rows):  # training / autograd: the rows' own backward
            return self._rows_map(rows).reshape(*lead, self.out_features)
        return self._forward(rows, self._derived()).reshape(*lead, self.out_features)
