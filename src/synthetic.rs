//! Seeded synthetic problems: the ill-conditioned logistic regression of the paper's benchmarks and
//! a sparse problem on correlated (AR(1)) columns.

use nalgebra::DMatrix;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

use crate::family::sigmoid;

/// A generated classification problem (X row-major).
#[derive(Debug, Clone)]
pub struct SyntheticProblem {
    /// Row-major n × p design.
    pub x: Vec<f64>,
    /// Labels in {0, 1}.
    pub y: Vec<f64>,
    /// Rows.
    pub n: usize,
    /// Columns.
    pub p: usize,
    /// The coefficients the labels were drawn from.
    pub beta_true: Vec<f64>,
}

/// Ill-conditioned logistic regression: X = Z Σ^½ with Z standard normal and Σ's eigenvalues
/// log-spaced from 1 to 1/`condition` in a random orthogonal basis; β ~ N(0, scale²/p · I);
/// y ~ Bernoulli(σ(Xβ)). Larger `scale` makes the classes closer to separable.
///
/// # Panics
/// If `n` or `p` is zero or `condition < 1` (a programming error in the caller's constants).
pub fn ill_conditioned_logistic(
    n: usize,
    p: usize,
    condition: f64,
    scale: f64,
    seed: u64,
) -> SyntheticProblem {
    assert!(n > 0 && p > 0 && condition >= 1.0, "invalid synthetic problem shape");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut normal = |_| rng.sample::<f64, _>(StandardNormal);
    // A random orthogonal basis: Q from the QR decomposition of a Gaussian matrix.
    let q = DMatrix::from_fn(p, p, |i, j| normal(i * p + j)).qr().q();
    let sqrt_eig: Vec<f64> = (0..p)
        .map(|k| {
            let t = if p == 1 { 0.0 } else { k as f64 / (p - 1) as f64 };
            condition.powf(-t).sqrt()
        })
        .collect();
    // Σ^½ = Q diag(√λ) Qᵀ.
    let mut q_scaled = q.clone();
    for (k, mut col) in q_scaled.column_iter_mut().enumerate() {
        col *= sqrt_eig[k];
    }
    let sigma_half = &q_scaled * q.transpose();
    let z = DMatrix::from_fn(n, p, |i, j| normal(i * p + j));
    let x = z * sigma_half;
    let beta_true: Vec<f64> = (0..p).map(|j| normal(j) * scale / (p as f64).sqrt()).collect();
    let mut x_row_major = Vec::with_capacity(n * p);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let row = x.row(i);
        x_row_major.extend(row.iter());
        let eta: f64 = row.iter().zip(&beta_true).map(|(a, b)| a * b).sum();
        let u: f64 = rng.random();
        y.push(f64::from(u < sigmoid(eta)));
    }
    SyntheticProblem { x: x_row_major, y, n, p, beta_true }
}

/// A generated regression problem (X row-major).
#[derive(Debug, Clone)]
pub struct SyntheticRegression {
    /// Row-major n × p design, standard normal.
    pub x: Vec<f64>,
    /// The response.
    pub y: Vec<f64>,
    /// Rows.
    pub n: usize,
    /// Columns.
    pub p: usize,
    /// The coefficients the response was drawn from (intercept 1).
    pub beta_true: Vec<f64>,
}

/// Linear regression with heavy-tailed noise: X standard normal, β ~ N(0, I/p),
/// y = 1 + Xβ + t, with t Student-t with `nu` degrees of freedom (the quantile and robust
/// benchmarks).
///
/// # Panics
/// If `n` or `p` is zero or `nu` is not positive (a programming error in the caller's
/// constants).
pub fn heavy_tailed_regression(n: usize, p: usize, nu: f64, seed: u64) -> SyntheticRegression {
    assert!(n > 0 && p > 0 && nu > 0.0, "invalid synthetic problem shape");
    let mut rng = StdRng::seed_from_u64(seed);
    let noise = rand_distr::StudentT::new(nu).expect("ν > 0 checked above");
    let beta_true: Vec<f64> =
        (0..p).map(|_| rng.sample::<f64, _>(StandardNormal) / (p as f64).sqrt()).collect();
    let x: Vec<f64> = (0..n * p).map(|_| rng.sample::<f64, _>(StandardNormal)).collect();
    let y = (0..n)
        .map(|i| {
            let eta: f64 = x[i * p..(i + 1) * p].iter().zip(&beta_true).map(|(a, b)| a * b).sum();
            1.0 + eta + rng.sample(noise)
        })
        .collect();
    SyntheticRegression { x, y, n, p, beta_true }
}

/// A sparse problem on correlated columns, the lasso's hard case: each row of X is a stationary
/// AR(1) sequence (xᵢ₁ ~ N(0, 1), xᵢⱼ = ρ xᵢ,ⱼ₋₁ + √(1 − ρ²) zᵢⱼ, so corr(xⱼ, xₖ) = ρ^|j−k|);
/// `nonzeros` coefficients spread evenly over the columns with alternating signs and magnitude
/// `scale`/√`nonzeros`, the rest zero. The response is both a logistic label
/// y ~ Bernoulli(σ(Xβ)) and a gaussian one Xβ + N(0, 1).
///
/// # Panics
/// If `n`, `p` or `nonzeros` is zero, `nonzeros > p` or ρ ∉ [0, 1) (a programming error in the
/// caller's constants).
pub fn correlated_sparse(
    n: usize,
    p: usize,
    rho: f64,
    nonzeros: usize,
    scale: f64,
    seed: u64,
) -> (SyntheticProblem, Vec<f64>) {
    assert!(n > 0 && p > 0 && (1..=p).contains(&nonzeros) && (0.0..1.0).contains(&rho));
    let mut rng = StdRng::seed_from_u64(seed);
    let innovation = (1.0 - rho * rho).sqrt();
    let mut x = vec![0.0; n * p];
    for row in x.chunks_exact_mut(p) {
        row[0] = rng.sample::<f64, _>(StandardNormal);
        for j in 1..p {
            row[j] = rho * row[j - 1] + innovation * rng.sample::<f64, _>(StandardNormal);
        }
    }
    let mut beta_true = vec![0.0; p];
    let magnitude = scale / (nonzeros as f64).sqrt();
    for k in 0..nonzeros {
        beta_true[k * p / nonzeros] = if k % 2 == 0 { magnitude } else { -magnitude };
    }
    let eta: Vec<f64> =
        x.chunks_exact(p).map(|row| row.iter().zip(&beta_true).map(|(a, b)| a * b).sum()).collect();
    let y = eta.iter().map(|&e| if rng.random::<f64>() < sigmoid(e) { 1.0 } else { 0.0 }).collect();
    let gaussian = eta.iter().map(|&e| e + rng.sample::<f64, _>(StandardNormal)).collect();
    (SyntheticProblem { x, y, n, p, beta_true }, gaussian)
}
