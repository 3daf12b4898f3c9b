"""A 2-D PCA basis fitted once per run and reused for every plotted step.

Refitting PCA at each step would rotate and flip the axes, so points would jump on screen even when
the model did not change. Fitting once (on the original model's forget + retain features) makes
motion in the plot motion in the model. Features are L2-normalised before fitting and projecting,
matching the geometry of the representation metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import as_matrix, as_vector, l2_normalize

N_COMPONENTS = 2


@dataclass(frozen=True, eq=False)
class ProjectionBasis:
    """mean: (D,) centre; components: (2, D) orthonormal rows; explained_variance_ratio: (2,).

    Build it with `ProjectionBasis.fit(features)`; it is immutable afterwards, so a run cannot
    refit it by accident. `to_dict` / `from_dict` round-trip it through JSON-friendly lists for run
    reports.
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray

    def __post_init__(self):
        mean = as_vector("mean", self.mean)
        components = as_matrix("components", self.components)
        ratio = np.asarray(self.explained_variance_ratio, dtype=np.float64)
        if components.shape != (N_COMPONENTS, mean.size):
            raise ValueError(
                f"components must have shape ({N_COMPONENTS}, {mean.size}) to match mean, "
                f"got {components.shape}"
            )
        if ratio.shape != (N_COMPONENTS,):
            raise ValueError(
                f"explained_variance_ratio must have shape ({N_COMPONENTS},), got {ratio.shape}"
            )
        # Bypass frozen to store the validated float arrays.
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "components", components)
        object.__setattr__(self, "explained_variance_ratio", ratio)

    @property
    def dim(self) -> int:
        return int(self.mean.size)

    @classmethod
    def fit(cls, features) -> ProjectionBasis:
        """Top-2 principal axes of the L2-normalised `features` (N >= 2 rows, D >= 2 columns).

        Sign convention: each axis is flipped so that its largest-magnitude loading is positive
        (the first such loading on ties). SVD alone fixes an axis only up to sign, and the sign can
        change with the BLAS build or tiny input differences; this rule makes plots reproducible.
        """
        x = as_matrix("features", features, min_rows=2)
        if x.shape[1] < N_COMPONENTS:
            raise ValueError(f"features need at least {N_COMPONENTS} columns, got {x.shape[1]}")
        x = l2_normalize(x)
        mean = x.mean(axis=0)
        _, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
        components = vt[:N_COMPONENTS].copy()
        pivot = np.argmax(np.abs(components), axis=1)
        signs = np.sign(components[np.arange(N_COMPONENTS), pivot])
        components *= np.where(signs == 0, 1.0, signs)[:, None]
        variance = singular**2
        total = variance.sum()
        ratio = variance[:N_COMPONENTS] / total if total > 0 else np.zeros(N_COMPONENTS)
        return cls(mean=mean, components=components, explained_variance_ratio=ratio)

    def transform(self, features) -> np.ndarray:
        """(N, D) features -> (N, 2) coordinates in this basis (after L2 normalisation)."""
        x = as_matrix("features", features)
        if x.shape[1] != self.dim:
            raise ValueError(f"features have dimension {x.shape[1]}, the basis expects {self.dim}")
        return (l2_normalize(x) - self.mean) @ self.components.T

    def to_dict(self) -> dict[str, list]:
        return {
            "mean": self.mean.tolist(),
            "components": self.components.tolist(),
            "explained_variance_ratio": self.explained_variance_ratio.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> ProjectionBasis:
        missing = {"mean", "components", "explained_variance_ratio"} - set(data)
        if missing:
            raise ValueError(f"projection basis dict is missing {sorted(missing)}")
        return cls(
            mean=np.asarray(data["mean"], dtype=np.float64),
            components=np.asarray(data["components"], dtype=np.float64),
            explained_variance_ratio=np.asarray(data["explained_variance_ratio"], dtype=np.float64),
        )
