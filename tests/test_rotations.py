"""Every conversion of cryogui.core.rotations both ways, against scipy and against RELION's own definition."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cryogui.core import rotations as R


def _angles(n=500, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(-180, 180, n), np.rad2deg(np.arccos(rng.uniform(-1, 1, n))),
                     rng.uniform(-180, 180, n)], axis=1)


def test_euler_matrix_matches_relion_definition_via_scipy():
    # RELION's A is the transpose of the intrinsic ZYZ rotation Rz(rot) Ry(tilt) Rz(psi)
    ang = _angles()
    ref = Rotation.from_euler("ZYZ", ang, degrees=True).as_matrix().transpose(0, 2, 1)
    assert np.allclose(R.euler_to_matrix(ang), ref, atol=1e-12)


def test_euler_matrix_known_values():
    # tilt 90: the reference x axis becomes the beam axis (-x maps to +z? check A @ x)
    a = R.euler_to_matrix([0.0, 90.0, 0.0])
    assert np.allclose(a @ [1, 0, 0], [0, 0, 1], atol=1e-12)
    b = R.euler_to_matrix([90.0, 0.0, 0.0])
    # rot 90 turns the reference by -90 deg about z in the image: x -> -y
    assert np.allclose(b @ [1, 0, 0], [0, -1, 0], atol=1e-12)


def test_matrix_euler_round_trip_both_ways():
    ang = _angles()
    m = R.euler_to_matrix(ang)
    back = R.matrix_to_euler(m)
    assert np.allclose(R.euler_to_matrix(back), m, atol=1e-10)
    # canonical ranges, and the same numbers where tilt is regular
    assert np.all((back[:, 1] >= 0) & (back[:, 1] <= 180))
    diff = (back - ang + 180) % 360 - 180
    assert np.allclose(diff, 0, atol=1e-8)


@pytest.mark.parametrize("tilt", [0.0, 180.0])
def test_matrix_euler_gimbal_lock(tilt):
    ang = np.array([[30.0, tilt, 40.0], [-100.0, tilt, 10.0]])
    m = R.euler_to_matrix(ang)
    back = R.matrix_to_euler(m)
    assert np.allclose(back[:, 1], tilt)
    assert np.allclose(R.euler_to_matrix(back), m, atol=1e-10)


def test_quaternion_matrix_both_ways_vs_scipy():
    mats = R.random_rotations(400, seed=1)
    q = R.matrix_to_quaternion(mats)
    sq = Rotation.from_matrix(mats).as_quat()  # x y z w
    sq = R.canonical_quaternion(np.concatenate([sq[:, 3:], sq[:, :3]], axis=1))
    assert np.allclose(q, sq, atol=1e-10)
    assert np.all(q[:, 0] >= 0)
    assert np.allclose(np.linalg.norm(q, axis=1), 1)
    assert np.allclose(R.quaternion_to_matrix(q), mats, atol=1e-10)
    # from quaternions first: q -> matrix -> q (up to sign)
    rng = np.random.default_rng(2)
    q0 = R.canonical_quaternion(rng.normal(size=(300, 4)))
    assert np.allclose(R.matrix_to_quaternion(R.quaternion_to_matrix(q0)), q0, atol=1e-10)


def test_euler_quaternion_both_ways():
    ang = _angles(300, seed=3)
    q = R.euler_to_quaternion(ang)
    assert np.allclose(R.euler_to_matrix(R.quaternion_to_euler(q)), R.euler_to_matrix(ang), atol=1e-10)
    assert np.allclose(R.euler_to_quaternion(R.quaternion_to_euler(q)), q, atol=1e-9)


def test_axis_angle_vs_scipy_and_round_trip():
    rng = np.random.default_rng(4)
    v = rng.normal(size=(300, 3))
    v *= (rng.uniform(0, np.pi, 300) / np.linalg.norm(v, axis=1))[:, None]
    v[0] = 0.0  # identity
    m = R.axis_angle_to_matrix(v)
    assert np.allclose(m, Rotation.from_rotvec(v).as_matrix(), atol=1e-12)
    back = Rotation.from_matrix(m).as_rotvec()
    assert np.allclose(back, v, atol=1e-9)


def test_rotation_matrices_are_proper():
    m = R.random_rotations(200, seed=5)
    assert np.allclose(m @ m.transpose(0, 2, 1), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(m), 1.0)


def test_random_rotations_uniform():
    # the viewing directions of uniform rotations are uniform: z in [-1, 1] evenly, mean direction ~ 0
    m = R.random_rotations(20000, seed=6)
    d = R.viewing_direction(m)
    assert np.linalg.norm(d.mean(axis=0)) < 0.03
    hist, _ = np.histogram(d[:, 2], bins=10, range=(-1, 1))
    assert hist.min() > 0.85 * hist.mean()
    # geodesic angle from the identity has density (1 - cos t) / pi: mean = pi/2 + 2/pi
    t = R.rotation_distance(np.eye(3), m)
    assert abs(t.mean() - (np.pi / 2 + 2 / np.pi)) < 0.02


def test_viewing_direction_is_beam_in_reference_frame():
    ang = _angles(50, seed=7)
    m = R.euler_to_matrix(ang)
    d = R.viewing_direction(m)
    # A @ d is the beam axis z in the image frame
    assert np.allclose(np.einsum("nij,nj->ni", m, d), [0, 0, 1], atol=1e-12)
    # RELION: direction from rot/tilt = (cos rot sin tilt, sin rot sin tilt, cos tilt)
    r, t = np.deg2rad(ang[:, 0]), np.deg2rad(ang[:, 1])
    assert np.allclose(d, np.stack([np.cos(r) * np.sin(t), np.sin(r) * np.sin(t), np.cos(t)], 1), atol=1e-12)


def test_distances_vs_scipy():
    m1, m2 = R.random_rotations(300, seed=8), R.random_rotations(300, seed=9)
    ref = (Rotation.from_matrix(m1).inv() * Rotation.from_matrix(m2)).magnitude()
    assert np.allclose(R.rotation_distance(m1, m2), ref, atol=1e-7)
    q1, q2 = R.matrix_to_quaternion(m1), R.matrix_to_quaternion(m2)
    assert np.allclose(R.quaternion_distance(q1, -q2), ref, atol=1e-7)  # sign does not matter
    # small angles stay accurate
    small = Rotation.from_rotvec([[1e-4, 0, 0]]).as_matrix()
    assert np.isclose(R.rotation_distance(np.eye(3)[None], small)[0], 1e-4, rtol=1e-3)
    dd = R.direction_distance(m1, m2)
    d1, d2 = R.viewing_direction(m1), R.viewing_direction(m2)
    assert np.allclose(np.cos(dd), np.sum(d1 * d2, axis=1), atol=1e-12)
    assert np.all(dd <= R.rotation_distance(m1, m2) + 1e-9)  # directions differ by at most the rotation angle
