"""poselift: lift 2D human keypoints to metric 3D poses with split-and-recombine networks.

Examples:
    >>> import poselift
    >>> poselift.get_skeleton("h36m").num_joints
    17
    >>> poselift.get_partition("h36m-5").group_names
    ('right_leg', 'left_leg', 'torso_head', 'left_arm', 'right_arm')
"""

from poselift._version import __version__ as __version__
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

__all__ = [
    "Partition",
    "Skeleton",
    "__version__",
    "convert_keypoints",
    "get_partition",
    "get_skeleton",
    "list_partitions",
    "list_skeletons",
    "register_partition",
    "register_skeleton",
    "shuffled_partition",
]
