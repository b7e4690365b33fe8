"""Training datasets: single frames and temporal windows of mocap, augmented on the fly.

Both datasets index the frames of a :class:`~poselift.data.mocap.MotionSet` (world poses)
and turn any set of indices into a batch with one vectorized call of an
:class:`~poselift.data.augment.Augmentation` (random camera, flip, bone/global scale, pixel
noise, dropout). Three ways to iterate, all deterministic under ``seed``:

- ``for x, y in ds.batches(1024, epoch=e)``: the fast path (one generator per epoch, seeded
  by ``(seed, epoch)``, draws the permutation and all augmentation);
- ``DataLoader(ds, batch_size=1024, shuffle=True)``: PyTorch calls ``__getitems__`` with a
  whole batch of indices, augmented at once (randomness seeded by ``(seed, epoch, indices)``,
  so it does not depend on the number of workers); the default collate re-stacks the list;
- ``ds[i]`` or ``ds[list_of_indices]``: one sample, or a ready batch tuple.

Call :meth:`set_epoch` between epochs for fresh augmentation with the DataLoader path.

Inputs are normalized screen coordinates ``(..., J, 2)`` (``(..., J, 3)`` with a score
channel: 1 kept, 0 dropped); targets are pelvis-relative camera coordinates in metres.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from poselift.data.augment import Augmentation, AugmentationMix
from poselift.data.layouts import InputLayout, get_input_layout
from poselift.data.mocap import MotionSet
from poselift.models.inputs import InputContract

__all__ = ["FrameDataset", "WindowDataset"]

Sample = tuple[torch.Tensor, torch.Tensor]


def _seed_from(*parts: object) -> int:
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update(p.tobytes() if isinstance(p, np.ndarray) else repr(p).encode())
        h.update(b"|")
    return int.from_bytes(h.digest(), "little") & ((1 << 63) - 1)


class _MocapDataset(Dataset[Sample]):
    """Shared machinery: frame table, window offsets, batched augmentation."""

    def __init__(
        self,
        motion: MotionSet,
        offsets: Sequence[int],
        *,
        augmentation: Augmentation | AugmentationMix | None,
        layout: str | InputLayout,
        with_scores: bool,
        contract: InputContract | None,
        frame_step: int,
        seed: int,
        dtype: torch.dtype,
    ) -> None:
        if not isinstance(motion, MotionSet):
            raise TypeError(f"motion: expected a MotionSet, got {type(motion).__name__}")
        if motion.skeleton != "h36m":
            raise ValueError(f"motion: expected H36M-17 poses, got skeleton {motion.skeleton!r}")
        if len(motion) == 0:
            raise ValueError("motion: the MotionSet has no clips")
        if isinstance(frame_step, bool) or not isinstance(frame_step, int) or frame_step < 1:
            raise ValueError(f"frame_step: expected a positive int, got {frame_step!r}")
        motion = motion.to_y_up()
        self.motion = motion
        self.augmentation = Augmentation() if augmentation is None else augmentation
        if not isinstance(self.augmentation, Augmentation | AugmentationMix):
            raise TypeError(f"augmentation: expected an Augmentation or AugmentationMix, got "
                            f"{type(self.augmentation).__name__}")
        self.contract = contract
        self.layout = get_input_layout(contract.skeleton if contract is not None else layout)
        self.with_scores = contract.has_scores if contract is not None else bool(with_scores)
        self.frame_step = frame_step
        self.seed = int(seed)
        self.epoch = 0
        lengths = np.array([c.num_frames for c in motion.clips])
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self._poses = torch.from_numpy(
            np.concatenate([c.poses for c in motion.clips]).astype(np.float32)).to(dtype)
        # sample table: global frame index of each sample + its clip's first/last frame
        frames = [np.arange(0, n, frame_step) for n in lengths]
        clip_of = np.concatenate([np.full(len(f), i) for i, f in enumerate(frames)])
        self._sample_clip = torch.from_numpy(clip_of)
        self._sample_frame = torch.from_numpy(np.concatenate(frames))
        self._first = torch.from_numpy(starts)
        self._last = torch.from_numpy(starts + lengths - 1)
        self._offsets = torch.as_tensor(list(offsets), dtype=torch.int64)

    # --- sizes and metadata ----------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._sample_frame.numel())

    @property
    def image_size(self) -> tuple[int, int]:
        """Camera image size ``(width, height)`` of the augmentation's rig."""
        return self.augmentation.image_size

    def sample_info(self, index: int) -> tuple[str, int]:
        """``(clip name, frame)`` of sample ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        return (self.motion.clips[int(self._sample_clip[index])].name,
                int(self._sample_frame[index]))

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation stream of ``__getitem__``/``__getitems__`` (per epoch)."""
        self.epoch = int(epoch)

    # --- batch construction ----------------------------------------------------------------
    def _frames(self, index: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` global frame indices of the windows of samples ``index`` (edge-padded)."""
        clip = self._sample_clip[index]
        base = self._first[clip] + self._sample_frame[index]
        g = base[:, None] + self._offsets[None, :]
        return torch.minimum(torch.maximum(g, self._first[clip][:, None]),
                             self._last[clip][:, None])

    def make_batch(self, index: torch.Tensor | Sequence[int],
                   generator: torch.Generator | None = None) -> Sample:
        """Augmented ``(inputs, targets)`` for sample indices ``index (B,)``.

        Args:
            index: sample indices.
            generator: torch random generator for the augmentation.

        Returns:
            The batch, shapes as documented by the dataset class.
        """
        idx = torch.as_tensor(index, dtype=torch.int64).reshape(-1)
        n = len(self)
        if idx.numel() and (int(idx.min()) < -n or int(idx.max()) >= n):
            raise IndexError(f"sample index out of range for {n} samples")
        idx = idx % n
        world = self._poses[self._frames(idx)]  # (B, T, 17, 3)
        x, y = self.augmentation(world, generator=generator, layout=self.layout,
                                 with_scores=self.with_scores, contract=self.contract)
        return self._shape(x, y)

    def _shape(self, x: torch.Tensor, y: torch.Tensor) -> Sample:
        raise NotImplementedError

    def _generator(self, index: torch.Tensor) -> torch.Generator:
        seed = _seed_from(self.seed, self.epoch, index.numpy().astype(np.int64))
        return torch.Generator().manual_seed(seed)

    def __getitem__(self, index: int | Sequence[int] | torch.Tensor) -> Sample:
        """One sample (int index) or a whole batch (list or 1-D tensor of indices)."""
        if isinstance(index, int | np.integer) or (
            isinstance(index, torch.Tensor) and index.ndim == 0
        ):
            idx = torch.tensor([int(index)])
            x, y = self.make_batch(idx, self._generator(idx))
            return x[0], y[0]
        idx = torch.as_tensor(index, dtype=torch.int64).reshape(-1)
        return self.make_batch(idx, self._generator(idx))

    def __getitems__(self, indices: Sequence[int]) -> list[Sample]:
        """A batch for ``DataLoader``: built at once, returned as a list of samples."""
        idx = torch.as_tensor(list(indices), dtype=torch.int64)
        x, y = self.make_batch(idx, self._generator(idx))
        return list(zip(x.unbind(0), y.unbind(0), strict=True))

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        epoch: int | None = None,
    ) -> Iterator[Sample]:
        """Iterate over one epoch in batches (the fast path).

        Args:
            batch_size: samples per batch.
            shuffle: random order (seeded by ``(seed, epoch)``).
            drop_last: drop the last incomplete batch.
            epoch: epoch number for the random stream (default: :attr:`epoch`).

        Yields:
            ``(inputs, targets)`` batches.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
        ep = self.epoch if epoch is None else int(epoch)
        g = torch.Generator().manual_seed(_seed_from(self.seed, ep, "batches"))
        n = len(self)
        order = torch.randperm(n, generator=g) if shuffle else torch.arange(n)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            yield self.make_batch(order[start : start + batch_size], g)


class FrameDataset(_MocapDataset):
    """Single-frame samples: one (2D input, 3D target) pair per mocap frame.

    Args:
        motion: world poses (any up axis; converted to +Y up).
        augmentation: the augmentation (default ``Augmentation()``: random rig, flip, bone
            and global scale); use ``Augmentation.none()`` for plain rig cameras.
        layout: input layout (default ``"h36m"``).
        with_scores: add a score channel to the inputs.
        contract: the model's input contract
            (:meth:`~poselift.models.inputs.InputContract.of`); when given it decides the
            layout, the score channel and the normalization (``layout`` and
            ``with_scores`` are then ignored).
        frame_step: use every ``frame_step``-th frame of each clip (frames 0, s, 2s, ...).
        seed: seed of every random stream.
        dtype: floating dtype of the batches.

    Items: ``inputs (J_in, 2)`` (or ``(J_in, 3)``) normalized screen coordinates and
    ``targets (17, 3)`` pelvis-relative camera metres; batches add a leading ``B``.

    Examples:
        >>> import numpy as np
        >>> from poselift.data.mocap import Clip, MotionSet
        >>> pose = np.zeros((10, 17, 3), np.float32); pose[..., 1] = 1.0
        >>> pose[:, 10, 1] = 1.7                                          # head top
        >>> ds = FrameDataset(MotionSet((Clip("a", pose, 30.0),)), seed=0)
        >>> len(ds), ds[3][0].shape, ds[[0, 1, 2]][1].shape
        (10, torch.Size([17, 2]), torch.Size([3, 17, 3]))
        >>> x, y = next(ds.batches(4))
        >>> x.shape
        torch.Size([4, 17, 2])
    """

    def __init__(
        self,
        motion: MotionSet,
        *,
        augmentation: Augmentation | AugmentationMix | None = None,
        layout: str | InputLayout = "h36m",
        with_scores: bool = False,
        contract: InputContract | None = None,
        frame_step: int = 1,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(motion, (0,), augmentation=augmentation, layout=layout,
                         with_scores=with_scores, contract=contract, frame_step=frame_step,
                         seed=seed, dtype=dtype)

    def _shape(self, x: torch.Tensor, y: torch.Tensor) -> Sample:
        return x[:, 0], y[:, 0]


class WindowDataset(_MocapDataset):
    """Temporal windows: ``receptive_field`` frames of 2D input for one target frame.

    The window around target frame ``t`` covers ``t - (R - 1) // 2 ... t + (R - 1) // 2``
    (``R`` odd), or ``t - R + 1 ... t`` with ``causal=True`` (any ``R >= 1``); frames beyond
    the clip's ends repeat the first/last frame (VideoPose3D's edge padding). One camera
    and one augmentation draw per window; the camera follows the pelvis frame by frame.

    Args:
        motion: world poses.
        receptive_field: window length ``R`` (e.g. 27, 81, 243).
        causal: the window ends at the target frame.
        augmentation: as in :class:`FrameDataset`.
        layout: input layout.
        with_scores: add a score channel.
        contract: the model's input contract (see :class:`FrameDataset`).
        frame_step: target frames 0, s, 2s, ... of each clip.
        seed: seed of every random stream.
        dtype: floating dtype.

    Items: ``inputs (R, J_in, 2)`` and ``targets (1, 17, 3)`` (the target frame, shaped like
    a temporal model's output); batches add a leading ``B``.

    Examples:
        >>> import numpy as np
        >>> from poselift.data.mocap import Clip, MotionSet
        >>> pose = np.zeros((10, 17, 3), np.float32); pose[..., 1] = 1.0
        >>> ds = WindowDataset(MotionSet((Clip("a", pose, 30.0),)), 27)
        >>> x, y = ds[[0, 9]]
        >>> x.shape, y.shape
        (torch.Size([2, 27, 17, 2]), torch.Size([2, 1, 17, 3]))
    """

    def __init__(
        self,
        motion: MotionSet,
        receptive_field: int,
        *,
        causal: bool = False,
        augmentation: Augmentation | AugmentationMix | None = None,
        layout: str | InputLayout = "h36m",
        with_scores: bool = False,
        contract: InputContract | None = None,
        frame_step: int = 1,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        r = receptive_field
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise ValueError(f"receptive_field: expected a positive int, got {r!r}")
        if not causal and r % 2 == 0:
            raise ValueError(f"receptive_field: a centred window needs an odd length, got {r} "
                             "(or pass causal=True)")
        offsets = range(-(r - 1), 1) if causal else range(-(r // 2), r // 2 + 1)
        self.receptive_field = r
        self.causal = bool(causal)
        super().__init__(motion, offsets, augmentation=augmentation, layout=layout,
                         with_scores=with_scores, contract=contract, frame_step=frame_step,
                         seed=seed, dtype=dtype)

    def window_frames(self, index: int) -> list[int]:
        """Frame numbers (within the clip, after edge padding) of sample ``index``'s window.

        Examples:
            >>> import numpy as np
            >>> from poselift.data.mocap import Clip, MotionSet
            >>> ms = MotionSet((Clip("a", np.zeros((5, 17, 3), np.float32), 30.0),))
            >>> WindowDataset(ms, 3, causal=True).window_frames(0)
            [0, 0, 0]
            >>> WindowDataset(ms, 5).window_frames(4)
            [2, 3, 4, 4, 4]
        """
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        g = self._frames(torch.tensor([index]))[0]
        clip = int(self._sample_clip[index])
        return (g - self._first[clip]).tolist()

    def _shape(self, x: torch.Tensor, y: torch.Tensor) -> Sample:
        centre = self.receptive_field - 1 if self.causal else self.receptive_field // 2
        return x, y[:, centre : centre + 1]
