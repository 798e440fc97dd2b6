// E-step: the linear predictor and the per-observation statistics of one row slice.
//
// Bindings (group 0; the structs, FAMILY_* codes and size constants come from the prelude that
// src/backend/gpu/layout.rs generates and prepends):
//   0  uniform       params: EstepParams
//   1  storage read  x:      array<f32>        the slice's rows of X, row-major, `cols` per row
//                                              (with an intercept, the last column is all ones)
//   2  storage read  theta:  array<f32>        θ = (β, b₀), `cols` values
//   3  storage read  yw:     array<vec4<f32>>  (yᵢ, wᵢ, offsetᵢ, 0) per row of the slice; η adds
//                                              the offset (0 unless the host sets one)
//   4  storage rw    rows:   array<RowStats>   output, one per row of the slice
//
// Dispatch: one invocation per row, 256 per workgroup; the grid may be 2-D (x · 65535 + y rows
// per layer) when a slice has more than 65535 workgroups of rows. Invocations past the slice's
// last row return at once.
//
// Precision: f32 throughout (exp, log and tanh have no f64 form in SPIR-V). Every value carries
// a rounding-error scale so the host can tell converged from stalled-by-rounding:
//   derivative_error = w (|ℓ'| + min(ω̂ Σⱼ|xᵢⱼθⱼ|, jump/ε))  bounds |Δ(wℓ')| per unit roundoff,
//                      since η is off by at most ~ε Σⱼ|xᵢⱼθⱼ| and ω̂ ≥ |ℓ''|;
//   loss_error       = w (ℓ + |ℓ'| · Σⱼ|xᵢⱼ θⱼ|) bounds |Δ(wℓ)| per unit roundoff likewise.
//
// Families (`params.family`, parameters `a`, `b`): 0 logistic (y ∈ [0, 1]: binomial problems
// arrive as success fractions), 1 gaussian, 2 hinge (y ∈ {−1, 1}), 3 quantile (q = a),
// 4 Student-t (ν = a, σ = b). A new family is one more function returning `Moments` and one more
// `case` in `moments_of` (an unknown code gives NaN, which the host reports as an error). Hinge and quantile floor |r| at `params.floor` (relative to the
// residual's scale) exactly as the CPU path does, so no weight is infinite.
// For them ℓ' jumps across r = 0, so an error in η moves ℓ' by at most the jump, not ω̂ · Δη:
// `jump` caps that part of the derivative's error scale.
// `params.curvature`: 0 writes the EM weight ω̂ (SM-EM), 1 the exact curvature ℓ'' (Newton).

@group(0) @binding(0) var<uniform> params: EstepParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> theta: array<f32>;
@group(0) @binding(3) var<storage, read> yw: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> rows: array<RowStats>;

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
        default: {
            let nan = bitcast<f32>(0x7fc00000u);
            return Moments(nan, nan, nan, nan, nan);
        }
    }
}

@compute @workgroup_size(LINEAR_GROUP)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.y * (groups.x * LINEAR_GROUP) + gid.x;
    if i >= params.rows {
        return;
    }
    let cols = params.cols;
    let base = i * cols;
    let obs = yw[i];
    var eta = obs.z;
    var magnitude = abs(obs.z);
    for (var j = 0u; j < cols; j++) {
        let term = x[base + j] * theta[j];
        eta += term;
        magnitude += abs(term);
    }
    let m = moments_of(params.family, eta, obs.x);
    let w = obs.y;
    var gram_weight = m.weight;
    if params.curvature == 1u {
        gram_weight = m.curvature;
    }
    rows[i] = RowStats(
        w * gram_weight,
        w * m.derivative,
        w * m.loss,
        w * (abs(m.derivative) + min(m.weight * magnitude, m.jump * INV_ROUNDOFF)),
        w * (m.loss + abs(m.derivative) * magnitude),
    );
}
