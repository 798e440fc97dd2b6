"""scalemix: penalized GLMs fitted to the exact optimum with Scale Mixture EM, on a Rust core.

Estimators named and parameterized like scikit-learn's, each minimizing exactly the objective
of the scikit-learn class of the same name (see each class for the mapping to scalemix's λ and
α), plus a glmnet-style :class:`GLM` and the :func:`path` and :func:`cv` functions.
"""

from ._estimators import (
    GLM,
    ElasticNet,
    Lasso,
    LinearSVC,
    LogisticRegression,
    PoissonRegressor,
    QuantileRegressor,
    Ridge,
    cv,
    path,
)

__all__ = [
    "GLM",
    "ElasticNet",
    "Lasso",
    "LinearSVC",
    "LogisticRegression",
    "PoissonRegressor",
    "QuantileRegressor",
    "Ridge",
    "cv",
    "path",
]
