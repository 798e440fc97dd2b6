//! The rows a fit runs on, wherever they are held: in memory ([`MemoryRows`]), read again from a
//! source at every pass (`crate::stream`), or summed by a cluster's workers
//! (`crate::stream::ExternalRows`). The driver ([`crate::driver`]) sees only this seam, so the
//! warm start, the ℓ₁ zero thresholds, the f64 check and finish, and the report exist once for
//! all three.

use crate::backend::{Backend, CpuBackend, Needs, PolishBackend, Stats};
use crate::data::Problem;
use crate::error::Result;
use crate::family::Family;
use crate::penalty::PenaltyTerms;

/// What the driver must know of the rows before a solve: computed from the problem in memory,
/// gathered by a streamed fit's checking pass, or merged from the chunks' summaries.
#[derive(Debug, Clone)]
pub(crate) struct RowFacts {
    /// The family the rows are read as (a Student-t fit's current σ included).
    pub family: Family,
    /// W = Σ wᵢ (binomial: weights × trials).
    pub weight_sum: f64,
    /// The smallest positive row weight (the separation certificate's bound).
    pub min_positive_weight: f64,
    /// The null model's intercept: the link of the weighted mean response.
    pub null_intercept: f64,
    /// The weighted variance of the response (the ℓ₁ zero thresholds' unit for regression
    /// families, [`Family::response_scale`]).
    pub response_variance: f64,
    /// Per feature, the weighted root mean square of its column in the fitted coordinates.
    pub column_scales: Vec<f64>,
    /// (1/W) Σ wᵢ min_η ℓ(yᵢ, η): the saturated model's mean loss (a path's deviance ratio).
    pub saturated_mean_loss: f64,
}

impl RowFacts {
    /// The facts of a checked problem in memory.
    pub(crate) fn of(problem: &Problem<'_>) -> Self {
        let (mean, total) = response_mean(problem);
        let variance = problem
            .y
            .iter()
            .zip(problem.weights.iter())
            .map(|(&y, &w)| w * (y - mean) * (y - mean))
            .sum::<f64>()
            / total;
        RowFacts {
            family: problem.family,
            weight_sum: problem.weight_sum,
            min_positive_weight: problem.min_positive_weight,
            null_intercept: null_intercept(problem, mean, total),
            response_variance: variance,
            column_scales: problem.column_scales(),
            saturated_mean_loss: saturated_mean_loss(problem),
        }
    }

    /// Per coordinate, the |θⱼ| below which an ℓ₁ coordinate is an exact zero: `zero_tol` in
    /// units of the family's response scale, divided by the column's RMS, so the threshold
    /// bounds the coordinate's contribution to η. The intercept's is 0 (never a zero); an
    /// all-zero column never changes η, so any value of its coefficient is a zero (∞).
    pub(crate) fn zero_thresholds(&self, zero_tol: f64, dim: usize) -> Vec<f64> {
        let response_scale = self.family.response_scale(self.response_variance);
        let mut thresholds = vec![0.0; dim];
        for (t, &scale) in thresholds.iter_mut().zip(&self.column_scales) {
            *t = if scale > 0.0 { zero_tol * response_scale / scale } else { f64::INFINITY };
        }
        thresholds
    }

    /// The separation certificate's bound on the loss (see [`Family::separation_bound`]).
    pub(crate) fn separation_bound(&self) -> Option<f64> {
        self.family.separation_bound(self.min_positive_weight, self.weight_sum)
    }

    /// The null model's θ: β = 0, the intercept (last, where fitted) at the link of the
    /// weighted mean.
    pub(crate) fn null_start(&self, dim: usize, intercept: bool) -> Vec<f64> {
        let mut theta = vec![0.0; dim];
        if intercept {
            theta[dim - 1] = self.null_intercept;
        }
        theta
    }
}

/// The null model's starting intercept: the link of the response's weighted mean `mean` (of
/// total weight `total`, [`response_mean`]), less the offset's weighted mean where there is one:
/// a start near the intercept the null fit then solves for.
pub(crate) fn null_intercept(problem: &Problem<'_>, mean: f64, total: f64) -> f64 {
    let offset_mean = problem.offset().map_or(0.0, |offset| {
        offset.iter().zip(problem.weights.iter()).map(|(o, w)| o * w).sum::<f64>() / total
    });
    problem.family.link(mean) - offset_mean
}

/// The passes one fit needs of its rows. Each method is one pass over every row (in memory a
/// loop, streamed a read of the source, distributed a round trip to the workers).
pub(crate) trait Rows {
    /// What the fit must know before it starts.
    fn facts(&self) -> RowFacts;

    /// The backend the iterations run on (a GPU's f32 kernels, or f64 on the CPU).
    fn device(&mut self) -> &mut dyn Backend;

    /// f64 passes on the CPU: loss and ∇L in f64, and where the device keeps a Gram of its
    /// own, S from it with weights computed in f64. The KKT check of a fit whose device rounds,
    /// and its finish where the check fails.
    ///
    /// # Errors
    /// Whatever stops the pass.
    fn reference(&mut self) -> Result<Box<dyn Backend + '_>>;

    /// (1/W) Σ wᵢ ℓ(yᵢ, ηᵢ) at θ (the fitted coordinates) with ℓ by its definition
    /// ([`Family::loss`]), in f64: the loss of the reported objective.
    ///
    /// # Errors
    /// Whatever stops the pass.
    fn exact_loss(&mut self, theta: &[f64]) -> Result<f64>;

    /// [`Rows::exact_loss`] at the user's θ, on the rows in the user's coordinates: the report
    /// of a fit that ran preconditioned.
    ///
    /// # Errors
    /// Whatever stops the pass.
    fn user_exact_loss(&mut self, theta: &[f64]) -> Result<f64>;

    /// ∇L in f64 at the user's θ, on the rows in the user's coordinates: the KKT report of a
    /// fit that ran preconditioned.
    ///
    /// # Errors
    /// Whatever stops the pass.
    fn user_gradient(&mut self, theta: &[f64]) -> Result<Stats>;

    /// The penalty of the solve about to run (a streamed fit's progress report shows its
    /// objective).
    fn show_penalty(&mut self, _terms: &PenaltyTerms) {}
}

/// Rows in memory: a checked problem and the backend opened on it.
pub(crate) struct MemoryRows<'b, 'p> {
    problem: &'b Problem<'p>,
    intercept: bool,
    backend: &'b mut (dyn Backend + 'p),
    /// The problem in the user's coordinates, where `problem` is its preconditioned form.
    user: Option<&'b Problem<'p>>,
}

impl<'b, 'p> MemoryRows<'b, 'p> {
    /// `problem`'s rows, the iterations on `backend` (already bound to it).
    pub(crate) fn new(
        problem: &'b Problem<'p>,
        intercept: bool,
        backend: &'b mut (dyn Backend + 'p),
    ) -> Self {
        Self { problem, intercept, backend, user: None }
    }

    /// The same rows, `problem` being the preconditioned form of `user`.
    pub(crate) fn in_user_coordinates(mut self, user: &'b Problem<'p>) -> Self {
        self.user = Some(user);
        self
    }
}

impl Rows for MemoryRows<'_, '_> {
    fn facts(&self) -> RowFacts {
        RowFacts::of(self.problem)
    }

    fn device(&mut self) -> &mut dyn Backend {
        &mut *self.backend
    }

    fn reference(&mut self) -> Result<Box<dyn Backend + '_>> {
        Ok(Box::new(PolishBackend::new(self.problem, self.intercept, &mut *self.backend)))
    }

    fn exact_loss(&mut self, theta: &[f64]) -> Result<f64> {
        Ok(exact_mean_loss(self.problem, theta, self.intercept))
    }

    fn user_exact_loss(&mut self, theta: &[f64]) -> Result<f64> {
        Ok(exact_mean_loss(self.user.unwrap_or(self.problem), theta, self.intercept))
    }

    fn user_gradient(&mut self, theta: &[f64]) -> Result<Stats> {
        let problem = self.user.unwrap_or(self.problem);
        let mut stats = Stats::gradient_only(theta.len());
        CpuBackend::new(problem, self.intercept).evaluate(theta, Needs::Gradient, &mut stats)?;
        Ok(stats)
    }
}

/// (1/W) Σ wᵢ ℓ(yᵢ, ηᵢ) with ℓ by its definition ([`Family::loss`]), in f64.
pub(crate) fn exact_mean_loss(problem: &Problem<'_>, theta: &[f64], intercept: bool) -> f64 {
    let p = problem.ncols();
    let b0 = if intercept { theta[p] } else { 0.0 };
    // xᵢᵀβ for every row in one pass over X in its storage order.
    let products = problem.x.times(0.0, &theta[..p]);
    let total: f64 = products
        .iter()
        .enumerate()
        .map(|(i, &product)| {
            let eta = b0 + problem.offset_at(i) + product;
            problem.weights[i] * problem.family.loss(problem.y[i], eta)
        })
        .sum();
    total / problem.weight_sum
}

/// The response's weighted mean and the weights' total Σ wᵢ (not W: binomial problems carry
/// weights w·m and fractions as y).
pub(crate) fn response_mean(problem: &Problem<'_>) -> (f64, f64) {
    let total: f64 = problem.weights.iter().sum();
    let mean =
        problem.y.iter().zip(problem.weights.iter()).map(|(y, w)| y * w).sum::<f64>() / total;
    (mean, total)
}

/// (1/W) Σ wᵢ min_η ℓ(yᵢ, η) ([`Family::saturated_loss`]): 0 for the families whose loss
/// reaches 0 at every y, the minimum at η = link(y) for binomial fractions and counts.
fn saturated_mean_loss(problem: &Problem<'_>) -> f64 {
    problem
        .y
        .iter()
        .zip(problem.weights.iter())
        .map(|(&y, &w)| w * problem.family.saturated_loss(y))
        .sum::<f64>()
        / problem.weight_sum
}
