//! The CPU backend: f64 throughout, rows split into a fixed number of chunks run on rayon's pool.
//!
//! Kernel choice for S = Xᵀ diag(c) X (measured by `cargo bench --bench gram`, figures in
//! BENCHMARKS.md): per block of rows, the rows are scaled by cᵢ into a scratch block and S is
//! updated by one GEMM (matrixmultiply's packed, vectorised dgemm), reading X in place through
//! its strides. It computes the full p × p product, twice the flops of a symmetric rank-k
//! update, and still ran 2.4× (n = 100 000, p = 100) to 3.2× (n = 20 000, p = 300) faster
//! than a hand-written lower-triangle loop, and that while also computing η, the loss and the
//! gradient. η = Xβ and Xᵀ(w ⊙ ℓ') are matrix–vector products, done by `strided::gemv` in X's
//! storage order: through matrixmultiply they paid its packing of X for a single column (11–15%
//! of a lasso path's CPU time). faer's GEMM, timed on the same blocked product single-threaded, was 7–11% faster
//! (36 vs 33 GFLOP/s at 100 000 × 100, 48 vs 45 at 20 000 × 300); not enough to pay for a
//! dependency that alone takes longer to build than the rest of the crate.
//!
//! Determinism: the chunking depends only on (n, p), each chunk accumulates its rows in order
//! and the partial sums are added in chunk order, so a fit gives bit-identical results however
//! many threads rayon has.

use std::borrow::Cow;

use nalgebra::DMatrix;
use rayon::prelude::*;

use super::strided::{Strided, StridedMut, gemm, gemv, gemv_on_support};
use super::{Backend, BackendInfo, Needs, Stats};
use crate::data::Problem;
use crate::error::{Error, Result};

/// η is computed from the nonzero coefficients' columns alone where fewer than 1/this of them
/// are nonzero (a gathered product per stored coefficient costs a few contiguous ones).
const SPARSE_BETA_RATIO: usize = 8;

/// Rows per GEMM call: the reduction depth of each update, large enough for matrixmultiply's
/// packing to pay off, small enough that the scaled scratch block stays in cache for moderate p.
const BLOCK_ROWS: usize = 256;
/// Columns per band of the upper-triangle Gram: narrow bands skip more of the lower triangle,
/// wide ones keep each GEMM large enough to run at full speed.
const GRAM_BAND: usize = 64;

/// At most this many row chunks (and partial Gram matrices) per fit.
const MAX_CHUNKS: usize = 32;
/// A chunk has at least this many rows, so small problems run on one thread without overhead.
const MIN_CHUNK_ROWS: usize = 2048;
/// Cap on the memory held by the chunks' partial Gram matrices.
const PARTIAL_GRAM_BYTES: usize = 256 << 20;

/// What one pass over the rows computes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    Loss,
    Gradient,
    /// The weighted Gram with the EM weights ω̂ (`false`) or the exact curvature ℓ'' (`true`).
    Gram {
        exact_curvature: bool,
    },
}

/// One row chunk: its range, partial sums and scratch space (allocated once per fit; the
/// O(p²) Gram buffers only at the first pass that needs S, so a backend used for gradients alone
/// — a path's KKT checks, the Adam baseline, the f64 polish — never holds them).
struct Chunk {
    start: usize,
    len: usize,
    loss: f64,
    /// Xᵀ(w ⊙ ℓ') over the chunk's rows.
    grad: Vec<f64>,
    /// Σ wᵢ ℓ'ᵢ (the intercept's gradient).
    grad_ones: f64,
    /// Xᵀ diag(c) X over the chunk's rows, p × p column-major.
    gram: Vec<f64>,
    /// Xᵀ c (the intercept's row of S).
    gram_ones: Vec<f64>,
    /// Σ cᵢ.
    gram_ones_ones: f64,
    /// Σᵢ (|xᵢⱼ| uᵢ)² per coordinate (intercept last): the gradient's rounding-error scale for
    /// the families whose weight is unbounded (see [`rounding_error`]).
    error: Vec<f64>,
    eta: Vec<f64>,
    /// wᵢ ℓ'ᵢ for the current block.
    weighted_derivative: Vec<f64>,
    /// cᵢ = wᵢ ω̂ᵢ for the current block.
    weighted_precision: Vec<f64>,
    /// diag(c) X for the current block, column-major with leading dimension `BLOCK_ROWS`.
    scaled_rows: Vec<f64>,
}

/// The f64 CPU backend (see the module docs for the kernel).
pub struct CpuBackend<'a> {
    /// The problem's data: X borrowed, y, weights and offset borrowed until
    /// [`Backend::set_rows`] replaces them with owned copies.
    problem: Problem<'a>,
    intercept: bool,
    chunks: Vec<Chunk>,
    /// S when it does not depend on θ (gaussian: ω̂ = ℓ'' = 1, so S = XᵀWX/W): computed at the
    /// first request, or given by [`CpuBackend::with_gram`], then only copied.
    constant_gram: Option<DMatrix<f64>>,
}

impl<'a> CpuBackend<'a> {
    /// As [`CpuBackend::new`], with S = XᵀWX/W already known (gaussian only: its S does not
    /// depend on θ). A path computes it once and hands each point its block.
    pub fn with_gram(problem: &Problem<'a>, intercept: bool, gram: DMatrix<f64>) -> Self {
        let mut backend = Self::new(problem, intercept);
        if problem.family.has_constant_gram() {
            backend.constant_gram = Some(gram);
        }
        backend
    }

    /// Binds the backend to a checked problem; `intercept` appends a column of ones.
    pub fn new(problem: &Problem<'a>, intercept: bool) -> Self {
        let (n, p) = (problem.nrows(), problem.ncols());
        let memory_cap = (PARTIAL_GRAM_BYTES / (8 * p * p).max(1)).max(1);
        let n_chunks = n.div_ceil(MIN_CHUNK_ROWS).clamp(1, MAX_CHUNKS.min(memory_cap));
        let chunk_rows = n.div_ceil(n_chunks);
        let chunks = (0..n)
            .step_by(chunk_rows)
            .map(|start| Chunk {
                start,
                len: chunk_rows.min(n - start),
                loss: 0.0,
                grad: vec![0.0; p],
                grad_ones: 0.0,
                gram: Vec::new(),
                gram_ones: Vec::new(),
                gram_ones_ones: 0.0,
                error: vec![0.0; p + 1],
                eta: vec![0.0; BLOCK_ROWS],
                weighted_derivative: vec![0.0; BLOCK_ROWS],
                weighted_precision: vec![0.0; BLOCK_ROWS],
                scaled_rows: Vec::new(),
            })
            .collect();
        Self { problem: problem.clone(), intercept, chunks, constant_gram: None }
    }

    /// One pass over all rows, then the partial sums reduced in chunk order. Returns the mean
    /// loss; gradient and Gram go to `out` when `work` asks for them.
    fn pass(&mut self, theta: &[f64], work: Work, out: Option<&mut Stats>) -> f64 {
        let p = self.problem.ncols();
        let (beta, intercept) = (&theta[..p], if self.intercept { theta[p] } else { 0.0 });
        let problem = &self.problem;
        self.chunks
            .par_iter_mut()
            .for_each(|chunk| chunk.accumulate(problem, beta, intercept, work));

        let inv_w = 1.0 / problem.weight_sum;
        let loss = self.chunks.iter().map(|c| c.loss).sum::<f64>() * inv_w;
        let Some(out) = out else { return loss };
        out.loss = loss;
        out.gradient.fill(0.0);
        for c in &self.chunks {
            for j in 0..p {
                out.gradient[j] += c.grad[j] * inv_w;
            }
            if self.intercept {
                out.gradient[p] += c.grad_ones * inv_w;
            }
        }
        if let Work::Gram { .. } = work {
            out.gram.fill(0.0);
            for c in &self.chunks {
                // Upper triangle only; GEMM rounds (j, k) and (k, j) differently, so S is made
                // exactly symmetric by mirroring it below.
                for k in 0..p {
                    for j in 0..=k {
                        out.gram[(j, k)] += c.gram[j + k * p] * inv_w;
                    }
                }
                if self.intercept {
                    for j in 0..p {
                        out.gram[(j, p)] += c.gram_ones[j] * inv_w;
                    }
                    out.gram[(p, p)] += c.gram_ones_ones * inv_w;
                }
            }
            out.gram.fill_lower_triangle_with_upper_triangle();
        }
        loss
    }
}

/// Rounding errors per summed term, in units of the f64 unit roundoff (η's products and sums,
/// the E-step's functions), taken as adding up in the worst case.
const ROUNDINGS_PER_TERM: f64 = 4.0;

impl CpuBackend<'_> {
    /// The gradient's rounding-error scale, for families whose EM weight is unbounded (hinge and
    /// quantile near r = 0, ω̂ up to 1/(2·RESIDUAL_FLOOR)): there an error of ε|η| in η moves
    /// ℓ' by up to min(ω̂ ε|η|, 1), which in f64 is already ~1e-8 relative to ∇L, so the KKT
    /// violation cannot be pushed below it. Per coordinate
    /// ε √(Σᵢ (|xᵢⱼ| uᵢ)²) / W with uᵢ = wᵢ (|ℓ'ᵢ| + min(ω̂ᵢ Σⱼ|xᵢⱼθⱼ|, 1/ε)), as the GPU
    /// kernels report theirs. Random signs add in quadrature.
    fn rounding_error(&mut self, theta: &[f64], out: &mut Stats) {
        let problem = &self.problem;
        let p = problem.ncols();
        let (beta, b0) = (&theta[..p], if self.intercept { theta[p] } else { 0.0 });
        let roundoff = f64::EPSILON / 2.0;
        self.chunks.par_iter_mut().for_each(|chunk| {
            chunk.error.fill(0.0);
            for i in chunk.start..chunk.start + chunk.len {
                let offset = problem.offset_at(i);
                let (mut eta, mut magnitude) = (b0 + offset, b0.abs() + offset.abs());
                problem.x.for_row(i, |j, v| {
                    let term = v * beta[j];
                    eta += term;
                    magnitude += term.abs();
                });
                let e = problem.family.estep(problem.y[i], eta);
                let u = problem.weights[i]
                    * (e.derivative.abs() + (e.weight * magnitude).min(1.0 / roundoff));
                problem.x.for_row(i, |j, v| chunk.error[j] += (v * u).powi(2));
                chunk.error[p] += u * u;
            }
        });
        let scale = ROUNDINGS_PER_TERM * roundoff / problem.weight_sum;
        for j in 0..out.gradient_error.len() {
            let source = if j < p { j } else { p };
            out.gradient_error[j] =
                self.chunks.iter().map(|c| c.error[source]).sum::<f64>().sqrt() * scale;
        }
    }
}

impl Chunk {
    fn accumulate(&mut self, problem: &Problem<'_>, beta: &[f64], b0: f64, work: Work) {
        let p = problem.ncols();
        self.loss = 0.0;
        self.grad.fill(0.0);
        self.grad_ones = 0.0;
        if let Work::Gram { .. } = work {
            if self.gram.len() != p * p {
                self.gram = vec![0.0; p * p];
                self.gram_ones = vec![0.0; p];
                self.scaled_rows = vec![0.0; BLOCK_ROWS * p];
            }
            self.gram.fill(0.0);
            self.gram_ones.fill(0.0);
            self.gram_ones_ones = 0.0;
        }
        if problem.x.is_sparse() {
            self.accumulate_sparse(problem, beta, b0, work);
            return;
        }
        // Mostly zero coefficients (a lasso's, checked over every feature): η from the
        // nonzero ones' columns only.
        let support: Vec<usize> = (0..p).filter(|&j| beta[j] != 0.0).collect();
        let sparse_beta = support.len() * SPARSE_BETA_RATIO < p;
        let end = self.start + self.len;
        let mut block_start = self.start;
        while block_start < end {
            let len = BLOCK_ROWS.min(end - block_start);
            let x = problem.x.dense_rows(block_start, len).expect("a dense design");
            if sparse_beta {
                gemv_on_support(x, &support, beta, &mut self.eta[..len]);
            } else {
                gemv(1.0, x, beta, 0.0, &mut self.eta[..len]);
            }
            for r in 0..len {
                let i = block_start + r;
                let eta = self.eta[r] + b0 + problem.offset_at(i);
                let (loss, derivative, precision) = row_terms(problem, i, eta, work);
                self.loss += loss;
                self.weighted_derivative[r] = derivative;
                self.weighted_precision[r] = precision;
            }
            if work != Work::Loss {
                let wd = &self.weighted_derivative[..len];
                gemv(1.0, x.t(), wd, 1.0, &mut self.grad);
                self.grad_ones += wd.iter().sum::<f64>();
            }
            if let Work::Gram { .. } = work {
                let c = &self.weighted_precision[..len];
                for j in 0..p {
                    let column = &mut self.scaled_rows[j * BLOCK_ROWS..j * BLOCK_ROWS + len];
                    for (r, s) in column.iter_mut().enumerate() {
                        *s = c[r] * problem.x.get(block_start + r, j);
                    }
                }
                let scaled = Strided::new(&self.scaled_rows, len, p, 1, BLOCK_ROWS);
                // Only the upper triangle is read (S is symmetric): one GEMM per band of
                // GRAM_BAND columns, over the rows above the band's end, does about half the
                // flops of the full product (what a BLAS SYRK saves).
                let mut k0 = 0;
                while k0 < p {
                    let k1 = (k0 + GRAM_BAND).min(p);
                    gemm(
                        1.0,
                        x.t().block(0, k1, 0, len),
                        scaled.block(0, len, k0, k1 - k0),
                        1.0,
                        StridedMut::new(&mut self.gram[k0 * p..], k1, k1 - k0, 1, p),
                    );
                    k0 = k1;
                }
                gemv(1.0, x.t(), c, 1.0, &mut self.gram_ones);
                self.gram_ones_ones += self.weighted_precision[..len].iter().sum::<f64>();
            }
            block_start += len;
        }
    }
}

/// Row `i`'s terms at η, weighted: the loss, ℓ' and the curvature of S (ω̂, or ℓ'' for the
/// Hessian) — what the dense and sparse kernels add up. With `Work::Loss` only the loss, by its
/// fitted definition.
#[inline]
fn row_terms(problem: &Problem<'_>, i: usize, eta: f64, work: Work) -> (f64, f64, f64) {
    let (w, y, family) = (problem.weights[i], problem.y[i], problem.family);
    if work == Work::Loss {
        return (w * family.fitted_loss(y, eta), 0.0, 0.0);
    }
    let e = family.estep(y, eta);
    let precision = match work {
        Work::Gram { exact_curvature: true } => e.curvature,
        _ => e.weight,
    };
    (w * e.loss, w * e.derivative, w * precision)
}

impl Chunk {
    /// [`Chunk::accumulate`] for a sparse design, row by row over the stored entries: η and
    /// the gradient cost O(nnz), S the sum of each row's outer product, O(Σᵢ nnzᵢ²) (upper
    /// triangle only, like the dense kernel).
    fn accumulate_sparse(&mut self, problem: &Problem<'_>, beta: &[f64], b0: f64, work: Work) {
        let (p, x) = (problem.ncols(), problem.x);
        let mut entries: Vec<(usize, f64)> = Vec::new();
        for i in self.start..self.start + self.len {
            let eta = x.row_dot(i, beta) + b0 + problem.offset_at(i);
            let (loss, derivative, c) = row_terms(problem, i, eta, work);
            self.loss += loss;
            if work == Work::Loss {
                continue;
            }
            x.for_row(i, |j, v| self.grad[j] += derivative * v);
            self.grad_ones += derivative;
            if let Work::Gram { .. } = work {
                if c == 0.0 {
                    continue;
                }
                entries.clear();
                x.for_row(i, |j, v| entries.push((j, v)));
                for (b, &(k, vk)) in entries.iter().enumerate() {
                    let ck = c * vk;
                    let column = &mut self.gram[k * p..(k + 1) * p];
                    // Stored columns increase within a row, so (j, k) with j ≤ k is the upper
                    // triangle.
                    for &(j, vj) in &entries[..=b] {
                        column[j] += ck * vj;
                    }
                    self.gram_ones[k] += ck;
                }
                self.gram_ones_ones += c;
            }
        }
    }
}

impl Backend for CpuBackend<'_> {
    fn dim(&self) -> usize {
        self.problem.ncols() + usize::from(self.intercept)
    }

    fn evaluate(&mut self, theta: &[f64], needs: Needs, out: &mut Stats) -> Result<()> {
        let work = match needs {
            Needs::Gradient => Work::Gradient,
            Needs::GradientAndGram => Work::Gram { exact_curvature: false },
            Needs::GradientAndHessian => Work::Gram { exact_curvature: true },
        };
        let constant = self.problem.family.has_constant_gram();
        match (self.constant_gram.take(), work) {
            (Some(gram), Work::Gram { .. }) => {
                // S is known: one pass for the loss and gradient, S copied into place.
                self.pass(theta, Work::Gradient, Some(out));
                out.gram.copy_from(&gram);
                self.constant_gram = Some(gram);
            }
            (cached, _) => {
                self.constant_gram = cached;
                self.pass(theta, work, Some(out));
                if constant && matches!(work, Work::Gram { .. }) {
                    self.constant_gram = Some(out.gram.clone());
                }
            }
        }
        if self.problem.family.has_unbounded_weight() {
            self.rounding_error(theta, out);
        }
        Ok(())
    }

    fn loss(&mut self, theta: &[f64]) -> Result<f64> {
        Ok(self.pass(theta, Work::Loss, None))
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: "cpu",
            device: format!("cpu f64 ({} threads)", rayon::current_num_threads()),
        }
    }

    fn exact(&self) -> bool {
        true
    }

    fn set_rows(&mut self, problem: &Problem<'_>) -> Result<()> {
        if problem.nrows() != self.problem.nrows() || problem.ncols() != self.problem.ncols() {
            return Err(Error::Backend {
                backend: "cpu".into(),
                reason: format!(
                    "set_rows got a {} × {} problem for a backend holding {} × {}",
                    problem.nrows(),
                    problem.ncols(),
                    self.problem.nrows(),
                    self.problem.ncols()
                ),
            });
        }
        self.problem = Problem {
            x: self.problem.x,
            y: Cow::Owned(problem.y.to_vec()),
            weights: Cow::Owned(problem.weights.to_vec()),
            offset: problem.offset.as_ref().map(|o| Cow::Owned(o.to_vec())),
            ..*problem
        };
        // A constant S belongs to the old weights.
        self.constant_gram = None;
        Ok(())
    }

    fn gram_with_weights(&mut self, weights: &[f64], gram: &mut DMatrix<f64>) -> Result<()> {
        let (n, p) = (self.problem.nrows(), self.problem.ncols());
        let dim = p + usize::from(self.intercept);
        if weights.len() != n || gram.shape() != (dim, dim) {
            return Err(Error::Backend {
                backend: "cpu".into(),
                reason: format!(
                    "gram_with_weights got {} weights and a {:?} matrix for {n} rows and {dim} \
                     coordinates",
                    weights.len(),
                    gram.shape()
                ),
            });
        }
        // One f64 row-by-row sum in a fixed order: this serves the f64 finish of small fits,
        // not the E-step's hot path.
        let x = self.problem.x;
        let inv_w = 1.0 / self.problem.weight_sum;
        gram.fill(0.0);
        let mut entries: Vec<(usize, f64)> = Vec::with_capacity(dim);
        for (i, &c) in weights.iter().enumerate() {
            if c == 0.0 {
                continue;
            }
            // The row's entries in increasing column order (the intercept's 1 last).
            entries.clear();
            x.for_row(i, |j, v| entries.push((j, v)));
            if self.intercept {
                entries.push((p, 1.0));
            }
            for (b, &(k, vk)) in entries.iter().enumerate() {
                let ck = c * vk;
                for &(j, vj) in &entries[..=b] {
                    gram[(j, k)] += ck * vj;
                }
            }
        }
        for k in 0..dim {
            for j in 0..=k {
                gram[(j, k)] *= inv_w;
            }
        }
        gram.fill_lower_triangle_with_upper_triangle();
        Ok(())
    }
}

impl CpuBackend<'_> {
    /// Per row, cᵢ = wᵢ ω̂ᵢ (or wᵢ ℓ''ᵢ with [`Needs::GradientAndHessian`]) at `theta`, from η
    /// computed in f64 row by row: the weights of S that [`PolishBackend`] hands to a rounding
    /// backend's [`Backend::gram_with_weights`].
    ///
    /// [`PolishBackend`]: super::PolishBackend
    pub(crate) fn row_weights(&self, theta: &[f64], needs: Needs, out: &mut [f64]) {
        let problem = &self.problem;
        let p = problem.ncols();
        let b0 = if self.intercept { theta[p] } else { 0.0 };
        for (i, c) in out.iter_mut().enumerate() {
            let eta = b0 + problem.offset_at(i) + problem.x.row_dot(i, &theta[..p]);
            let e = problem.family.estep(problem.y[i], eta);
            let weight = if needs == Needs::GradientAndHessian { e.curvature } else { e.weight };
            *c = problem.weights[i] * weight;
        }
    }
}
