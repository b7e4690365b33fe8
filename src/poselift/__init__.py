"""poselift: lift 2D human keypoints to metric 3D poses with split-and-recombine networks.

Examples:
    >>> import poselift
    >>> poselift.get_skeleton("h36m").num_joints
    17
    >>> poselift.get_partition("h36m-5").group_names
    ('right_leg', 'left_leg', 'torso_head', 'left_arm', 'right_arm')
"""

from poselift import camera as camera
from poselift import data as data
from poselift import detections as detections
from poselift import evaluation as evaluation
from poselift import metrics as metrics
from poselift import nn as nn
from poselift import prediction as prediction
from poselift import rarity as rarity
from poselift._version import __version__ as __version__
from poselift.inference import Lifter as Lifter
from poselift.inference import lift as lift
from poselift.inference import lift_full as lift_full
from poselift.keypoint_checks import KeypointWarning as KeypointWarning
from poselift.lift_result import to_absolute as to_absolute
from poselift.models import create_model as create_model
from poselift.models import list_models as list_models
from poselift.models import list_weights as list_weights
from poselift.models import load_model as load_model
from poselift.models import save_model as save_model
from poselift.nn import SRConv1d as SRConv1d
from poselift.nn import SRLinear as SRLinear
from poselift.partitions import Partition as Partition
from poselift.partitions import get_partition as get_partition
from poselift.partitions import list_partitions as list_partitions
from poselift.partitions import register_partition as register_partition
from poselift.partitions import shuffled_partition as shuffled_partition
from poselift.skeletons import Skeleton as Skeleton
from poselift.skeletons import convert_keypoints as convert_keypoints
from poselift.skeletons import get_skeleton as get_skeleton
from poselift.skeletons import list_skeletons as list_skeletons
from poselift.skeletons import register_skeleton as register_skeleton
from poselift.streaming import StreamingLifter as StreamingLifter

__all__ = [
    "KeypointWarning",
    "Lifter",
    "Partition",
    "SRConv1d",
    "SRLinear",
    "Skeleton",
    "StreamingLifter",
    "__version__",
    "camera",
    "convert_keypoints",
    "create_model",
    "data",
    "detections",
    "evaluation",
    "get_partition",
    "get_skeleton",
    "lift",
    "lift_full",
    "list_models",
    "list_partitions",
    "list_skeletons",
    "list_weights",
    "load_model",
    "metrics",
    "nn",
    "prediction",
    "rarity",
    "register_partition",
    "register_skeleton",
    "save_model",
    "shuffled_partition",
    "to_absolute",
]
