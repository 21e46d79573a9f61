"""3D Gaussian mixture models of cryo-EM maps (issue 5): model, rendering, fitting, metrics.

Public entry points (Qt-free, torch, CPU or CUDA):

* :class:`model.GaussianModel` (numpy, saved/exported) and :class:`model.GMMTensors` (trainable torch leaves).
* :mod:`render` -- ``project_iso`` / ``project_aniso`` (fast, batched over particles, positions ``(K, 3)`` or
  per-particle ``(B, K, 3)``, differentiable), ``project_dense`` (reference), ``render_volume_iso`` /
  ``render_volume_aniso`` (3D grids), ``project_images`` (+ CTF), ``render_model`` / ``project_model`` (numpy).
* :mod:`fit` -- ``fit_map`` and ``fit_particles`` job generators, ``FitControl`` (live learning rate),
  ``density_control``.
* :mod:`metrics` -- ``fsc``, ``fsc_resolution``, ``frc`` (torch, differentiable, per image), ``correlation``,
  ``recovery``.
* :mod:`sanity` -- the seed's milestones 3-4 (``run_sanity``).
"""
