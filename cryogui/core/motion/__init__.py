"""Eigen-motion analysis: per-particle FRC gradients w.r.t. a Gaussian model, PCA eigen-motions, coordinates."""
