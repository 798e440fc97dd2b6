//! The exact optimum of a hinge or quantile ridge, found from a point near it by solving for
//! the rows at the kink (docs/sm-em.md §9, "The exact finish of hinge and quantile").
//!
//! Both losses are piecewise linear in η with one kink, at tᵢ (hinge: ηᵢ = yᵢ, the margin;
//! quantile: ηᵢ = yᵢ). With gᵢ = −ℓ'(ηᵢ) — a constant on each side of the kink (g_below where
//! ηᵢ < tᵢ, g_above where ηᵢ > tᵢ) and anything in [g_above, g_below] on it — the optimum of
//!
//! ```text
//! F = (1/W) Σ wᵢ ℓ(yᵢ, ηᵢ) + ½ Σⱼ ridgeⱼ βⱼ² + ½ ρ₀ b₀²
//! ```
//!
//! is β = Λ⁻¹Xᵀu, ρ₀b₀ = Σ uᵢ with uᵢ = wᵢgᵢ/W. Given which rows sit on the kink (the set S),
//! their uᵢ and b₀ solve the linear system ηᵢ = tᵢ (i ∈ S) with Σ uᵢ = ρ₀b₀:
//!
//! ```text
//! [ K_SS  1 ] [u_S]   [t_S − o_S − X_S Λ⁻¹ Xᵀ u_rest]
//! [ 1ᵀ  −ρ₀ ] [b₀ ] = [−Σ u_rest                    ]      K_SS = X_S Λ⁻¹ X_Sᵀ
//! ```
//!
//! and the guess of S is right when every gᵢ on the kink lies in its interval and every other
//! row lies on the side its gᵢ assumed. SM-EM's iterations on the smoothed loss approach the
//! kink rows geometrically (thousands of iterations where most rows end on the kink, as on a
//! separable wide design); their iterate names S long before that, and this solve, an
//! active-set method on the rows (rows whose gᵢ leaves its interval leave S at the bound they
//! crossed, rows on the wrong side join it, the farthest first; S never holds more than the d
//! coordinates' worth of rows, since more make K_SS singular), ends at the optimum of the exact
//! loss itself, to rounding: no ε smoothing left. Small systems are factored; beyond
//! [`DIRECT_ROWS`] rows the system is solved by conjugate gradients on products with the kink
//! rows ([`KinkRows`]), O(nnz(X_S)) a product where the factorization costs |S|³, and factored
//! only where CG does not reach the products' rounding.
//!
//! Without S, a fit's start comes from coordinate descent on the dual of the same problem
//! ([`dual_coordinate_start`]): its u are the kink rows' values, and the finish from there
//! settles without SM-EM's iterations on the smoothed loss.

use nalgebra::DMatrix;

use crate::data::{Design, Problem};
use crate::family::Family;
use crate::penalty::PenaltyTerms;

/// A row is first taken to be on the kink where |ηᵢ − tᵢ| is below this, relative to
/// max(1, |tᵢ|) (the nearest d such rows at most); the active-set steps correct the guess.
const KINK_GUESS: f64 = 1e-4;
/// gᵢ may leave its interval, and a row cross to the wrong side, by this much (relative to the
/// interval's width, and to max(1, |tᵢ|)) before the guess of S is changed: rounding.
const SLACK: f64 = 1e-9;
/// Active-set steps before the finish gives up (the run's own solution then stands).
const MAX_STEPS: usize = 50;
/// Most rows on the kink whose (|S| + 1)² system the finish factors where conjugate gradients
/// do not solve it (an LU of 2 048 rows takes about a second on one core; beyond it the run's
/// own iterations go on).
const MAX_KINK_ROWS: usize = 2048;
/// Kink systems up to this size are factored (dense LU) without trying conjugate gradients.
const DIRECT_ROWS: usize = 128;
/// The kink rows' largest |ηᵢ − tᵢ| (relative to max(1, max |tᵢ|)) at which conjugate gradients
/// have solved the system: rounding, far inside the side checks' [`SLACK`].
const KINK_RESIDUAL: f64 = 1e-13;
/// Roundings of a product with K_SS that its residual may keep (of its terms' magnitude).
const ROUNDINGS: f64 = 4.0;
/// The fraction of the accepted residual (the larger of [`KINK_RESIDUAL`] and the products'
/// rounding bound) that conjugate gradients aim at: the bound is a worst case, the residual
/// usually goes a decade below it, and F with it (a 20 000 × 50 000 text SVM: 5e-12 above the
/// optimum stopping at the bound, 1e-13 at a sixteenth of it, for a tenth more time).
const KINK_AIM: f64 = 1.0 / 16.0;
/// Runs of conjugate gradients on one kink system, each from the true residual of the last.
const CG_RESTARTS: usize = 5;
/// Conjugate-gradient iterations on the kink system at most, over its size plus this.
const CG_EXTRA_ITERATIONS: usize = 50;
/// The diagonal loading of K_SS, relative to its largest diagonal entry.
const LOADING: f64 = 1e-13;

/// Where a row sits relative to its kink.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    /// ηᵢ < tᵢ: gᵢ = g_below.
    Below,
    /// ηᵢ > tᵢ: gᵢ = g_above.
    Above,
    /// ηᵢ = tᵢ: gᵢ solved for.
    Kink,
}

/// The exact finish's result.
pub(crate) struct KinkSolution {
    /// (β, b₀), the intercept last where there is one.
    pub theta: Vec<f64>,
    /// The largest stationarity residual |ridgeⱼβⱼ − (1/W)Σ wᵢgᵢxᵢⱼ| (and the intercept's),
    /// recomputed from X with the solved subgradients: the KKT violation of the exact loss.
    pub violation: f64,
    /// The scale that violation is measured against: max(1, the largest |(Xᵀu)ⱼ|).
    pub scale: f64,
    /// Rows on the kink at the optimum.
    pub kink_rows: usize,
    /// uᵢ = wᵢgᵢ/W per row: the subgradients, the same in any coordinates of the features.
    pub row_subgradients: Vec<f64>,
    /// Whether the last system was solved by conjugate gradients on the rows (else factored).
    pub iterative: bool,
}

/// One row's kink: its target tᵢ and the subgradient on either side.
struct RowKink {
    target: f64,
    below: f64,
    above: f64,
}

fn row_kink(family: Family, y: f64) -> Option<RowKink> {
    match family {
        Family::Hinge => {
            let s = family.label_as_fitted(y);
            // ℓ = max(0, 1 − sη): g = s where sη < 1. For s = 1 that is η < 1 (below), for
            // s = −1 η > −1 (above).
            Some(if s > 0.0 {
                RowKink { target: 1.0, below: 1.0, above: 0.0 }
            } else {
                RowKink { target: -1.0, below: 0.0, above: -1.0 }
            })
        }
        Family::Quantile { q } => Some(RowKink { target: y, below: q, above: q - 1.0 }),
        _ => None,
    }
}

/// The exact optimum of `problem`'s hinge or quantile loss with the ridge `terms` (every
/// feature's ridge > 0, no ℓ₁ part), found from `theta` by the active-set solve of the module
/// docs. `kernel`, where given, is K = XΛ⁻¹Xᵀ over every row for these X and ridge (the n × n
/// dual's): K_SS is then read from it instead of computed. `subgradients`, where given, are the
/// rows' uᵢ = wᵢgᵢ/W near θ (a dual method's), the first guess of the kink rows' values where
/// the smoothed loss's are otherwise taken. `None` where the family is another, the penalty
/// does not apply, the kink rows are more than [`MAX_KINK_ROWS`], a system is singular, or the
/// steps do not settle.
pub(crate) fn exact_optimum(
    problem: &Problem<'_>,
    intercept: bool,
    terms: &PenaltyTerms,
    theta: &[f64],
    kernel: Option<&DMatrix<f64>>,
    subgradients: Option<&[f64]>,
) -> Option<KinkSolution> {
    let (n, p) = (problem.nrows(), problem.ncols());
    let family = problem.family;
    if terms.has_lasso() || !terms.ridge[..p].iter().all(|&r| r > 0.0 && r.is_finite()) {
        return None;
    }
    let kinks: Vec<RowKink> =
        problem.y.iter().map(|&y| row_kink(family, y)).collect::<Option<_>>()?;
    let inverse_ridge: Vec<f64> = terms.ridge[..p].iter().map(|r| 1.0 / r).collect();
    let intercept_ridge = if intercept { terms.ridge[p] } else { 0.0 };
    let x = &problem.x;
    let inv_w = 1.0 / problem.weight_sum;
    let scale = |i: usize| kinks[i].target.abs().max(1.0);

    let start_b0 = if intercept { theta[p] } else { 0.0 };
    let mut eta = problem.linear_predictor(&theta[..p], start_b0);
    let mut side: Vec<Side> =
        (0..n).map(|i| if eta[i] < kinks[i].target { Side::Below } else { Side::Above }).collect();
    // At most d rows are on the kink at an optimum in general position (their equations fix
    // the d coordinates; more make K_SS singular): the nearest within the guess's reach.
    let capacity = p + usize::from(intercept);
    let mut near: Vec<(f64, usize)> = (0..n)
        .filter(|&i| problem.weights[i] > 0.0)
        .map(|i| ((eta[i] - kinks[i].target).abs() / scale(i), i))
        .filter(|&(gap, _)| gap <= KINK_GUESS)
        .collect();
    near.sort_by(|a, b| a.0.total_cmp(&b.0));
    for &(_, i) in near.iter().take(capacity) {
        side[i] = Side::Kink;
    }
    // The given subgradients, else the smoothed loss's at θ: the kink rows' first guess for
    // the iterative solve.
    let mut g: Vec<f64> = (0..n)
        .map(|i| {
            let weight = problem.weights[i];
            let g = match subgradients {
                Some(u) if weight > 0.0 => u[i] * problem.weight_sum / weight,
                _ => -family.estep(problem.y[i], eta[i]).derivative,
            };
            g.clamp(kinks[i].above, kinks[i].below)
        })
        .collect();
    // b₀ from θ, then each step's: the next CG solve's guess.
    let mut b0 = start_b0;
    let mut by_cg;
    for _ in 0..MAX_STEPS {
        let set: Vec<usize> = (0..n).filter(|&i| side[i] == Side::Kink).collect();
        // The fixed rows' u, and their part of the kink rows' η: X_S Λ⁻¹ Xᵀ u_rest.
        let mut u: Vec<f64> = (0..n)
            .map(|i| match side[i] {
                Side::Below => problem.weights[i] * kinks[i].below * inv_w,
                Side::Above => problem.weights[i] * kinks[i].above * inv_w,
                Side::Kink => 0.0,
            })
            .collect();
        let beta_rest = ridge_back(x, &inverse_ridge, &u);
        let k = set.len();
        let targets: Vec<f64> = set
            .iter()
            .map(|&i| kinks[i].target - problem.offset_at(i) - x.row_dot(i, &beta_rest))
            .collect();
        let border = intercept.then(|| (intercept_ridge, -u.iter().sum::<f64>()));
        let guess: Vec<f64> = set.iter().map(|&i| problem.weights[i] * g[i] * inv_w).collect();
        let iterative = (kernel.is_none() && k > DIRECT_ROWS)
            .then(|| KinkRows { x, inverse_ridge: &inverse_ridge, set: &set })
            .and_then(|rows| rows.solve(&targets, border, (guess, b0)));
        by_cg = iterative.is_some();
        let solved = match iterative {
            Some(solved) => solved,
            None if k > MAX_KINK_ROWS => return None,
            None => direct_solve(x, &inverse_ridge, &set, kernel, &targets, border)?,
        };
        let (solved, b0_solved) = solved;
        if solved.iter().any(|v| !v.is_finite()) || !b0_solved.is_finite() {
            return None;
        }
        b0 = b0_solved;
        for (a, &i) in set.iter().enumerate() {
            u[i] = solved[a];
        }
        // Kink rows whose subgradient left its interval leave S at the bound they crossed.
        let mut changed = false;
        for &i in &set {
            let gi = u[i] / (problem.weights[i] * inv_w);
            let (lo, hi) = (kinks[i].above, kinks[i].below);
            let slack = SLACK * (hi - lo);
            if gi > hi + slack {
                side[i] = Side::Below;
                changed = true;
            } else if gi < lo - slack {
                side[i] = Side::Above;
                changed = true;
            }
            g[i] = gi.clamp(lo, hi);
        }
        if changed {
            continue;
        }
        for i in 0..n {
            match side[i] {
                Side::Below => g[i] = kinks[i].below,
                Side::Above => g[i] = kinks[i].above,
                Side::Kink => {}
            }
            u[i] = problem.weights[i] * g[i] * inv_w;
        }
        let beta = ridge_back(x, &inverse_ridge, &u);
        eta = problem.linear_predictor(&beta, b0);
        // Rows on the wrong side of their kink join S, the farthest first, up to d rows.
        let mut wrong: Vec<(f64, usize)> = (0..n)
            .filter(|&i| problem.weights[i] > 0.0)
            .filter_map(|i| {
                let gap = (eta[i] - kinks[i].target) / scale(i);
                let beyond = match side[i] {
                    Side::Below => gap,
                    Side::Above => -gap,
                    Side::Kink => 0.0,
                };
                (beyond > SLACK).then_some((beyond, i))
            })
            .collect();
        wrong.sort_by(|a, b| b.0.total_cmp(&a.0));
        let room = capacity.saturating_sub(set.len()).max(1);
        for &(_, i) in wrong.iter().take(room) {
            side[i] = Side::Kink;
            changed = true;
        }
        if changed {
            continue;
        }
        let (violation, scale) = stationarity(problem, terms, &beta, b0, intercept, &u);
        let mut theta = beta;
        if intercept {
            theta.push(b0);
        }
        let kink_rows = side.iter().filter(|&&s| s == Side::Kink).count();
        return Some(KinkSolution {
            theta,
            violation,
            scale,
            kink_rows,
            row_subgradients: u,
            iterative: by_cg,
        });
    }
    log::debug!("the kink rows' active set did not settle in {MAX_STEPS} steps");
    None
}

/// The kink system of the module docs factored whole (LU): K_SS from the dual's `kernel` where
/// given, else from the rows; `border` = (ρ₀, −Σ u_rest) where the model has an intercept.
/// Returns (u_S, b₀).
fn direct_solve(
    x: &Design<'_>,
    inverse_ridge: &[f64],
    set: &[usize],
    kernel: Option<&DMatrix<f64>>,
    targets: &[f64],
    border: Option<(f64, f64)>,
) -> Option<(Vec<f64>, f64)> {
    let k = set.len();
    let size = k + usize::from(border.is_some());
    if size == 0 {
        // No row on the kink and no intercept: nothing to solve for.
        return Some((Vec::new(), 0.0));
    }
    let mut system = DMatrix::zeros(size, size);
    match kernel {
        Some(full) => {
            for (b, &j) in set.iter().enumerate() {
                for (a, &i) in set.iter().enumerate() {
                    system[(a, b)] = full[(i, j)];
                }
            }
        }
        None => {
            let block = kernel_block(x, inverse_ridge, set);
            system.view_mut((0, 0), (k, k)).copy_from(&block);
        }
    }
    let mut rhs = nalgebra::DVector::zeros(size);
    rhs.rows_mut(0, k).copy_from_slice(targets);
    if let Some((ridge, sum)) = border {
        for a in 0..k {
            system[(a, k)] = 1.0;
            system[(k, a)] = 1.0;
        }
        system[(k, k)] = -ridge;
        rhs[k] = sum;
    }
    // Rows with the same entries (short documents) or none make K_SS singular, and their split
    // of the subgradient is then not unique: a diagonal loading far below the side checks'
    // slack picks one.
    let solved = match system.clone().lu().solve(&rhs) {
        Some(solved) => solved,
        None => {
            let largest = (0..k).map(|a| system[(a, a)]).fold(0.0_f64, f64::max).max(1.0);
            for a in 0..k {
                system[(a, a)] += LOADING * largest;
            }
            system.lu().solve(&rhs)?
        }
    };
    let b0 = if border.is_some() { solved[k] } else { 0.0 };
    Some((solved.rows(0, k).iter().copied().collect(), b0))
}

/// The rows on the kink, for products with K_SS = X_S Λ⁻¹ X_Sᵀ without forming it: one scatter
/// and one gather over the rows' stored entries (O(nnz(X_S)) a product, where the LU of K_SS
/// costs |S|³: a 1 548-row system of a 2 000 × 5 000 text design took 80% of its fit in LU).
struct KinkRows<'x, 'a> {
    x: &'x Design<'a>,
    inverse_ridge: &'x [f64],
    set: &'x [usize],
}

impl KinkRows<'_, '_> {
    /// out = K_SS v, with `scratch` (p entries, zero on entry and on return) for Λ⁻¹X_Sᵀv; with
    /// `magnitude`, |X_S| Λ⁻¹ |X_S|ᵀ |v| instead: the scale of the product's rounding.
    fn times(&self, v: &[f64], magnitude: bool, scratch: &mut [f64], out: &mut [f64]) {
        let term = |value: f64, factor: f64| {
            if magnitude { (value * factor).abs() } else { value * factor }
        };
        for (&i, &va) in self.set.iter().zip(v) {
            if va != 0.0 {
                self.x.for_row(i, |j, value| scratch[j] += term(value, va));
            }
        }
        for (o, &i) in out.iter_mut().zip(self.set) {
            let mut sum = 0.0;
            self.x.for_row(i, |j, value| sum += term(value, self.inverse_ridge[j] * scratch[j]));
            *o = sum;
        }
        for &i in self.set {
            self.x.for_row(i, |j, _| scratch[j] = 0.0);
        }
    }

    /// The kink system solved by conjugate gradients on K_SS: without an intercept K_SS u = t
    /// from the guess of u; with one, K_SS x₂ = 1 and K_SS x₁ = t (from u + b₀x₂ for the
    /// guesses of u and b₀), then b₀ = (1ᵀx₁ − c)/(1ᵀx₂ + ρ₀) and u = x₁ − b₀x₂ (c = −Σ
    /// u_rest: the bordered system's Schur complement, two SPD solves rather than one
    /// indefinite one). `None` where the kink rows' residual |t − K_SS u − b₀1| does not reach
    /// [`KINK_RESIDUAL`] or the products' rounding: the caller then factors the system.
    fn solve(
        &self,
        targets: &[f64],
        border: Option<(f64, f64)>,
        (guess, b0_guess): (Vec<f64>, f64),
    ) -> Option<(Vec<f64>, f64)> {
        let k = self.set.len();
        let mut scratch = vec![0.0; self.inverse_ridge.len()];
        let diagonal: Vec<f64> = self
            .set
            .iter()
            .map(|&i| {
                let mut d = 0.0;
                self.x.for_row(i, |j, v| d += v * v * self.inverse_ridge[j]);
                d
            })
            .collect();
        if diagonal.iter().any(|&d| !(d > 0.0 && d.is_finite())) {
            return None; // an empty row on the kink: the factored system's loading handles it
        }
        // The residual CG aims at: KINK_RESIDUAL of the targets, or where that is below it the
        // rounding of the products at the iterate (each ηᵢ a sum of terms far larger than
        // itself), measured as the iterations go.
        let scale = targets.iter().fold(1.0_f64, |a, t| a.max(t.abs()));
        let floor = KINK_RESIDUAL * scale;
        let (u, b0) = match border {
            None => (self.conjugate_gradients(targets, guess, &diagonal, floor, &mut scratch), 0.0),
            Some((ridge, c)) => {
                let ones = vec![1.0; k];
                let x2 =
                    self.conjugate_gradients(&ones, vec![0.0; k], &diagonal, floor, &mut scratch);
                let start = guess.iter().zip(&x2).map(|(u, x)| u + b0_guess * x).collect();
                let mut u =
                    self.conjugate_gradients(targets, start, &diagonal, floor, &mut scratch);
                let b0 = (u.iter().sum::<f64>() - c) / (x2.iter().sum::<f64>() + ridge);
                u.iter_mut().zip(&x2).for_each(|(u, x)| *u -= b0 * x);
                (u, b0)
            }
        };
        // The true residual, recomputed: the recurrences drift from it.
        let mut product = vec![0.0; k];
        self.times(&u, false, &mut scratch, &mut product);
        let worst =
            targets.iter().zip(&product).fold(0.0_f64, |a, (t, p)| a.max((t - p - b0).abs()));
        let rounding = self.rounding(&u, &mut scratch, &mut product);
        log::debug!(
            "CG on {k} kink rows: residual {worst:e} (floor {floor:e}, rounding {rounding:e})"
        );
        // A NaN residual fails too.
        if worst.is_nan() || worst > floor.max(rounding) {
            log::debug!("CG on {k} kink rows ended at residual {worst:e}: factoring instead");
            return None;
        }
        Some((u, b0))
    }

    /// The rounding of K_SS's product with `u`: [`ROUNDINGS`] of the largest sum of its terms'
    /// magnitudes.
    fn rounding(&self, u: &[f64], scratch: &mut [f64], product: &mut [f64]) -> f64 {
        self.times(u, true, scratch, product);
        product.iter().fold(0.0_f64, |a, m| a.max(m.abs())) * ROUNDINGS * f64::EPSILON
    }

    /// K_SS u = `rhs` by conjugate gradients with the Jacobi preconditioner `diagonal`, from
    /// `start`, until the residual's largest entry is below [`KINK_AIM`] of `floor`, or of the
    /// rounding of the products at the iterate where that is larger (or [`CG_RESTARTS`] runs
    /// end: the caller checks the result).
    fn conjugate_gradients(
        &self,
        rhs: &[f64],
        start: Vec<f64>,
        diagonal: &[f64],
        floor: f64,
        scratch: &mut [f64],
    ) -> Vec<f64> {
        let k = rhs.len();
        let mut u = start;
        let mut product = vec![0.0; k];
        for _ in 0..CG_RESTARTS {
            // Each restart from the true residual: near the products' rounding the recurrence's
            // residual has drifted from it, and its directions have lost conjugacy.
            let tolerance = KINK_AIM * floor.max(self.rounding(&u, scratch, &mut product));
            self.times(&u, false, scratch, &mut product);
            let residual: Vec<f64> = rhs.iter().zip(&product).map(|(r, p)| r - p).collect();
            if residual.iter().fold(0.0_f64, |a, r| a.max(r.abs())) <= tolerance {
                break;
            }
            u = self.conjugate_gradient_run(u, residual, diagonal, tolerance, scratch);
        }
        u
    }

    /// One run of preconditioned CG from `u` with its residual `residual`, for at most |S| +
    /// [`CG_EXTRA_ITERATIONS`] iterations or until the recurrence's residual is below
    /// `tolerance`.
    fn conjugate_gradient_run(
        &self,
        mut u: Vec<f64>,
        mut residual: Vec<f64>,
        diagonal: &[f64],
        tolerance: f64,
        scratch: &mut [f64],
    ) -> Vec<f64> {
        let k = u.len();
        let mut product = vec![0.0; k];
        let mut z: Vec<f64> = residual.iter().zip(diagonal).map(|(r, d)| r / d).collect();
        let mut direction = z.clone();
        let mut rz: f64 = residual.iter().zip(&z).map(|(r, z)| r * z).sum();
        for _ in 0..k + CG_EXTRA_ITERATIONS {
            if residual.iter().fold(0.0_f64, |a, r| a.max(r.abs())) <= tolerance {
                break;
            }
            self.times(&direction, false, scratch, &mut product);
            let curvature: f64 = direction.iter().zip(&product).map(|(d, p)| d * p).sum();
            if !(curvature > 0.0 && curvature.is_finite()) {
                break;
            }
            let step = rz / curvature;
            for a in 0..k {
                u[a] += step * direction[a];
                residual[a] -= step * product[a];
            }
            z.iter_mut().zip(&residual).zip(diagonal).for_each(|((z, r), d)| *z = r / d);
            let rz_next: f64 = residual.iter().zip(&z).map(|(r, z)| r * z).sum();
            let beta = rz_next / rz;
            rz = rz_next;
            direction.iter_mut().zip(&z).for_each(|(d, z)| *d = z + beta * *d);
        }
        u
    }
}

/// Epochs (passes over the rows in a random order) of [`dual_coordinate_start`] at most.
const DUAL_EPOCHS: usize = 200;
/// [`dual_coordinate_start`] stops where no row's projected dual gradient exceeds this,
/// relative to max(1, |tᵢ|): below [`KINK_GUESS`], so the rows it leaves within that reach of
/// their kinks are the kink rows' first guess.
const DUAL_GRADIENT: f64 = 1e-5;

/// A start for the exact finish of a hinge or quantile ridge on a CSR or dense design: coordinate
/// descent on its dual (Hsieh et al. 2008, liblinear's solver for linear SVMs), O(nnz of the
/// row) a coordinate. With uᵢ = wᵢgᵢ/W in its box [wᵢ g_above/W, wᵢ g_below/W] and
/// β = Λ⁻¹Xᵀu, it minimizes
///
/// ```text
/// ½ uᵀ X Λ⁻¹ Xᵀ u − Σ uᵢ (tᵢ − oᵢ)
/// ```
///
/// whose gradient in uᵢ is ηᵢ − tᵢ: each step moves one row's u to its box-clipped
/// minimizer. An unpenalized intercept is carried as a feature of constant 1 with the
/// features' mean ridge (as liblinear's bias): the start is near, not at, the optimum, and the
/// run's stages and the active-set solve (which hold b₀ unpenalized) take it the rest of the
/// way. Its iterates name the kink rows where the smoothed loss's EM steps, whose weights grow
/// without bound on those rows, need hundreds of CG products each.
///
/// `None` where the design is CSC, the family not hinge or quantile, or the penalty has an
/// ℓ₁ part or a feature without a ridge.
pub(crate) fn dual_coordinate_start(
    problem: &Problem<'_>,
    intercept: bool,
    terms: &PenaltyTerms,
) -> Option<DualStart> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;

    let (n, p) = (problem.nrows(), problem.ncols());
    let x = &problem.x;
    // A CSC design's rows are found by a search in every column.
    if x.is_sparse() && x.csr_arrays().is_none() {
        return None;
    }
    if terms.has_lasso() || !terms.ridge[..p].iter().all(|&r| r > 0.0 && r.is_finite()) {
        return None;
    }
    let kinks: Vec<RowKink> =
        problem.y.iter().map(|&y| row_kink(problem.family, y)).collect::<Option<_>>()?;
    let inverse_ridge: Vec<f64> = terms.ridge[..p].iter().map(|r| 1.0 / r).collect();
    // The intercept's ridge: its own where it has one, else the features' mean.
    let bias_inverse = match intercept {
        false => 0.0,
        true if terms.ridge[p] > 0.0 => 1.0 / terms.ridge[p],
        true => p as f64 / terms.ridge[..p].iter().sum::<f64>(),
    };
    let inv_w = 1.0 / problem.weight_sum;
    let diagonal: Vec<f64> = (0..n)
        .map(|i| {
            let mut q = bias_inverse;
            x.for_row(i, |j, v| q += v * v * inverse_ridge[j]);
            q
        })
        .collect();
    let mut u = vec![0.0; n];
    let (mut beta, mut b0) = (vec![0.0; p], 0.0);
    let mut order: Vec<usize> = (0..n).filter(|&i| problem.weights[i] > 0.0).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let mut epochs = 0;
    for epoch in 1..=DUAL_EPOCHS {
        epochs = epoch;
        order.shuffle(&mut rng);
        let mut worst = 0.0_f64;
        for &i in &order {
            let kink = &kinks[i];
            let (lo, hi) =
                (problem.weights[i] * kink.above * inv_w, problem.weights[i] * kink.below * inv_w);
            let gradient = x.row_dot(i, &beta) + b0 + problem.offset_at(i) - kink.target;
            let projected = if u[i] <= lo {
                gradient.min(0.0)
            } else if u[i] >= hi {
                gradient.max(0.0)
            } else {
                gradient
            };
            worst = worst.max(projected.abs() / kink.target.abs().max(1.0));
            if projected == 0.0 {
                continue;
            }
            // A row with no entries (and no intercept) moves to the bound its gradient points to.
            let next = if diagonal[i] > 0.0 {
                (u[i] - gradient / diagonal[i]).clamp(lo, hi)
            } else if gradient < 0.0 {
                hi
            } else {
                lo
            };
            let delta = next - u[i];
            if delta == 0.0 {
                continue;
            }
            u[i] = next;
            x.for_row(i, |j, v| beta[j] += delta * v * inverse_ridge[j]);
            b0 += delta * bias_inverse;
        }
        if worst <= DUAL_GRADIENT || epoch == DUAL_EPOCHS {
            log::debug!("dual coordinate descent: {epoch} epochs, projected gradient {worst:e}");
            break;
        }
    }
    // An overflow's NaN would not show in `worst` (f64::max passes over it): checked on β.
    if !(beta.iter().all(|b| b.is_finite()) && b0.is_finite()) {
        return None;
    }
    if intercept {
        beta.push(b0);
    }
    Some(DualStart { theta: beta, row_subgradients: u, epochs })
}

/// Where [`dual_coordinate_start`] ends.
pub(crate) struct DualStart {
    /// (β, b₀) = (Λ⁻¹Xᵀu, its intercept), the intercept last where there is one.
    pub theta: Vec<f64>,
    /// The dual iterate u, each uᵢ in its box: with β, a certificate of how far β is from the
    /// optimum (the duality gap, without an intercept).
    pub row_subgradients: Vec<f64>,
    /// The passes over the rows it took.
    pub epochs: usize,
}

/// Λ⁻¹Xᵀu.
fn ridge_back(x: &Design<'_>, inverse_ridge: &[f64], u: &[f64]) -> Vec<f64> {
    let mut beta = vec![0.0; inverse_ridge.len()];
    x.transpose_times_into(u, &mut beta);
    beta.iter_mut().zip(inverse_ridge).for_each(|(b, r)| *b *= r);
    beta
}

/// The largest |ridgeⱼβⱼ − (Xᵀu)ⱼ| over the features and |ρ₀b₀ − Σu| for the intercept, with
/// max(1, the largest |(Xᵀu)ⱼ|) as its scale: the KKT violation of the exact loss at (β, b₀)
/// with the rows' subgradients u.
pub(crate) fn stationarity(
    problem: &Problem<'_>,
    terms: &PenaltyTerms,
    beta: &[f64],
    b0: f64,
    intercept: bool,
    u: &[f64],
) -> (f64, f64) {
    let p = beta.len();
    let mut back = vec![0.0; p];
    problem.x.transpose_times_into(u, &mut back);
    let features = (0..p).map(|j| (terms.ridge[j] * beta[j] - back[j]).abs()).fold(0.0, f64::max);
    let at_intercept =
        if intercept { (terms.ridge[p] * b0 - u.iter().sum::<f64>()).abs() } else { 0.0 };
    let scale = back.iter().fold(1.0_f64, |a, v| a.max(v.abs()));
    (features.max(at_intercept), scale)
}

/// X_S Λ⁻¹ X_Sᵀ for the rows `rows`: column blocks of X_S·Λ^(−1/2) multiplied by packed GEMM
/// for a dense design (|S|²·p/2 multiply-adds), the pairs of rows within each column for a
/// sparse one (Σⱼ nnzⱼ(S)²/2). With every row, the n × n dual's kernel.
pub(crate) fn kernel_block(x: &Design<'_>, inverse_ridge: &[f64], rows: &[usize]) -> DMatrix<f64> {
    let (k, p) = (rows.len(), inverse_ridge.len());
    let mut kernel = DMatrix::zeros(k, k);
    if x.is_sparse() {
        let mut columns: Vec<Vec<(usize, f64)>> = vec![Vec::new(); p];
        for (a, &i) in rows.iter().enumerate() {
            x.for_row(i, |j, v| columns[j].push((a, v)));
        }
        for (j, column) in columns.iter().enumerate() {
            for (c, &(a, u)) in column.iter().enumerate() {
                let scaled = u * inverse_ridge[j];
                for &(b, v) in &column[c..] {
                    kernel[(b, a)] += scaled * v;
                }
            }
        }
        // The lower triangle holds the sums (b ≥ a); mirror it.
        for a in 0..k {
            for b in a + 1..k {
                kernel[(a, b)] = kernel[(b, a)];
            }
        }
    } else {
        const BLOCK: usize = 256;
        for start in (0..p).step_by(BLOCK) {
            let width = BLOCK.min(p - start);
            let block = DMatrix::from_fn(k, width, |a, c| {
                x.get(rows[a], start + c) * inverse_ridge[start + c].sqrt()
            });
            kernel.gemm(1.0, &block, &block.transpose(), 1.0);
        }
    }
    kernel
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::penalty::Penalty;

    /// Dual coordinate descent on hinge and quantile ridges of a CSR design with unequal
    /// ridges, row weights (one zero), an offset and an empty row: every uᵢ in its box, β =
    /// Λ⁻¹Xᵀu, and the duality gap P(β) − D(u), both from their definitions, within what the
    /// stopping rule bounds it by — a bound on β's distance from the optimum that needs no
    /// other solver.
    #[test]
    fn dual_coordinate_descent_closes_the_duality_gap() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let (n, p) = (60, 150);
        let (mut indptr, mut indices, mut values) = (vec![0usize], Vec::new(), Vec::new());
        let mut dense = vec![0.0; n * p];
        for i in 0..n {
            for j in 0..p {
                if i != 7 && rng.random::<f64>() < 0.1 {
                    let v = rng.random::<f64>() * 2.0 - 1.0;
                    indices.push(j);
                    values.push(v);
                    dense[i * p + j] = v;
                }
            }
            indptr.push(values.len());
        }
        let x = Design::csr(n, p, &indptr, &indices, &values).unwrap();
        let weights: Vec<f64> =
            (0..n).map(|i| if i == 3 { 0.0 } else { 0.5 + (i % 4) as f64 }).collect();
        let offset: Vec<f64> = (0..n).map(|i| 0.1 * ((i as f64) * 0.9).sin()).collect();
        let factors: Vec<f64> = (0..p).map(|j| 0.5 + (j % 5) as f64 / 2.0).collect();
        let terms = Penalty::ridge(0.01).terms(&factors, p).unwrap();
        for family in [Family::Hinge, Family::Quantile { q: 0.3 }] {
            let y: Vec<f64> = (0..n)
                .map(|_| match family {
                    Family::Hinge => {
                        if rng.random::<f64>() < 0.4 {
                            -1.0
                        } else {
                            1.0
                        }
                    }
                    _ => rng.random::<f64>() * 4.0 - 2.0,
                })
                .collect();
            let problem = Problem::new(x, y.as_slice().into(), Some(&weights), family)
                .unwrap()
                .with_offset(offset.as_slice().into())
                .unwrap();
            let start = dual_coordinate_start(&problem, false, &terms).expect("a start");
            let (beta, u) = (&start.theta, &start.row_subgradients);
            let w_sum: f64 = weights.iter().sum();
            let mut primal = 0.0;
            let mut linear = 0.0;
            for i in 0..n {
                let kink = row_kink(family, y[i]).unwrap();
                let (lo, hi) = (weights[i] * kink.above / w_sum, weights[i] * kink.below / w_sum);
                assert!(
                    (lo..=hi).contains(&u[i]),
                    "{family:?} row {i}: u {} outside [{lo}, {hi}]",
                    u[i]
                );
                let eta: f64 = offset[i] + (0..p).map(|j| dense[i * p + j] * beta[j]).sum::<f64>();
                let r = y[i] - eta;
                let loss = match family {
                    Family::Hinge => (1.0 - y[i] * eta).max(0.0),
                    _ => {
                        if r >= 0.0 {
                            0.3 * r
                        } else {
                            -0.7 * r
                        }
                    }
                };
                primal += weights[i] * loss / w_sum;
                linear += u[i] * (kink.target - offset[i]);
            }
            let mut back = vec![0.0; p];
            for i in 0..n {
                for j in 0..p {
                    back[j] += dense[i * p + j] * u[i];
                }
            }
            let mut quadratic = 0.0;
            for j in 0..p {
                assert!((terms.ridge[j] * beta[j] - back[j]).abs() <= 1e-12, "{family:?} β{j}");
                primal += 0.5 * terms.ridge[j] * beta[j] * beta[j];
                quadratic += 0.5 * back[j] * back[j] / terms.ridge[j];
            }
            // P − D = Σᵢ max over the box of (uᵢ − vᵢ)(ηᵢ − tᵢ) ≤ Σᵢ widthᵢ |projected gradientᵢ|,
            // and the widths sum to 1: the stopping rule bounds the gap (its gradients were
            // measured during the last epoch, hence the margin).
            let dual = linear - quadratic;
            let gap = primal - dual;
            let scale = y.iter().fold(1.0_f64, |a, v| a.max(v.abs()));
            assert!(
                gap >= -1e-12 && gap <= 2.0 * DUAL_GRADIENT * scale,
                "{family:?}: P {primal} D {dual} gap {gap:e}"
            );
        }
    }
}
