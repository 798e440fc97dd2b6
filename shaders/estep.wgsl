// E-step: the linear predictor and the per-observation statistics of one row slice.
//
// Bindings (group 0):
//   0  uniform       params: Params
//   1  storage read  x:      array<f32>        the slice's rows of X, row-major, `cols` per row
//                                              (with an intercept, the last column is all ones)
//   2  storage read  theta:  array<f32>        θ = (β, b₀), `cols` values
//   3  storage read  yw:     array<vec2<f32>>  (yᵢ, wᵢ) per row of the slice
//   4  storage rw    rows:   array<RowStats>   output, one per row of the slice
//
// Dispatch: one invocation per row, 256 per workgroup; the grid may be 2-D (x · 65535 + y rows
// per layer) when a slice has more than 65535 workgroups of rows. Invocations past the slice's
// last row return at once.
//
// Precision: f32 throughout (exp, log and tanh have no f64 form in SPIR-V). Every value carries
// a rounding-error scale so the host can tell converged from stalled-by-rounding:
//   derivative_error = w (|ℓ'| + ω̂ · Σⱼ|xᵢⱼ θⱼ|)  bounds |Δ(wℓ')| per unit roundoff, since η is
//                                                 off by at most ~ε Σⱼ|xᵢⱼθⱼ| and ω̂ ≥ ℓ'';
//   loss_error       = w (ℓ + |ℓ'| · Σⱼ|xᵢⱼ θⱼ|) bounds |Δ(wℓ)| per unit roundoff likewise.
//
// Families (`params.family`): 0 logistic (y ∈ {0, 1}), 1 gaussian. A new family is one more
// function returning `Moments` and one more `case` in `moments_of`.
// `params.curvature`: 0 writes the EM weight ω̂ (SM-EM), 1 the exact curvature ℓ'' (Newton).

struct Params {
    rows: u32,
    cols: u32,
    family: u32,
    curvature: u32,
}

struct RowStats {
    // w · ω̂ (or w · ℓ''): the row's weight in the Gram matrix.
    gram_weight: f32,
    // w · ℓ'(η): the row's weight in the gradient.
    derivative: f32,
    // w · ℓ(η)
    loss: f32,
    derivative_error: f32,
    loss_error: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> theta: array<f32>;
@group(0) @binding(3) var<storage, read> yw: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> rows: array<RowStats>;

const FAMILY_LOGISTIC: u32 = 0u;
const FAMILY_GAUSSIAN: u32 = 1u;

// Loss, its derivative, the SM-EM weight ω̂ and the exact curvature ℓ'' at η.
struct Moments {
    loss: f32,
    derivative: f32,
    weight: f32,
    curvature: f32,
}

// log(1 + e) for e = exp(-|z|) ∈ (0, 1]: the series keeps full relative precision for tiny e,
// where 1 + e rounds to 1 (WGSL has no log1p).
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
    return Moments(loss, derivative, weight, curvature);
}

fn gaussian_moments(eta: f32, y: f32) -> Moments {
    let r = eta - y;
    return Moments(0.5 * r * r, r, 1.0, 1.0);
}

fn moments_of(family: u32, eta: f32, y: f32) -> Moments {
    switch family {
        case FAMILY_GAUSSIAN: {
            return gaussian_moments(eta, y);
        }
        default: {
            return logistic_moments(eta, y);
        }
    }
}

@compute @workgroup_size(256)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.y * (groups.x * 256u) + gid.x;
    if i >= params.rows {
        return;
    }
    let cols = params.cols;
    let base = i * cols;
    var eta = 0.0;
    var magnitude = 0.0;
    for (var j = 0u; j < cols; j++) {
        let term = x[base + j] * theta[j];
        eta += term;
        magnitude += abs(term);
    }
    let obs = yw[i];
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
        w * (abs(m.derivative) + m.weight * magnitude),
        w * (m.loss + abs(m.derivative) * magnitude),
    );
}
