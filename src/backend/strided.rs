//! A safe front to matrixmultiply's GEMM on strided operands.
//!
//! matrixmultiply takes raw pointers and strides; here every operand is a slice plus a shape
//! and strides, and the constructors check that each element the GEMM can touch lies inside the
//! slice, so the one `unsafe` call below is sound by construction.

/// A read-only `rows × cols` matrix: element (i, j) at `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy)]
pub(crate) struct Strided<'s> {
    data: &'s [f64],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

/// A mutable `rows × cols` matrix, as [`Strided`].
pub(crate) struct StridedMut<'s> {
    data: &'s mut [f64],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

/// Panics unless every element of a `rows × cols` operand with these strides lies within a
/// slice of `len` entries.
fn check_bounds(len: usize, rows: usize, cols: usize, row_stride: usize, col_stride: usize) {
    let extent = if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * row_stride + (cols - 1) * col_stride + 1
    };
    assert!(extent <= len, "strided operand out of bounds");
}

impl<'s> Strided<'s> {
    /// # Panics
    /// If the operand does not fit in `data` (a bug in the caller's shape arithmetic).
    pub(crate) fn new(
        data: &'s [f64],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        check_bounds(data.len(), rows, cols, row_stride, col_stride);
        Self { data, rows, cols, row_stride, col_stride }
    }

    /// The `rows × cols` sub-matrix starting at (`row0`, `col0`).
    ///
    /// # Panics
    /// If it does not lie inside this operand.
    pub(crate) fn block(self, row0: usize, rows: usize, col0: usize, cols: usize) -> Self {
        assert!(row0 + rows <= self.rows && col0 + cols <= self.cols, "block out of bounds");
        if rows == 0 || cols == 0 {
            return Self { rows, cols, ..self };
        }
        let offset = row0 * self.row_stride + col0 * self.col_stride;
        Self::new(&self.data[offset..], rows, cols, self.row_stride, self.col_stride)
    }

    /// The same elements seen as the transpose.
    pub(crate) fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

impl<'s> StridedMut<'s> {
    /// # Panics
    /// If the operand does not fit in `data`, or if two elements alias (a zero stride with more
    /// than one row or column).
    pub(crate) fn new(
        data: &'s mut [f64],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        check_bounds(data.len(), rows, cols, row_stride, col_stride);
        assert!((rows <= 1 || row_stride > 0) && (cols <= 1 || col_stride > 0), "aliased output");
        Self { data, rows, cols, row_stride, col_stride }
    }
}

/// c ← α·a·b + β·c.
///
/// # Panics
/// If the shapes do not conform.
pub(crate) fn gemm(alpha: f64, a: Strided<'_>, b: Strided<'_>, beta: f64, c: StridedMut<'_>) {
    assert!(a.cols == b.rows && c.rows == a.rows && c.cols == b.cols, "gemm shape mismatch");
    if c.rows == 0 || c.cols == 0 {
        return;
    }
    // SAFETY: the constructors checked that every element addressed through the shapes and
    // strides lies inside the borrowed slices, the shapes conform (asserted above), `c` is
    // borrowed mutably and so cannot alias `a` or `b`, and its strides address distinct elements.
    unsafe {
        matrixmultiply::dgemm(
            a.rows,
            a.cols,
            b.cols,
            alpha,
            a.data.as_ptr(),
            a.row_stride as isize,
            a.col_stride as isize,
            b.data.as_ptr(),
            b.row_stride as isize,
            b.col_stride as isize,
            beta,
            c.data.as_mut_ptr(),
            c.row_stride as isize,
            c.col_stride as isize,
        );
    }
}

/// y ← α·a·x + β·y for a vector x (`a.cols` entries) into y (`a.rows` entries), in one pass
/// over `a` in its storage order: a dot product per row when rows are contiguous, an axpy per
/// column when columns are. matrixmultiply packs both operands of every product, which for a
/// single column costs about as much as the product itself.
///
/// # Panics
/// If the lengths do not conform.
pub(crate) fn gemv(alpha: f64, a: Strided<'_>, x: &[f64], beta: f64, y: &mut [f64]) {
    assert!(x.len() == a.cols && y.len() == a.rows, "gemv shape mismatch");
    if beta == 0.0 {
        y.fill(0.0);
    } else if beta != 1.0 {
        y.iter_mut().for_each(|v| *v *= beta);
    }
    if a.rows == 0 || a.cols == 0 {
        return;
    }
    if a.col_stride == 1 {
        for (i, yi) in y.iter_mut().enumerate() {
            let start = i * a.row_stride;
            *yi += alpha * dot(&a.data[start..start + a.cols], x);
        }
    } else if a.row_stride == 1 {
        for (j, &xj) in x.iter().enumerate() {
            if xj == 0.0 {
                continue;
            }
            let start = j * a.col_stride;
            let scale = alpha * xj;
            for (yi, &aij) in y.iter_mut().zip(&a.data[start..start + a.rows]) {
                *yi += scale * aij;
            }
        }
    } else {
        for (i, yi) in y.iter_mut().enumerate() {
            let row = (0..a.cols).map(|j| a.data[i * a.row_stride + j * a.col_stride] * x[j]);
            *yi += alpha * row.sum::<f64>();
        }
    }
}

/// y ← a·x for a vector x that is zero outside `support` (the indices of its nonzero entries):
/// O(rows · |support|) instead of O(rows · cols), for the lasso's sparse coefficients.
///
/// # Panics
/// If the lengths do not conform or an index in `support` is out of range.
pub(crate) fn gemv_on_support(a: Strided<'_>, support: &[usize], x: &[f64], y: &mut [f64]) {
    assert!(x.len() == a.cols && y.len() == a.rows, "gemv shape mismatch");
    for (i, yi) in y.iter_mut().enumerate() {
        let row = &a.data[i * a.row_stride..];
        *yi = support.iter().map(|&j| row[j * a.col_stride] * x[j]).sum();
    }
}

/// Σ aᵢbᵢ with four running sums, so the compiler can keep them in vector registers.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut sums = [0.0; 4];
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (a4.remainder(), b4.remainder());
    for (u, v) in a4.zip(b4) {
        for k in 0..4 {
            sums[k] += u[k] * v[k];
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(u, v)| u * v).sum();
    (sums[0] + sums[1]) + (sums[2] + sums[3]) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_matches_a_naive_product_for_every_layout() {
        let (m, k, n) = (7, 5, 3);
        let a: Vec<f64> = (0..m * k).map(|v| (v as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|v| (v as f64 * 0.11).cos()).collect();
        // a row-major, b column-major, c column-major.
        let mut c = vec![1.0; m * n];
        gemm(
            2.0,
            Strided::new(&a, m, k, k, 1),
            Strided::new(&b, k, n, 1, k),
            0.5,
            StridedMut::new(&mut c, m, n, 1, m),
        );
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k).map(|l| a[i * k + l] * b[l + j * k]).sum();
                assert!((c[i + j * m] - (2.0 * dot + 0.5)).abs() < 1e-12);
            }
        }
        // The transpose view of a row-major matrix is its column-major reading.
        let at = Strided::new(&a, m, k, k, 1).t();
        assert_eq!((at.rows, at.cols, at.row_stride, at.col_stride), (k, m, 1, k));
    }

    #[test]
    fn gemv_matches_a_naive_product_for_every_layout() {
        let (m, k) = (9, 7);
        let a: Vec<f64> = (0..m * k).map(|v| (v as f64 * 0.37).sin()).collect();
        let x: Vec<f64> = (0..k).map(|v| (v as f64 * 0.11).cos()).collect();
        let expected: Vec<f64> =
            (0..m).map(|i| 2.0 * (0..k).map(|l| a[i * k + l] * x[l]).sum::<f64>() + 0.5).collect();
        let check = |a: Strided<'_>| {
            let mut y = vec![1.0; m];
            gemv(2.0, a, &x, 0.5, &mut y);
            for (got, want) in y.iter().zip(&expected) {
                assert!((got - want).abs() < 1e-12, "{got} vs {want}");
            }
        };
        // Row-major, the same matrix through a transpose view of its column-major twin, a
        // column-major copy, and a general stride (every other entry).
        check(Strided::new(&a, m, k, k, 1));
        let col_major: Vec<f64> = (0..m * k).map(|v| a[(v % m) * k + v / m]).collect();
        check(Strided::new(&col_major, k, m, m, 1).t());
        check(Strided::new(&col_major, m, k, 1, m));
        let spaced: Vec<f64> = a.iter().flat_map(|&v| [v, f64::NAN]).collect();
        check(Strided::new(&spaced[..2 * m * k - 1], m, k, 2 * k, 2));
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn operands_beyond_the_slice_are_refused() {
        let a = [0.0; 5];
        let _ = Strided::new(&a, 2, 3, 3, 1);
    }
}
