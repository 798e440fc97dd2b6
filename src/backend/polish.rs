//! A backend that takes the loss and gradient from the f64 CPU backend and S from the GPU, with
//! the weights of S also computed in f64: the fixed point is then exact to f64, while the
//! O(n·p²) work stays on the device.

use super::{Backend, BackendInfo, CpuBackend, GpuBackend, Needs, Stats};
use crate::data::Problem;
use crate::error::Result;

/// Loss and ∇L in f64 on the CPU (O(n·p)), S = Xᵀ diag(w ω̂) X / W on the GPU (O(n·p²)) from
/// weights ω̂ computed on the CPU from the same f64 η.
///
/// SM-EM's fixed point depends only on ∇L, so this reaches f64 optima where an f32 gradient
/// cannot: the losses whose ℓ' jumps (hinge, quantile) need η to more digits than f32 has. The
/// weights come from the CPU too, because ω̂ = 1/(2|r|) at the optimum's support rows depends
/// on those same digits: an S built from f32 residuals would not majorize the f64 loss.
pub struct PolishBackend<'a> {
    problem: &'a Problem<'a>,
    intercept: bool,
    gradient: CpuBackend<'a>,
    gram: GpuBackend,
    weights: Vec<f64>,
}

impl<'a> PolishBackend<'a> {
    /// Wraps `gram` (already bound to the same problem and intercept).
    pub fn new(problem: &'a Problem<'a>, intercept: bool, gram: GpuBackend) -> Self {
        Self {
            problem,
            intercept,
            gradient: CpuBackend::new(problem, intercept),
            gram,
            weights: vec![0.0; problem.nrows()],
        }
    }
}

impl PolishBackend<'_> {
    /// The GPU backend back, for the next problem on the same X.
    pub fn into_gpu(self) -> GpuBackend {
        self.gram
    }
}

impl Backend for PolishBackend<'_> {
    fn dim(&self) -> usize {
        self.gram.dim()
    }

    fn evaluate(&mut self, theta: &[f64], needs: Needs, out: &mut Stats) -> Result<()> {
        self.gradient.evaluate(theta, Needs::Gradient, out)?;
        if needs == Needs::Gradient {
            return Ok(());
        }
        let problem = self.problem;
        let p = problem.ncols();
        let b0 = if self.intercept { theta[p] } else { 0.0 };
        for (i, c) in self.weights.iter_mut().enumerate() {
            let eta = b0
                + problem.offset_at(i)
                + (0..p).map(|j| problem.x.get(i, j) * theta[j]).sum::<f64>();
            let e = problem.family.estep(problem.y[i], eta);
            let weight = if needs == Needs::GradientAndHessian { e.curvature } else { e.weight };
            *c = problem.weights[i] * weight;
        }
        self.gram.gram_with_weights(&self.weights, &mut out.gram)
    }

    fn loss(&mut self, theta: &[f64]) -> Result<f64> {
        self.gradient.loss(theta)
    }

    fn info(&self) -> BackendInfo {
        let mut info = self.gram.info();
        info.device.push_str(" + f64 gradient on the CPU for the final iterations");
        info
    }
}
