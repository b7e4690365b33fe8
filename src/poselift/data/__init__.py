"""Mocap data: readers, the common container, training datasets and evaluation protocols.

- :mod:`poselift.data.mocap`: :class:`MotionSet` / :class:`Clip` (world poses + metadata),
  :func:`load_bandai`, :class:`DataError`.
- :mod:`poselift.data.bvh`: :func:`read_bvh`, :class:`BVH` (forward kinematics),
  :func:`bvh_to_h36m`, :func:`load_bvh`.
- :mod:`poselift.data.bvh_export`: :func:`poses_to_bvh` (H36M-17 sequences as BVH
  animations), :func:`write_bvh`.
- :mod:`poselift.data.h36m`: Human3.6M npz readers and the calibrated cameras.
- :mod:`poselift.data.augment`: flips, bone-length scaling, :class:`Augmentation`.
- :mod:`poselift.data.bodies`: :class:`BodyVariation` (other bodies and joint definitions),
  :class:`PartRecombination` (limbs of other samples, swung limbs).
- :mod:`poselift.data.detector`: :class:`DetectorModel`, a simulated 2D detector.
- :mod:`poselift.data.synthetic`: synthetic motion in the Bandai layout (no real data needed).
- :mod:`poselift.data.layouts`: input layouts (which 3D points become the 2D input).
- :mod:`poselift.data.datasets`: :class:`FrameDataset`, :class:`WindowDataset`.
- :mod:`poselift.data.protocols`: :func:`load_protocol`, :func:`load_h36m_protocol`.

Examples:
    >>> import poselift.data as pd
    >>> pd.PROTOCOLS
    ('p1-style', 'p2-cross-set', 'p3-rare10', 'p3-rare20', 'val-style', 'val-rare10', 'val-rare20')
"""

from poselift.data.augment import Augmentation as Augmentation
from poselift.data.augment import AugmentationMix as AugmentationMix
from poselift.data.augment import Rendered as Rendered
from poselift.data.augment import flip_keypoints as flip_keypoints
from poselift.data.augment import flip_poses as flip_poses
from poselift.data.augment import random_bone_factors as random_bone_factors
from poselift.data.augment import scale_bones as scale_bones
from poselift.data.bodies import BodyVariation as BodyVariation
from poselift.data.bodies import PartRecombination as PartRecombination
from poselift.data.bvh import BVH as BVH
from poselift.data.bvh import bvh_to_h36m as bvh_to_h36m
from poselift.data.bvh import get_bvh_mapping as get_bvh_mapping
from poselift.data.bvh import list_bvh_mappings as list_bvh_mappings
from poselift.data.bvh import load_bvh as load_bvh
from poselift.data.bvh import read_bvh as read_bvh
from poselift.data.bvh import register_bvh_mapping as register_bvh_mapping
from poselift.data.bvh_export import poses_to_bvh as poses_to_bvh
from poselift.data.bvh_export import write_bvh as write_bvh
from poselift.data.coco_layout import COCO_LAYOUT as COCO_LAYOUT
from poselift.data.datasets import FrameDataset as FrameDataset
from poselift.data.datasets import WindowDataset as WindowDataset
from poselift.data.detector import DetectorModel as DetectorModel
from poselift.data.h36m import H36M2D as H36M2D
from poselift.data.h36m import H36M_32_TO_17 as H36M_32_TO_17
from poselift.data.h36m import h36m_cameras as h36m_cameras
from poselift.data.h36m import load_h36m as load_h36m
from poselift.data.h36m import load_h36m_2d as load_h36m_2d
from poselift.data.layouts import InputLayout as InputLayout
from poselift.data.layouts import get_input_layout as get_input_layout
from poselift.data.layouts import list_input_layouts as list_input_layouts
from poselift.data.layouts import register_input_layout as register_input_layout
from poselift.data.mocap import Clip as Clip
from poselift.data.mocap import DataError as DataError
from poselift.data.mocap import MotionSet as MotionSet
from poselift.data.mocap import load_bandai as load_bandai
from poselift.data.protocols import H36M_PROTOCOLS as H36M_PROTOCOLS
from poselift.data.protocols import PROTOCOLS as PROTOCOLS
from poselift.data.protocols import ProtocolData as ProtocolData
from poselift.data.protocols import base_protocol as base_protocol
from poselift.data.protocols import load_h36m_protocol as load_h36m_protocol
from poselift.data.protocols import load_protocol as load_protocol
from poselift.data.protocols import p1_test_occurrence as p1_test_occurrence
from poselift.data.protocols import protocol_motion as protocol_motion
from poselift.data.protocols import protocol_occurrence as protocol_occurrence
from poselift.data.protocols import rare_percent as rare_percent

__all__ = [
    "BVH",
    "H36M2D",
    "H36M_32_TO_17",
    "H36M_PROTOCOLS",
    "PROTOCOLS",
    "Augmentation",
    "AugmentationMix",
    "BodyVariation",
    "Clip",
    "DataError",
    "DetectorModel",
    "FrameDataset",
    "InputLayout",
    "MotionSet",
    "PartRecombination",
    "ProtocolData",
    "Rendered",
    "WindowDataset",
    "base_protocol",
    "bvh_to_h36m",
    "flip_keypoints",
    "flip_poses",
    "get_bvh_mapping",
    "get_input_layout",
    "h36m_cameras",
    "list_bvh_mappings",
    "list_input_layouts",
    "load_bandai",
    "load_bvh",
    "load_h36m",
    "load_h36m_2d",
    "load_protocol",
    "p1_test_occurrence",
    "poses_to_bvh",
    "protocol_motion",
    "protocol_occurrence",
    "random_bone_factors",
    "rare_percent",
    "read_bvh",
    "register_bvh_mapping",
    "register_input_layout",
    "scale_bones",
    "write_bvh",
]
