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
    #[should_panic(expected = "out of bounds")]
    fn operands_beyond_the_slice_are_refused() {
        let a = [0.0; 5];
        let _ = Strided::new(&a, 2, 3, 3, 1);
    }
}
