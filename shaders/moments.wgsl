// Per-observation moments of every family: the loss, ℓ', the SM-EM weight ω̂, the Newton
// curvature ℓ'' and the rounding-error scales of one row's E-step record. Not a kernel on its
// own: src/backend/gpu/shaders.rs places it (after the prelude) in front of the two E-step
// kernels, estep.wgsl (dense rows) and estep_sparse.wgsl (CSR rows), which must each declare a
// uniform `params` with the fields `a`, `b` (the family's parameters), `floor` (the residual
// floor of hinge and quantile) and `curvature` (0: ω̂, 1: ℓ'').
//
// Families (`params.family`, parameters `a`, `b`): 0 logistic (y ∈ [0, 1]: binomial problems
// arrive as success fractions), 1 gaussian, 2 hinge (y ∈ {−1, 1}), 3 quantile (q = a),
// 4 Student-t (ν = a, σ = b), 5 Poisson, 6 negative binomial (θ = a, log θ = b). A new family is one more function returning `Moments` and one more
// `case` in `moments_of` (an unknown code gives NaN, which the host reports as an error). Hinge
// and quantile floor |r| at `params.floor` (relative to the residual's scale) exactly as the CPU
// path does, so no weight is infinite. For them ℓ' jumps across r = 0, so an error in η moves
// ℓ' by at most the jump, not ω̂ · Δη: `jump` caps that part of the derivative's error scale.
//
// Precision: f32 throughout (exp, log and tanh have no f64 form in SPIR-V). Every value carries
// a rounding-error scale so the host can tell converged from stalled-by-rounding:
//   derivative_error = w (|ℓ'| + min(ω̂ Σⱼ|xᵢⱼθⱼ|, jump/ε))  bounds |Δ(wℓ')| per unit roundoff,
//                      since η is off by at most ~ε Σⱼ|xᵢⱼθⱼ| and ω̂ ≥ |ℓ''|;
//   loss_error       = w (ℓ + |ℓ'| · Σⱼ|xᵢⱼ θⱼ|) bounds |Δ(wℓ)| per unit roundoff likewise.
// θ reaches the kernels as f32 pairs (value, remainder), so its rounding, the one error shared
// by every row (it would add up linearly over a sum's rows, not in quadrature), is not in η.

// 1 / (f32 unit roundoff): error scales are in units of the roundoff.
const INV_ROUNDOFF: f32 = 16777216.0;
const UNBOUNDED: f32 = 3.0e38;

// Loss, its derivative, the SM-EM weight ω̂, the curvature of the Newton step, and the largest
// change of ℓ' an error in η can cause (UNBOUNDED for the smooth families).
struct Moments {
    loss: f32,
    derivative: f32,
    weight: f32,
    curvature: f32,
    jump: f32,
}

// log(1 + e) for e ≥ 0: the series keeps full relative precision for tiny e, where 1 + e
// rounds to 1 (WGSL has no log1p).
fn log1p_small(e: f32) -> f32 {
    if e < 1e-3 {
        return e * (1.0 - e * (0.5 - e / 3.0));
    }
    return log(1.0 + e);
}

// softplus(z) = log(1 + exp(z)) without overflow, accurate when it is tiny (z ≪ 0).
fn softplus(z: f32) -> f32 {
    return max(z, 0.0) + log1p_small(exp(-abs(z)));
}

fn logistic_moments(eta: f32, y: f32) -> Moments {
    let a = abs(eta);
    let e = exp(-a);
    // σ(η) and σ(−η), each without cancellation.
    var sig_pos = 1.0 / (1.0 + e);
    var sig_neg = e / (1.0 + e);
    if eta < 0.0 {
        let t = sig_pos;
        sig_pos = sig_neg;
        sig_neg = t;
    }
    // ℓ = y softplus(−η) + (1 − y) softplus(η); ℓ' = (1 − y) σ(η) − y σ(−η).
    let loss = y * softplus(-eta) + (1.0 - y) * softplus(eta);
    let derivative = (1.0 - y) * sig_pos - y * sig_neg;
    // ω̂ = tanh(η/2) / (2η), even in η. Near 0 the closed forms lose up to 5e-2 relative in f32,
    // so a Taylor series takes over below |η| = 0.5 (error < 1e-9 there).
    var weight: f32;
    if a < 0.5 {
        let s = a * a;
        weight = 0.25 + s * (-1.0 / 48.0 + s * (1.0 / 480.0 + s * (-17.0 / 80640.0 + s * (31.0 / 1451520.0))));
    } else {
        weight = (1.0 - e) / ((1.0 + e) * 2.0 * a);
    }
    let curvature = e / ((1.0 + e) * (1.0 + e));
    return Moments(loss, derivative, weight, curvature, UNBOUNDED);
}

fn gaussian_moments(eta: f32, y: f32) -> Moments {
    let r = eta - y;
    return Moments(0.5 * r * r, r, 1.0, 1.0, UNBOUNDED);
}

// |r| above eps, its Huber version r²/(2 eps) + eps/2 below (whose MM weight is 1/(2 eps)).
fn huber_abs(r: f32, eps: f32) -> f32 {
    let a = abs(r);
    if a >= eps {
        return a;
    }
    return 0.5 * (r * r / eps + eps);
}

// ℓ = ½|r| + ½r with r = 1 − yη; ω̂ = 1/(2 max(|r|, floor)).
fn hinge_moments(eta: f32, y: f32) -> Moments {
    let r = 1.0 - y * eta;
    let a = max(abs(r), params.floor);
    let weight = 0.5 / a;
    return Moments(0.5 * (huber_abs(r, params.floor) + r), -0.5 * y * (1.0 + r / a), weight, weight, 1.0);
}

// ℓ = ½|r| + (q − ½)r with r = y − η; ω̂ = 1/(2 max(|r|, floor · max(1, |y|))).
fn quantile_moments(eta: f32, y: f32) -> Moments {
    let q = params.a;
    let r = y - eta;
    let eps = params.floor * max(1.0, abs(y));
    let a = max(abs(r), eps);
    let weight = 0.5 / a;
    return Moments(0.5 * huber_abs(r, eps) + (q - 0.5) * r, -(q - 0.5) - 0.5 * r / a, weight, weight, 1.0);
}

// ℓ = (ν+1)/2 log(1 + r²/(νσ²)) with r = y − η; ω̂ = (ν+1)/(νσ² + r²).
fn student_t_moments(eta: f32, y: f32) -> Moments {
    let nu = params.a;
    let s2 = nu * params.b * params.b;
    let r = y - eta;
    let weight = (nu + 1.0) / (s2 + r * r);
    let loss = 0.5 * (nu + 1.0) * log1p_small(r * r / s2);
    let curvature = max(weight * (s2 - r * r) / (s2 + r * r), 0.0);
    return Moments(loss, -weight * r, weight, curvature, UNBOUNDED);
}

// ℓ = e^η − yη (Poisson, log link). No majorizing weight exists: ω̂ is the curvature μ itself
// (the host takes Newton steps with a line search). η beyond f32's exp range gives ∞, which the
// host reads as a step that raised F.
fn poisson_moments(eta: f32, y: f32) -> Moments {
    let mu = exp(eta);
    return Moments(mu - y * eta, mu - y, mu, mu, UNBOUNDED);
}

// Negative binomial (θ = a, log θ = b): the logistic moments at ψ = η − log θ with y successes
// out of y + θ, scaled by y + θ; ω̂ is the Pólya–Gamma mean, as for logistic.
fn negative_binomial_moments(eta: f32, y: f32) -> Moments {
    let trials = y + params.a;
    let m = logistic_moments(eta - params.b, y / trials);
    return Moments(trials * m.loss, trials * m.derivative, trials * m.weight, trials * m.curvature, UNBOUNDED);
}

// An unknown family code (a family added on the host without its case here) gives NaN
// moments: every sum is then NaN and the host reports a failed evaluation, never a fit of
// another family.
fn moments_of(family: u32, eta: f32, y: f32) -> Moments {
    switch family {
        case FAMILY_LOGISTIC: {
            return logistic_moments(eta, y);
        }
        case FAMILY_GAUSSIAN: {
            return gaussian_moments(eta, y);
        }
        case FAMILY_HINGE: {
            return hinge_moments(eta, y);
        }
        case FAMILY_QUANTILE: {
            return quantile_moments(eta, y);
        }
        case FAMILY_STUDENT_T: {
            return student_t_moments(eta, y);
        }
        case FAMILY_POISSON: {
            return poisson_moments(eta, y);
        }
        case FAMILY_NEGATIVE_BINOMIAL: {
            return negative_binomial_moments(eta, y);
        }
        default: {
            let nan = bitcast<f32>(0x7fc00000u);
            return Moments(nan, nan, nan, nan, nan);
        }
    }
}

// The E-step record of a row with weight `w`, moments `m` and Σⱼ|xᵢⱼθⱼ| (plus |offset|) =
// `magnitude`: the Gram weight (ω̂ or ℓ'' as `params.curvature` asks) and the scaled moments
// with their error scales.
fn row_record(m: Moments, w: f32, magnitude: f32) -> RowStats {
    var gram_weight = m.weight;
    if params.curvature == 1u {
        gram_weight = m.curvature;
    }
    return RowStats(
        w * gram_weight,
        w * m.derivative,
        w * m.loss,
        w * (abs(m.derivative) + min(m.weight * magnitude, m.jump * INV_ROUNDOFF)),
        w * (m.loss + abs(m.derivative) * magnitude),
    );
}
