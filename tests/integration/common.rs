//! Shared helpers: fixture loading and small random problems.

use std::path::PathBuf;

use serde_json::Value;

/// One reference problem from `tests/fixtures/references.json`.
pub struct Reference {
    pub name: String,
    pub family: String,
    pub intercept: bool,
    pub lambda: f64,
    pub alpha: f64,
    /// The quantile level, for quantile problems.
    pub q: Option<f64>,
    pub objective: f64,
    pub intercept_value: f64,
    pub coef: Vec<f64>,
    /// Row-major X.
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub n: usize,
    pub p: usize,
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures")
}

/// Reads a CSV whose last column is `y`, returning (row-major X, y, n, p).
pub fn read_csv(file: &str) -> (Vec<f64>, Vec<f64>, usize, usize) {
    let path = fixtures_dir().join(file);
    let mut reader = csv::Reader::from_path(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let p = reader.headers().expect("header row").len() - 1;
    let (mut x, mut y, mut n) = (Vec::new(), Vec::new(), 0);
    for record in reader.records() {
        let record = record.expect("csv record");
        let values: Vec<f64> = record.iter().map(|v| v.parse().expect("number")).collect();
        x.extend_from_slice(&values[..p]);
        y.push(values[p]);
        n += 1;
    }
    (x, y, n, p)
}

/// The named reference problem with its data.
pub fn reference(name: &str) -> Reference {
    let text =
        std::fs::read_to_string(fixtures_dir().join("references.json")).expect("references.json");
    let all: Value = serde_json::from_str(&text).expect("valid JSON");
    let entry = all
        .as_array()
        .expect("array")
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no reference named {name}"));
    let num = |k: &str| entry[k].as_f64().unwrap_or_else(|| panic!("{name}: {k}"));
    let (x, y, n, p) = read_csv(entry["file"].as_str().expect("file"));
    assert_eq!((n, p), (num("n") as usize, num("p") as usize), "{name}: shape");
    Reference {
        name: name.to_string(),
        family: entry["family"].as_str().expect("family").to_string(),
        intercept: entry["intercept"].as_bool().expect("intercept"),
        lambda: num("lambda"),
        alpha: num("alpha"),
        q: entry["q"].as_f64(),
        objective: num("objective"),
        intercept_value: num("intercept_value"),
        coef: entry["coef"]
            .as_array()
            .expect("coef")
            .iter()
            .map(|v| v.as_f64().expect("coef"))
            .collect(),
        x,
        y,
        n,
        p,
    }
}

/// F at (β, b₀) computed directly from the definition, independently of the crate's solver
/// (logistic with the stable log(1 + e^η)).
pub fn logistic_objective(r: &Reference, beta: &[f64], b0: f64) -> f64 {
    let mut loss = 0.0;
    for i in 0..r.n {
        let eta: f64 = b0 + (0..r.p).map(|j| r.x[i * r.p + j] * beta[j]).sum::<f64>();
        // log(1 + e^η) − yη without cancellation for y ∈ {0, 1}.
        let softplus = |t: f64| if t > 0.0 { t + (-t).exp().ln_1p() } else { t.exp().ln_1p() };
        loss += if r.y[i] == 1.0 { softplus(-eta) } else { softplus(eta) };
    }
    let pen: f64 =
        beta.iter().map(|b| r.lambda * (r.alpha * b.abs() + 0.5 * (1.0 - r.alpha) * b * b)).sum();
    loss / r.n as f64 + pen
}

/// F at (β, b₀) from the definition for the reference's family (logistic, hinge with labels
/// ±1, or quantile), independently of the crate.
pub fn objective(r: &Reference, beta: &[f64], b0: f64) -> f64 {
    if r.family == "logistic" {
        return logistic_objective(r, beta, b0);
    }
    let mut loss = 0.0;
    for i in 0..r.n {
        let eta: f64 = b0 + (0..r.p).map(|j| r.x[i * r.p + j] * beta[j]).sum::<f64>();
        loss += match r.family.as_str() {
            "hinge" => (1.0 - r.y[i] * eta).max(0.0),
            "quantile" => {
                let (q, res) = (r.q.expect("q"), r.y[i] - eta);
                if res >= 0.0 { q * res } else { (q - 1.0) * res }
            }
            other => panic!("no objective for {other}"),
        };
    }
    let pen: f64 =
        beta.iter().map(|b| r.lambda * (r.alpha * b.abs() + 0.5 * (1.0 - r.alpha) * b * b)).sum();
    loss / r.n as f64 + pen
}

/// ∇ of the mean logistic loss (1/n) Σᵢ [log(1 + e^ηᵢ) − yᵢηᵢ] at (β, b₀), from its definition,
/// for a CSR design: (∂/∂β, ∂/∂b₀).
pub fn logistic_gradient_csr(
    (indptr, indices, values): (&[usize], &[usize], &[f64]),
    y: &[f64],
    beta: &[f64],
    b0: f64,
) -> (Vec<f64>, f64) {
    let n = y.len();
    let mut gradient = vec![0.0; beta.len()];
    let mut intercept = 0.0;
    for i in 0..n {
        let range = indptr[i]..indptr[i + 1];
        let eta = b0 + range.clone().map(|k| values[k] * beta[indices[k]]).sum::<f64>();
        let r = (1.0 / (1.0 + (-eta).exp()) - y[i]) / n as f64;
        intercept += r;
        for k in range {
            gradient[indices[k]] += values[k] * r;
        }
    }
    (gradient, intercept)
}

/// [`logistic_gradient_csr`] for a dense row-major `n × p` design.
pub fn logistic_gradient_dense(x: &[f64], y: &[f64], beta: &[f64], b0: f64) -> (Vec<f64>, f64) {
    gradient_dense(scalemix::Family::Logistic, x, y, beta, b0)
}

/// ∇ of a smooth family's mean loss (1/n) Σᵢ ℓ(yᵢ, ηᵢ) at (β, b₀), from dℓ/dη by its
/// definition, for a dense row-major design: (∂/∂β, ∂/∂b₀).
pub fn gradient_dense(
    family: scalemix::Family,
    x: &[f64],
    y: &[f64],
    beta: &[f64],
    b0: f64,
) -> (Vec<f64>, f64) {
    gradient_dense_with_offset(family, x, y, None, beta, b0)
}

/// [`gradient_dense`] with ηᵢ = oᵢ + xᵢᵀβ + b₀ where an offset o is given.
pub fn gradient_dense_with_offset(
    family: scalemix::Family,
    x: &[f64],
    y: &[f64],
    offset: Option<&[f64]>,
    beta: &[f64],
    b0: f64,
) -> (Vec<f64>, f64) {
    use scalemix::Family;
    let (n, p) = (y.len(), beta.len());
    let mut gradient = vec![0.0; p];
    let mut intercept = 0.0;
    for (i, (row, &yi)) in x.chunks_exact(p).zip(y).enumerate() {
        let o = offset.map_or(0.0, |o| o[i]);
        let eta = o + b0 + row.iter().zip(beta).map(|(a, b)| a * b).sum::<f64>();
        let derivative = match family {
            Family::Logistic => 1.0 / (1.0 + (-eta).exp()) - yi,
            Family::Gaussian => eta - yi,
            Family::StudentT { nu, sigma } => {
                let r = yi - eta;
                -(nu + 1.0) * r / (nu * sigma * sigma + r * r)
            }
            // d/dη (e^η − yη).
            Family::Poisson => eta.exp() - yi,
            // d/dη of −log NB(y; μ = e^η, θ): (μ − y) θ / (μ + θ).
            Family::NegativeBinomial { theta } => {
                let mu = eta.exp();
                (mu - yi) * theta / (mu + theta)
            }
            other => panic!("{other:?} has no gradient"),
        };
        let r = derivative / n as f64;
        intercept += r;
        gradient.iter_mut().zip(row).for_each(|(g, a)| *g += a * r);
    }
    (gradient, intercept)
}

/// The largest violation of the KKT conditions of loss + ridge/2 ‖β‖² + lasso ‖β‖₁ (intercept
/// unpenalized) at β, given the loss's gradient there: |∂/∂b₀|, |gⱼ + ridge βⱼ + lasso sign βⱼ|
/// where βⱼ ≠ 0 and max(0, |gⱼ + ridge βⱼ| − lasso) where βⱼ = 0.
pub fn kkt_violation(
    (gradient, intercept): (&[f64], f64),
    beta: &[f64],
    ridge: f64,
    lasso: f64,
) -> f64 {
    gradient.iter().zip(beta).fold(intercept.abs(), |worst, (&g, &b)| {
        let smooth = g + ridge * b;
        worst.max(if b == 0.0 {
            (smooth.abs() - lasso).max(0.0)
        } else {
            (smooth + lasso * b.signum()).abs()
        })
    })
}

/// The KKT violation of a smooth family's fit from the definitions: the ∞-norm of the
/// minimum-norm subgradient of F = (1/n) Σ ℓ(yᵢ, ηᵢ) + λ((1−α)/2 ‖β‖² + α‖β‖₁) over the
/// coefficients, and the intercept's gradient where there is one (`b0`).
#[allow(clippy::too_many_arguments)]
pub fn smooth_kkt_violation(
    family: scalemix::Family,
    x: &[f64],
    y: &[f64],
    p: usize,
    lambda: f64,
    alpha: f64,
    beta: &[f64],
    b0: Option<f64>,
) -> f64 {
    let (gradient, intercept) = gradient_dense(family, x, y, &beta[..p], b0.unwrap_or(0.0));
    let intercept = if b0.is_some() { intercept } else { 0.0 };
    kkt_violation((&gradient, intercept), beta, lambda * (1.0 - alpha), lambda * alpha)
}
