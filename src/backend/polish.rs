//! The f64 finish of fits on a backend that rounds: loss and gradient from the f64 CPU backend,
//! S from the other backend with weights also computed in f64. The fixed point is then exact
//! to f64, while the O(n·p²) work stays where it was.

use nalgebra::DMatrix;

use super::{Backend, BackendInfo, CpuBackend, Needs, Stats};
use crate::data::Problem;
use crate::error::Result;

/// Loss and ∇L in f64 on the CPU (O(n·p)), S = Xᵀ diag(w ω̂) X / W on any other backend (O(n·p²),
/// through [`Backend::gram_with_weights`]) from weights ω̂ computed on the CPU from the same f64 η.
///
/// SM-EM's fixed point depends only on ∇L, so this reaches f64 optima where an f32 gradient
/// cannot: the losses whose ℓ' jumps (hinge, quantile) need η to more digits than f32 has. The
/// weights come from the CPU too, because ω̂ = 1/(2|r|) at the optimum's support rows depends
/// on those same digits: an S built from f32 residuals would not majorize the f64 loss.
pub struct PolishBackend<'b, 'p> {
    exact: CpuBackend<'p>,
    gram: &'b mut (dyn Backend + 'p),
    weights: Vec<f64>,
}

impl<'b, 'p> PolishBackend<'b, 'p> {
    /// Finishes fits of `problem` (with `intercept`) on `gram`, a backend already bound to the
    /// same problem.
    pub fn new(problem: &Problem<'p>, intercept: bool, gram: &'b mut (dyn Backend + 'p)) -> Self {
        Self {
            exact: CpuBackend::new(problem, intercept),
            gram,
            weights: vec![0.0; problem.nrows()],
        }
    }
}

impl Backend for PolishBackend<'_, '_> {
    fn dim(&self) -> usize {
        self.gram.dim()
    }

    fn evaluate(&mut self, theta: &[f64], needs: Needs, out: &mut Stats) -> Result<()> {
        self.exact.evaluate(theta, Needs::Gradient, out)?;
        if needs == Needs::Gradient {
            return Ok(());
        }
        self.exact.row_weights(theta, needs, &mut self.weights);
        self.gram.gram_with_weights(&self.weights, &mut out.gram)
    }

    fn loss(&mut self, theta: &[f64]) -> Result<f64> {
        self.exact.loss(theta)
    }

    fn info(&self) -> BackendInfo {
        let mut info = self.gram.info();
        info.device.push_str(" + f64 gradient on the CPU for the final iterations");
        info
    }

    /// S still carries the other backend's rounding.
    fn exact(&self) -> bool {
        false
    }

    fn set_rows(&mut self, problem: &Problem<'_>) -> Result<()> {
        self.exact.set_rows(problem)?;
        self.gram.set_rows(problem)
    }

    fn gram_with_weights(&mut self, weights: &[f64], gram: &mut DMatrix<f64>) -> Result<()> {
        self.gram.gram_with_weights(weights, gram)
    }
}
