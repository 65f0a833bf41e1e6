"""Fréchet distance between two sets of feature vectors, without scipy.

``d^2 = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^{1/2})``.

The cross term is computed as ``tr((A^{1/2} S_b A^{1/2})^{1/2})`` with ``A = S_a``: that matrix
is symmetric positive semi-definite and has the same eigenvalues as ``S_a S_b``, so two symmetric
eigen-decompositions (float64) replace scipy's general ``sqrtm`` and never produce complex parts.
Covariances of fewer samples than dimensions are singular; the formula stays exact for them
(negative round-off eigenvalues are clipped to 0), and ``frechet_distance`` then works on the
samples directly (see there), which is also far cheaper.
"""

from __future__ import annotations

import numpy as np


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), N >= 2, in float64."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"expected features shaped (N, D) with N >= 2, got {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError("features contain NaN or inf")
    return f.mean(0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_from_stats(mu_a: np.ndarray, sigma_a: np.ndarray, mu_b: np.ndarray, sigma_b: np.ndarray) -> float:
    """Fréchet distance (the squared form, as FID/FVD report it) between two Gaussians."""
    mu_a, mu_b = np.asarray(mu_a, np.float64), np.asarray(mu_b, np.float64)
    sigma_a, sigma_b = np.asarray(sigma_a, np.float64), np.asarray(sigma_b, np.float64)
    if mu_a.shape != mu_b.shape or sigma_a.shape != sigma_b.shape or sigma_a.shape != mu_a.shape * 2:
        raise ValueError(
            f"mismatched Gaussian statistics: means {mu_a.shape} vs {mu_b.shape}, "
            f"covariances {sigma_a.shape} vs {sigma_b.shape}"
        )
    root_a = _psd_sqrt(sigma_a)
    cross = np.linalg.eigvalsh(root_a @ sigma_b @ root_a)
    tr_cross = np.sqrt(np.clip(cross, 0, None)).sum()
    d2 = ((mu_a - mu_b) ** 2).sum() + np.trace(sigma_a) + np.trace(sigma_b) - 2 * tr_cross
    return float(max(d2, 0.0))


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between the Gaussians fitted to two feature sets (N_a, D) and (N_b, D).

    With fewer samples than dimensions (the usual case for a few hundred videos) the cross term
    is taken from the samples: with centred, scaled data ``A = (X_a - mu_a) / sqrt(N_a - 1)``
    (so ``S_a = A^T A``), the eigenvalues of ``S_a S_b`` are the squared singular values of the
    small (N_a, N_b) matrix ``A B^T``, so ``tr((S_a S_b)^{1/2})`` is its nuclear norm: exact, and
    no (D, D) decomposition.
    """
    a, b = np.asarray(features_a), np.asarray(features_b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (N, D) with the same D, got {a.shape} and {b.shape}")
    mu_a, sigma_a = gaussian_stats(a)
    mu_b, sigma_b = gaussian_stats(b)
    if min(len(a), len(b)) >= a.shape[1]:
        return frechet_from_stats(mu_a, sigma_a, mu_b, sigma_b)
    ca = (a - mu_a) / np.sqrt(len(a) - 1)
    cb = (b - mu_b) / np.sqrt(len(b) - 1)
    tr_cross = np.linalg.svd(ca @ cb.T, compute_uv=False).sum()
    d2 = ((mu_a - mu_b) ** 2).sum() + (ca * ca).sum() + (cb * cb).sum() - 2 * tr_cross
    return float(max(d2, 0.0))
