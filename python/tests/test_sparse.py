"""scipy.sparse input: the estimators and the path/cv functions give the dense fit of the same
matrix for CSR and CSC (int32 and int64 indices, read in place), other formats converted once,
and non-canonical matrices (duplicates, unsorted) summed on a copy; X is never modified."""

import numpy as np
import pytest
import scipy.sparse as sp

import scalemix


def _problem(seed=0, n=400, p=60, density=0.08):
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=density, random_state=seed, format="csr")
    X.data = rng.standard_normal(X.nnz)
    beta = np.where(np.arange(p) % 6 == 0, 1.0, 0.0)
    eta = X @ beta
    labels = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    values = eta + 0.1 * rng.standard_normal(n)
    return X, labels, values


FORMATS = {
    "csr": lambda X: X.tocsr(),
    "csc": lambda X: X.tocsc(),
    "csr int64": lambda X: sp.csr_matrix(
        (X.data, X.indices.astype(np.int64), X.indptr.astype(np.int64)), shape=X.shape
    ),
    "csr_array": lambda X: sp.csr_array(X),
    "coo": lambda X: X.tocoo(),
    "lil": lambda X: X.tolil(),
}

ESTIMATORS = [
    (lambda: scalemix.LogisticRegression(C=0.5), "labels"),
    (lambda: scalemix.LogisticRegression(penalty="l1", C=0.5), "labels"),
    (lambda: scalemix.Lasso(alpha=0.005), "values"),
    (lambda: scalemix.ElasticNet(alpha=0.01, l1_ratio=0.5), "values"),
    (lambda: scalemix.Ridge(alpha=0.5), "values"),
    (lambda: scalemix.LinearSVC(C=0.5), "labels"),
    (lambda: scalemix.QuantileRegressor(quantile=0.3, alpha=0.01), "values"),
]


@pytest.mark.parametrize("form", sorted(FORMATS))
@pytest.mark.parametrize("make, response", ESTIMATORS)
def test_sparse_fits_equal_dense_fits(form, make, response):
    X, labels, values = _problem()
    y = labels if response == "labels" else values
    dense = make().fit(X.toarray(), y)
    sparse_X = FORMATS[form](X)
    sparse = make().fit(sparse_X, y)
    assert sparse.termination_ == "Converged"
    assert abs(sparse.objective_ - dense.objective_) <= 1e-12 * abs(dense.objective_)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=0, atol=1e-6 * np.abs(dense.coef_).max())
    np.testing.assert_allclose(sparse.predict(sparse_X), dense.predict(X.toarray()), atol=1e-6)


def test_multiclass_sparse_equals_dense():
    X, _, values = _problem(seed=1)
    classes = np.digitize(values, np.quantile(values, [1 / 3, 2 / 3]))
    dense = scalemix.LogisticRegression(C=0.5).fit(X.toarray(), classes)
    sparse = scalemix.LogisticRegression(C=0.5).fit(X, classes)
    assert abs(sparse.objective_ - dense.objective_) <= 1e-12 * abs(dense.objective_)
    np.testing.assert_allclose(sparse.predict_proba(X), dense.predict_proba(X.toarray()), atol=1e-12)


def test_non_canonical_matrices_are_summed_on_a_copy_and_never_modified():
    # Row 0 lists column 2 twice (1 + 2 = 3) and its columns out of order.
    data = np.array([1.0, 4.0, 2.0, 5.0, 1.5, 2.5])
    indices = np.array([2, 0, 2, 1, 0, 1], dtype=np.int32)
    indptr = np.array([0, 3, 4, 6], dtype=np.int32)
    X = sp.csr_matrix((data.copy(), indices.copy(), indptr.copy()), shape=(3, 3))
    assert not X.has_canonical_format
    dense = np.array([[4.0, 0.0, 3.0], [0.0, 5.0, 0.0], [1.5, 2.5, 0.0]])
    X_big = sp.vstack([X] * 40, format="csr")
    X_big.has_canonical_format = False
    before = (X_big.data.copy(), X_big.indices.copy(), X_big.indptr.copy())
    y = np.tile([0.3, -1.0, 2.0], 40)
    sparse = scalemix.Ridge(alpha=0.1).fit(X_big, y)
    reference = scalemix.Ridge(alpha=0.1).fit(np.vstack([dense] * 40), y)
    assert abs(sparse.objective_ - reference.objective_) <= 1e-12 * abs(reference.objective_)
    for a, b in zip(before, (X_big.data, X_big.indices, X_big.indptr)):
        np.testing.assert_array_equal(a, b)


def test_path_and_cv_take_sparse_input():
    X, labels, _ = _problem(seed=2)
    dense = scalemix.path(X.toarray(), labels, family="logistic", alpha=1.0, n_lambda=10)
    sparse = scalemix.path(X, labels, family="logistic", alpha=1.0, n_lambda=10)
    np.testing.assert_allclose(sparse["objective"], dense["objective"], rtol=1e-11)


def test_malformed_sparse_arrays_are_a_value_error_naming_the_row():
    X, labels, _ = _problem(seed=3, n=20, p=5, density=0.5)
    # A column index beyond p, planted after scipy's own checks.
    X = X.tocsr()
    X.indices[X.indptr[4]] = 7
    with pytest.raises(ValueError, match="row 4 lists column index 7, outside 0..5"):
        scalemix.LogisticRegression().fit(X, labels)
    X, labels, _ = _problem(seed=3, n=20, p=5, density=0.5)
    X.data[X.indptr[2]] = np.nan
    with pytest.raises(ValueError):
        scalemix.LogisticRegression().fit(X, labels)
