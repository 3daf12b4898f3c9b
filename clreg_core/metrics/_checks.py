"""Input checks shared by the metric modules.

Metrics are called at the end of long runs; a shape mistake should fail at once with a message that
names the argument and its shape, not as a NaN three tables later. All failures raise `ValueError`.
"""

from __future__ import annotations

import numpy as np

# Rows shorter than this are treated as zero vectors when normalising, so a dead feature row yields
# zeros (cosine 0 to everything) instead of NaN.
NORM_EPS = 1e-12


def as_matrix(name: str, values, min_rows: int = 1) -> np.ndarray:
    """`values` as a finite float (N, D) array with N >= min_rows and D >= 1."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, D) array, got shape {array.shape}")
    if array.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} row(s), got shape {array.shape}")
    if array.shape[1] < 1:
        raise ValueError(f"{name} has no feature columns: shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def as_feature_pair(forget, retain, min_rows: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Forget and retain features as (N_f, D) and (N_r, D) arrays with the same D."""
    f = as_matrix("forget features", forget, min_rows)
    r = as_matrix("retain features", retain, min_rows)
    if f.shape[1] != r.shape[1]:
        raise ValueError(
            f"forget and retain features differ in dimension: {f.shape[1]} vs {r.shape[1]}"
        )
    return f, r


def as_vector(name: str, values, min_len: int = 1) -> np.ndarray:
    """`values` as a finite float 1-D array of at least `min_len` entries."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if array.size < min_len:
        raise ValueError(f"{name} needs at least {min_len} value(s), got {array.size}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def as_hits(token_hits) -> np.ndarray:
    """Per-token correctness flags as a non-empty 1-D bool array (0/1 ints are accepted)."""
    array = np.asarray(token_hits)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"token_hits must be a non-empty 1-D sequence of booleans, got shape {array.shape}"
        )
    if array.dtype != np.bool_:
        if not np.all(np.isin(array, (0, 1))):
            raise ValueError("token_hits must contain only booleans or 0/1")
        array = array.astype(bool)
    return array


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; a zero row stays zero instead of becoming NaN."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, NORM_EPS)
