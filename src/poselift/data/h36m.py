"""Human3.6M in its common preprocessed form (VideoPose3D's npz files) and its cameras.

Files (not distributed with poselift; users who have Human3.6M have them):

- ``data_3d_h36m.npz``: key ``positions_3d``, a pickled dict
  ``subject -> action -> (T, 32, 3)`` world coordinates in metres (+Z up).
- ``data_2d_h36m_<source>.npz``: key ``positions_2d``, ``subject -> action -> [4 x (T, 17, 2)]``
  pixels (one array per camera), plus ``metadata`` (``layout_name``, ``num_joints``,
  ``keypoints_symmetry``).

The 32 Human3.6M joints are reduced to H36M-17 by keeping :data:`H36M_32_TO_17`.
:func:`h36m_cameras` returns the standard calibrated cameras (the values VideoPose3D ships
as ``h36m_cameras_intrinsic_params`` / ``h36m_cameras_extrinsic_params``), with the
Human3.6M distortion model of :func:`poselift.camera.project`.

The npz files hold pickled Python dicts, so reading them needs ``allow_pickle=True``:
only read files you trust.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from poselift.camera import Camera
from poselift.data.mocap import BadDataCollector, Clip, DataError, MotionSet, OnBad, check_poses

__all__ = [
    "H36M2D",
    "H36M_32_TO_17",
    "H36M_SUBJECTS",
    "h36m_action_name",
    "h36m_cameras",
    "load_h36m",
    "load_h36m_2d",
]

H36M_32_TO_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
"""Indices of the 17 kept joints among Human3.6M's 32 (docs/protocols.md)."""

H36M_SUBJECTS = ("S1", "S5", "S6", "S7", "S8", "S9", "S11")
"""Subjects with calibrated cameras (and mocap) in the public release."""

H36M_FPS = 50.0

# (id, center px, focal px, radial k1..k3, tangential p1 p2, width, height)
_INTRINSICS: tuple[tuple[str, tuple[float, float], tuple[float, float],
                         tuple[float, float, float], tuple[float, float], int, int], ...] = (
    ("54138969", (512.54150390625, 515.4514770507812), (1145.0494384765625, 1143.7811279296875),
     (-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043),
     (-0.0009756988729350269, -0.00142447161488235), 1000, 1002),
    ("55011271", (508.8486328125, 508.0649108886719), (1149.6756591796875, 1147.5916748046875),
     (-0.1942136287689209, 0.2404085397720337, 0.006819975562393665),
     (-0.0016190266469493508, -0.0027408944442868233), 1000, 1000),
    ("58860488", (519.8158569335938, 501.40264892578125), (1149.1407470703125, 1148.7989501953125),
     (-0.2083381861448288, 0.25548800826072693, -0.0024604974314570427),
     (0.0014843869721516967, -0.0007599993259645998), 1000, 1000),
    ("60457274", (514.9682006835938, 501.88201904296875), (1145.5113525390625, 1144.77392578125),
     (-0.198384091258049, 0.21832367777824402, -0.008947807364165783),
     (-0.0005872055771760643, -0.0018133620033040643), 1000, 1002),
)

# subject -> 4 x (camera-to-world orientation quaternion (w, x, y, z), camera centre mm)
_Q = tuple[float, float, float, float]
_T = tuple[float, float, float]
_EXTRINSICS: dict[str, tuple[tuple[_Q, _T], ...]] = {
    "S1": (
        ((0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088),
         (1841.1070556640625, 4955.28466796875, 1563.4454345703125)),
        ((0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205),
         (1761.278564453125, -5078.0068359375, 1606.2650146484375)),
        ((0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696),
         (-1846.7777099609375, 5215.04638671875, 1491.972412109375)),
        ((0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435),
         (-1794.7896728515625, -3722.698974609375, 1574.8927001953125)),
    ),
    "S5": (
        ((0.1467377245426178, -0.162370964884758, -0.7551892995834351, 0.6178938746452332),
         (2097.3916015625, 4880.94482421875, 1605.732421875)),
        ((0.6159758567810059, -0.7626792192459106, -0.15728192031383514, 0.1189815029501915),
         (2031.7008056640625, -5167.93310546875, 1612.923095703125)),
        ((0.14291371405124664, -0.12907841801643372, 0.7678384780883789, -0.6110143065452576),
         (-1620.5948486328125, 5171.65869140625, 1496.43701171875)),
        ((0.5920479893684387, -0.7814217805862427, 0.1274748593568802, -0.15036417543888092),
         (-1637.1737060546875, -3867.3173828125, 1547.033203125)),
    ),
    "S6": (
        ((0.1337897777557373, -0.15692396461963654, -0.7571090459823608, 0.6198879480361938),
         (1935.4517822265625, 4950.24560546875, 1618.0838623046875)),
        ((0.6147197484970093, -0.7628812789916992, -0.16174767911434174, 0.11819244921207428),
         (1969.803955078125, -5128.73876953125, 1632.77880859375)),
        ((0.1529948115348816, -0.13529130816459656, 0.7646096348762512, -0.6112781167030334),
         (-1769.596435546875, 5185.361328125, 1476.993408203125)),
        ((0.5916101336479187, -0.7804774045944214, 0.12832270562648773, -0.1561593860387802),
         (-1721.668701171875, -3884.13134765625, 1540.4879150390625)),
    ),
    "S7": (
        ((0.1435241848230362, -0.1631336808204651, -0.7548328638076782, 0.6188824772834778),
         (1974.512939453125, 4926.3544921875, 1597.8326416015625)),
        ((0.6141672730445862, -0.7638262510299683, -0.1596645563840866, 0.1177929937839508),
         (1937.0584716796875, -5119.7900390625, 1631.5665283203125)),
        ((0.14550060033798218, -0.12874816358089447, 0.7660516500473022, -0.6127139329910278),
         (-1741.8111572265625, 5208.24951171875, 1464.8245849609375)),
        ((0.5912848114967346, -0.7821764349937439, 0.12445473670959473, -0.15196487307548523),
         (-1734.7105712890625, -3832.42138671875, 1548.5830078125)),
    ),
    "S8": (
        ((0.14110587537288666, -0.15589867532253265, -0.7561917304992676, 0.619644045829773),
         (2150.65185546875, 4896.1611328125, 1611.9046630859375)),
        ((0.6169601678848267, -0.7647668123245239, -0.14846350252628326, 0.11158157885074615),
         (2219.965576171875, -5148.453125, 1613.0440673828125)),
        ((0.1471444070339203, -0.13377119600772858, 0.7670128345489502, -0.6100369691848755),
         (-1571.2215576171875, 5137.0185546875, 1498.1761474609375)),
        ((0.5927824378013611, -0.7825870513916016, 0.12147816270589828, -0.14631995558738708),
         (-1476.913330078125, -3896.7412109375, 1547.97216796875)),
    ),
    "S9": (
        ((0.15540587902069092, -0.15548215806484222, -0.7532095313072205, 0.6199594736099243),
         (2044.45849609375, 4935.1171875, 1481.2275390625)),
        ((0.618784487247467, -0.7634735107421875, -0.14132238924503326, 0.11933968216180801),
         (1990.959716796875, -5123.810546875, 1568.8048095703125)),
        ((0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915),
         (-1670.9921875, 5211.98583984375, 1528.387939453125)),
        ((0.5879399180412292, -0.7823407053947449, 0.1427614390850067, -0.14794869720935822),
         (-1696.04345703125, -3827.099853515625, 1591.4127197265625)),
    ),
    "S11": (
        ((0.15232472121715546, -0.15442320704460144, -0.7547563314437866, 0.6191070079803467),
         (2098.440185546875, 4926.5546875, 1500.278564453125)),
        ((0.6189449429512024, -0.7600917220115662, -0.15300633013248444, 0.1255258321762085),
         (2083.182373046875, -4912.1728515625, 1561.07861328125)),
        ((0.14943228662014008, -0.15650227665901184, 0.7681233882904053, -0.6026304364204407),
         (-1609.8153076171875, 5177.3359375, 1537.896728515625)),
        ((0.5894251465797424, -0.7818877100944519, 0.13991211354732513, -0.14715361595153809),
         (-1590.738037109375, -3854.1689453125, 1578.017578125)),
    ),
}


def _quat_to_matrix(q: Sequence[float]) -> np.ndarray[Any, Any]:
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def h36m_cameras(subject: str) -> tuple[Camera, Camera, Camera, Camera]:
    """The four calibrated Human3.6M cameras of ``subject`` (standard values).

    Camera order is the dataset's: ``54138969``, ``55011271``, ``58860488``, ``60457274``
    (the order of the arrays in ``positions_2d``). Extrinsics map Human3.6M world
    coordinates in metres (+Z up) to OpenCV camera coordinates; intrinsics are in pixels
    with the radial/tangential distortion that :func:`poselift.camera.project` applies.
    Image sizes are 1000 x 1002 (cameras 0 and 3) and 1000 x 1000.

    Args:
        subject: one of :data:`H36M_SUBJECTS`.

    Returns:
        Four unbatched :class:`~poselift.camera.Camera` objects.

    Examples:
        >>> cams = h36m_cameras("S9")
        >>> [c.image_size for c in cams]
        [(1000, 1002), (1000, 1000), (1000, 1000), (1000, 1002)]
        >>> round(float(cams[0].fx), 2), cams[0].has_distortion
        (1145.05, True)
    """
    if subject not in _EXTRINSICS:
        raise ValueError(f"subject: expected one of {', '.join(H36M_SUBJECTS)}, got {subject!r}")
    out = []
    for (q, centre_mm), (_, c, f, k, p, w, h) in zip(_EXTRINSICS[subject], _INTRINSICS,
                                                     strict=True):
        r_c2w = _quat_to_matrix(q)
        R = r_c2w.T
        t = -R @ (np.asarray(centre_mm) / 1000.0)
        out.append(Camera(R=R, t=t, focal=f, center=c, image_size=(w, h), radial=k,
                          tangential=p))
    return out[0], out[1], out[2], out[3]


_ACTION_ALIASES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}


def h36m_action_name(action: str) -> str:
    """The base action of a Human3.6M sequence name (``"Walking 1"`` -> ``"Walking"``).

    Examples:
        >>> [h36m_action_name(a) for a in ("TakingPhoto 1", "Sitting", "WalkDog 1")]
        ['Photo', 'Sitting', 'WalkDog']
    """
    base = re.split(r"[\s_]", action.strip(), maxsplit=1)[0]
    return _ACTION_ALIASES.get(base, base)


def _load_dict(path: Path, key: str) -> tuple[dict[str, Any], Any]:
    try:
        archive = np.load(path, allow_pickle=True)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError(f"not an npz archive (got {type(archive).__name__})")
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, pickle.UnpicklingError) as exc:
        raise DataError(f"{path}: cannot read the npz archive ({exc})") from None
    with archive:
        if key not in archive.files:
            raise DataError(f"{path}: no {key!r} array (has {sorted(archive.files)})")
        try:
            data = archive[key].item()
        except (ValueError, AttributeError):
            data = None
        meta = archive["metadata"].item() if "metadata" in archive.files else None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise DataError(f"{path}: {key!r} must be a pickled dict subject -> action -> array")
    for subject, actions in data.items():
        keys = [(subject, "subject"), *((a, f"action of {subject!r}") for a in actions)]
        for name, what in keys:
            if not isinstance(name, str):
                raise DataError(f"{path}: {key!r}: expected str keys (subject -> action -> "
                                f"array), got the {what} {name!r} ({type(name).__name__})")
    return data, meta


def load_h36m(
    path: str | Path,
    *,
    subjects: Sequence[str] | None = None,
    on_bad: OnBad = "raise",
) -> MotionSet:
    """Read ``data_3d_h36m.npz`` as a :class:`MotionSet` of H36M-17 world poses.

    Clips are named ``"<subject>/<action>"`` (e.g. ``"S9/Walking 1"``) with
    ``meta = {"subject", "action", "content": base action, "style": "", "dataset": "h36m",
    "source"}``; 32-joint arrays are reduced with :data:`H36M_32_TO_17` (17-joint arrays
    are kept as they are). The world is +Z up (``MotionSet.up == "z"``), 50 fps.

    Args:
        path: the ``data_3d_h36m.npz`` file.
        subjects: read only these subjects (default: all in the file).
        on_bad: ``"raise"`` or ``"skip"`` bad sequences (wrong shape, NaNs).

    Raises:
        DataError: unreadable file, missing key, wrong shapes or NaNs (with ``"raise"``).

    Examples:
        >>> import numpy as np, tempfile, os
        >>> d = tempfile.mkdtemp(); f = os.path.join(d, "data_3d_h36m.npz")
        >>> np.savez(f, positions_3d={"S9": {"Walking 1": np.zeros((4, 32, 3))}})
        >>> ms = load_h36m(f)
        >>> ms.names, ms["S9/Walking 1"].poses.shape, ms.up
        (('S9/Walking 1',), (4, 17, 3), 'z')
    """
    path = Path(path)
    data, _ = _load_dict(path, "positions_3d")
    bad = BadDataCollector(on_bad, "sequence")
    clips: list[Clip] = []
    wanted = list(data) if subjects is None else list(subjects)
    for subject in wanted:
        if subject not in data:
            raise DataError(f"{path}: no subject {subject!r} (has {sorted(data)})")
        for action, arr in data[subject].items():
            where = f"{path}: {subject}/{action}"
            arr = np.asarray(arr)
            if arr.ndim == 3 and arr.shape[1:] == (32, 3):
                arr = arr[:, list(H36M_32_TO_17)]
            problem = check_poses(arr, where, 17)
            if problem is not None:
                bad(problem.replace("(F, 17, 3) with F", "(T, 32, 3) or (T, 17, 3) with T"))
                continue
            meta = {"subject": subject, "action": action, "content": h36m_action_name(action),
                    "style": "", "dataset": "h36m", "source": str(path)}
            clips.append(Clip(f"{subject}/{action}", arr.astype(np.float32), H36M_FPS, meta))
    return MotionSet(tuple(clips), "h36m", "z", str(path), bad.finish())


@dataclass(frozen=True, eq=False)
class H36M2D:
    """2D keypoints of a ``data_2d_h36m_<source>.npz`` file.

    Args:
        positions: ``(subject, action) -> tuple of 4 (T, 17, 2)`` float32 pixel arrays (or
            ``(T, 17, 3)`` with a score channel), one per camera in :func:`h36m_cameras` order.
        metadata: the file's ``metadata`` dict (may be empty).
        source: the file path.
        skipped: messages for sequences dropped with ``on_bad="skip"``.
    """

    positions: dict[tuple[str, str], tuple[np.ndarray[Any, Any], ...]]
    metadata: dict[str, Any]
    source: str
    skipped: tuple[str, ...] = ()


def load_h36m_2d(path: str | Path, *, on_bad: OnBad = "raise") -> H36M2D:
    """Read a ``data_2d_h36m_<source>.npz`` file (H36M-17 layout, 4 cameras per sequence).

    Args:
        path: the npz file.
        on_bad: ``"raise"`` or ``"skip"`` bad sequences.

    Raises:
        DataError: unreadable file, a layout other than 17 joints, not 4 cameras, wrong
            shapes, or NaNs (with ``"raise"``).

    Examples:
        >>> import numpy as np, tempfile, os
        >>> d = tempfile.mkdtemp(); f = os.path.join(d, "data_2d_h36m_gt.npz")
        >>> np.savez(f, positions_2d={"S9": {"Walking 1": [np.zeros((4, 17, 2))] * 4}},
        ...          metadata={"layout_name": "h36m", "num_joints": 17})
        >>> kp = load_h36m_2d(f)
        >>> kp.positions["S9", "Walking 1"][0].shape
        (4, 17, 2)
    """
    path = Path(path)
    data, meta = _load_dict(path, "positions_2d")
    meta = dict(meta) if isinstance(meta, dict) else {}
    if meta.get("num_joints", 17) != 17 or meta.get("layout_name", "h36m") not in ("h36m",
                                                                                    "h36m-17"):
        raise DataError(f"{path}: expected the H36M-17 layout, metadata says "
                        f"layout_name={meta.get('layout_name')!r}, "
                        f"num_joints={meta.get('num_joints')!r}")
    bad = BadDataCollector(on_bad, "sequence")
    out: dict[tuple[str, str], tuple[np.ndarray[Any, Any], ...]] = {}
    for subject, actions in data.items():
        for action, cams in actions.items():
            where = f"{path}: {subject}/{action}"
            if not isinstance(cams, list | tuple) or len(cams) != 4:
                size = len(cams) if hasattr(cams, "__len__") else "?"
                bad(f"{where}: expected a list of 4 per-camera arrays, got "
                    f"{type(cams).__name__} of length {size}")
                continue
            arrays = []
            problem = None
            for k, a in enumerate(cams):
                a = np.asarray(a)
                if a.ndim != 3 or a.shape[1] != 17 or a.shape[2] not in (2, 3) or a.shape[0] < 1:
                    problem = (f"{where}: camera {k}: expected shape (T, 17, 2) or (T, 17, 3), "
                               f"got {a.shape}")
                    break
                if not np.isfinite(a).all():
                    problem = f"{where}: camera {k}: {int((~np.isfinite(a)).sum())} NaN/inf values"
                    break
                arrays.append(a.astype(np.float32))
            if problem is not None:
                bad(problem)
                continue
            out[subject, action] = tuple(arrays)
    return H36M2D(out, meta, str(path), bad.finish())
