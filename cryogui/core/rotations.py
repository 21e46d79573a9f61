"""Rotations, done once and right.

Convention (RELION): Euler angles rot, tilt, psi in degrees, ZYZ.  ``euler_to_matrix`` returns RELION's matrix A,
the rotation that maps the reference to the particle's view: a point ``p`` of the reference appears in the particle
image at ``(A @ p)[:2]`` (x = column, y = row), and the projection integrates along the rotated z axis.  The viewing
direction (the beam direction in the reference frame) is ``A.T @ (0, 0, 1)``, the third row of A.
Quaternions are (w, x, y, z), unit, with w >= 0 as the canonical sign.

All functions take arrays of any leading shape (``(..., 3)`` angles, ``(..., 3, 3)`` matrices, ``(..., 4)``
quaternions) and work in float64 numpy.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-9


def euler_to_matrix(angles_deg) -> np.ndarray:
    """RELION rot/tilt/psi (degrees, ``(..., 3)``) to RELION matrices A (``(..., 3, 3)``)."""
    a = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    ca, cb, cg = np.cos(a[..., 0]), np.cos(a[..., 1]), np.cos(a[..., 2])
    sa, sb, sg = np.sin(a[..., 0]), np.sin(a[..., 1]), np.sin(a[..., 2])
    cc, cs, sc, ss = cb * ca, cb * sa, sb * ca, sb * sa
    m = np.empty(a.shape[:-1] + (3, 3))
    m[..., 0, 0] = cg * cc - sg * sa
    m[..., 0, 1] = cg * cs + sg * ca
    m[..., 0, 2] = -cg * sb
    m[..., 1, 0] = -sg * cc - cg * sa
    m[..., 1, 1] = -sg * cs + cg * ca
    m[..., 1, 2] = sg * sb
    m[..., 2, 0] = sc
    m[..., 2, 1] = ss
    m[..., 2, 2] = cb
    return m


def matrix_to_euler(mats) -> np.ndarray:
    """RELION matrices (``(..., 3, 3)``) to rot/tilt/psi in degrees, tilt in [0, 180], rot and psi in (-180, 180]."""
    m = np.asarray(mats, dtype=np.float64)
    abs_sb = np.sqrt(m[..., 0, 2] ** 2 + m[..., 1, 2] ** 2)
    regular = abs_sb > 16 * np.finfo(np.float32).eps
    psi = np.arctan2(m[..., 1, 2], -m[..., 0, 2])
    rot = np.arctan2(m[..., 2, 1], m[..., 2, 0])
    tilt = np.arctan2(abs_sb, m[..., 2, 2])
    # gimbal lock: tilt 0 or 180, only rot + psi (or psi - rot) is defined; put it all in psi
    up = m[..., 2, 2] > 0
    psi_up = np.arctan2(-m[..., 1, 0], m[..., 0, 0])
    psi_down = np.arctan2(m[..., 1, 0], -m[..., 0, 0])
    rot = np.where(regular, rot, 0.0)
    tilt = np.where(regular, tilt, np.where(up, 0.0, np.pi))
    psi = np.where(regular, psi, np.where(up, psi_up, psi_down))
    return np.rad2deg(np.stack([rot, tilt, psi], axis=-1))


def matrix_to_quaternion(mats) -> np.ndarray:
    """Rotation matrices to unit quaternions (w, x, y, z), w >= 0 (Shepperd's method, batched)."""
    m = np.asarray(mats, dtype=np.float64)
    shape = m.shape[:-2]
    m = m.reshape(-1, 3, 3)
    q = np.empty((m.shape[0], 4))
    tr = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    diag = np.stack([tr, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=1)
    case = np.argmax(diag, axis=1)
    for c in range(4):
        sel = case == c
        if not np.any(sel):
            continue
        r = m[sel]
        if c == 0:
            s = np.sqrt(1.0 + tr[sel]) * 2
            q[sel] = np.stack([0.25 * s, (r[:, 2, 1] - r[:, 1, 2]) / s, (r[:, 0, 2] - r[:, 2, 0]) / s,
                               (r[:, 1, 0] - r[:, 0, 1]) / s], axis=1)
        elif c == 1:
            s = np.sqrt(1.0 + r[:, 0, 0] - r[:, 1, 1] - r[:, 2, 2]) * 2
            q[sel] = np.stack([(r[:, 2, 1] - r[:, 1, 2]) / s, 0.25 * s, (r[:, 0, 1] + r[:, 1, 0]) / s,
                               (r[:, 0, 2] + r[:, 2, 0]) / s], axis=1)
        elif c == 2:
            s = np.sqrt(1.0 + r[:, 1, 1] - r[:, 0, 0] - r[:, 2, 2]) * 2
            q[sel] = np.stack([(r[:, 0, 2] - r[:, 2, 0]) / s, (r[:, 0, 1] + r[:, 1, 0]) / s, 0.25 * s,
                               (r[:, 1, 2] + r[:, 2, 1]) / s], axis=1)
        else:
            s = np.sqrt(1.0 + r[:, 2, 2] - r[:, 0, 0] - r[:, 1, 1]) * 2
            q[sel] = np.stack([(r[:, 1, 0] - r[:, 0, 1]) / s, (r[:, 0, 2] + r[:, 2, 0]) / s,
                               (r[:, 1, 2] + r[:, 2, 1]) / s, 0.25 * s], axis=1)
    q = canonical_quaternion(q)
    return q.reshape(shape + (4,))


def quaternion_to_matrix(quats) -> np.ndarray:
    """Quaternions (w, x, y, z), normalised here, to rotation matrices."""
    q = np.asarray(quats, dtype=np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), _EPS)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    m = np.empty(q.shape[:-1] + (3, 3))
    m[..., 0, 0] = 1 - 2 * (y * y + z * z)
    m[..., 0, 1] = 2 * (x * y - w * z)
    m[..., 0, 2] = 2 * (x * z + w * y)
    m[..., 1, 0] = 2 * (x * y + w * z)
    m[..., 1, 1] = 1 - 2 * (x * x + z * z)
    m[..., 1, 2] = 2 * (y * z - w * x)
    m[..., 2, 0] = 2 * (x * z - w * y)
    m[..., 2, 1] = 2 * (y * z + w * x)
    m[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return m


def canonical_quaternion(q) -> np.ndarray:
    """Unit quaternions with w >= 0 (q and -q are the same rotation)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), _EPS)
    return np.where(q[..., :1] < 0, -q, q)


def euler_to_quaternion(angles_deg) -> np.ndarray:
    return matrix_to_quaternion(euler_to_matrix(angles_deg))


def quaternion_to_euler(quats) -> np.ndarray:
    return matrix_to_euler(quaternion_to_matrix(quats))


def axis_angle_to_matrix(vecs) -> np.ndarray:
    """Axis-angle vectors (radians times unit axis, ``(..., 3)``, as cryoSPARC stores poses) to matrices (Rodrigues)."""
    v = np.asarray(vecs, dtype=np.float64)
    theta = np.linalg.norm(v, axis=-1, keepdims=True)
    k = v / np.maximum(theta, _EPS)
    kx, ky, kz = k[..., 0], k[..., 1], k[..., 2]
    zero = np.zeros_like(kx)
    kmat = np.stack([np.stack([zero, -kz, ky], -1), np.stack([kz, zero, -kx], -1),
                     np.stack([-ky, kx, zero], -1)], -2)
    th = theta[..., None]
    eye = np.broadcast_to(np.eye(3), kmat.shape)
    return eye + np.sin(th) * kmat + (1 - np.cos(th)) * (kmat @ kmat)


def viewing_direction(mats) -> np.ndarray:
    """Unit viewing directions (the beam in the reference frame, ``A.T @ z``) of RELION matrices."""
    return np.asarray(mats, dtype=np.float64)[..., 2, :]


def random_rotations(n: int, seed: int | None = 0) -> np.ndarray:
    """``n`` rotation matrices drawn uniformly from SO(3) (uniform unit quaternions)."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, 4))
    return quaternion_to_matrix(canonical_quaternion(q))


def quaternion_distance(q1, q2) -> np.ndarray:
    """Geodesic angle in radians between orientations, ``2 arccos |<q1, q2>|``, in [0, pi]."""
    q1 = canonical_quaternion(q1)
    q2 = canonical_quaternion(q2)
    d = np.abs(np.sum(q1 * q2, axis=-1))
    return 2 * np.arccos(np.clip(d, 0.0, 1.0))


def rotation_distance(m1, m2) -> np.ndarray:
    """Geodesic angle in radians between rotation matrices (numerically stable for small angles)."""
    return quaternion_distance(matrix_to_quaternion(m1), matrix_to_quaternion(m2))


def direction_distance(m1, m2) -> np.ndarray:
    """Angle in radians between the viewing directions of two sets of rotations."""
    d1, d2 = viewing_direction(m1), viewing_direction(m2)
    return np.arccos(np.clip(np.sum(d1 * d2, axis=-1), -1.0, 1.0))
