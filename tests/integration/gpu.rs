//! The GPU backend against the f64 CPU path: kernel by kernel, over a few EM steps, at the
//! fixtures' optima, run to run.
//!
//! Every test needs an adapter, and fails without one (Mesa's lavapipe, a CPU Vulkan driver, is
//! enough: CI installs it, so the real WGSL runs there). On a machine without any adapter,
//! `SCALEMIX_SKIP_GPU=1` lets them skip, each saying so: a skip is never silent, and an adapter
//! whose device or kernels fail is a failure even then.

use std::sync::OnceLock;

use nalgebra::DMatrix;
use rand::prelude::*;
use scalemix::backend::Problem;
use scalemix::backend::{Backend, CpuBackend, GpuBackend, GpuContext, GpuOptions, Needs, Stats};
use scalemix::{
    Acceleration, BackendChoice, Data, Design, Error, Family, Glm, Penalty, Termination,
};

use crate::common::{objective, reference};
use crate::fixtures::{check_gap, fit_with, reference_model};

/// f32 unit roundoff.
const U32: f64 = f32::EPSILON as f64 / 2.0;
/// Roundings per term the kernels may add over the f64 path: X, θ and the product stored in
/// f32, a few ulps in f32's exp/log/tanh, and the error in η (≤ ε Σⱼ|xᵢⱼθⱼ| per ulp) fed
/// through ℓ' and ω̂. Sixteen unit roundoffs per unit of the term's magnitude covers them with
/// a margin of about 4; the f32 sums add √n more (rounding errors of random sign).
const ROUNDINGS_PER_TERM: f64 = 16.0;
/// The relative gap the kernels reach alone, before any f64 finish, on the smooth fixtures. The
/// gap is quadratic in the gradient's error (docs/sm-em.md §2): with f32 terms (relative error
/// ~1e-7 each, √n of them in the sums) and the fixtures' curvature it comes to 1e-14…1e-12
/// (measured on lavapipe: 1.6e-14 to 2.0e-12, both kernel variants); 1e-11 leaves a margin of
/// 5. A device gradient biased beyond its rounding (which the f64 finish would repair) moves
/// the device's fixed point, and the gap grows with the bias squared.
const DEVICE_GAP: f64 = 1e-11;

/// Whether `SCALEMIX_SKIP_GPU` lets the GPU tests skip where wgpu finds no adapter (`1`, `true`
/// or `yes`, any case).
fn skip_allowed() -> bool {
    std::env::var("SCALEMIX_SKIP_GPU")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// The two shared contexts: default options (f64 sums where the adapter has SHADER_F64) and
/// the forced f32-only kernels (the Metal / GL path).
pub fn contexts() -> Option<&'static [GpuContext; 2]> {
    static CONTEXTS: OnceLock<Result<[GpuContext; 2], Error>> = OnceLock::new();
    let made = CONTEXTS.get_or_init(|| {
        let default = GpuContext::new(GpuOptions::default())?;
        let f32_only = GpuContext::new(GpuOptions { use_f64: false, ..GpuOptions::default() })?;
        eprintln!("GPU tests on {} and {}", default.describe(), f32_only.describe());
        // Where the adapter has SHADER_F64 both kernel variants must run: the default context
        // with f64 sums, the other with f32 sums.
        if default.adapter_has_f64() {
            assert!(
                default.uses_f64(),
                "the adapter has SHADER_F64 but the default context does not use it"
            );
        }
        assert!(!f32_only.uses_f64(), "use_f64: false still runs f64 sums");
        Ok([default, f32_only])
    });
    match made {
        Ok(contexts) => Some(contexts),
        // Only a machine without any adapter may skip, and only when asked to: a device that
        // does not open or a kernel that does not compile is a failure whatever is set.
        Err(e) if skip_allowed() && e.to_string().contains("no GPU adapter") => {
            eprintln!("skipping GPU test (SCALEMIX_SKIP_GPU): {e}");
            None
        }
        Err(e) => panic!(
            "no GPU context: {e}. The GPU tests need an adapter (Mesa's lavapipe will do: \
             apt install mesa-vulkan-drivers libvulkan1); SCALEMIX_SKIP_GPU=1 skips them on a \
             machine without one"
        ),
    }
}

/// A seeded problem: ill-conditioned design (condition 1e2), logistic labels or a gaussian
/// response, non-uniform weights, and a θ away from the optimum.
struct Case {
    x: Vec<f64>,
    y: Vec<f64>,
    w: Vec<f64>,
    n: usize,
    p: usize,
    theta: Vec<f64>,
}

fn case(n: usize, p: usize, intercept: bool, family: Family, seed: u64) -> Case {
    let s = scalemix::synthetic::ill_conditioned_logistic(n, p, 1e2, 2.0, seed);
    let linear = |i: usize| (0..p).map(|j| s.x[i * p + j] * s.beta_true[j]).sum::<f64>();
    // A deterministic spread of noise in (−1, 1).
    let noise = |i: usize| ((i * 7919 % 101) as f64 - 50.0) / 50.0;
    let y = match family {
        Family::Logistic => s.y.clone(),
        Family::Hinge => s.y.iter().map(|&v| 2.0 * v - 1.0).collect(),
        Family::Binomial => (0..n).map(|i| (i % 5) as f64 / 4.0).collect(),
        Family::StudentT { .. } => {
            (0..n).map(|i| linear(i) + noise(i) + if i % 9 == 0 { 5.0 } else { 0.0 }).collect()
        }
        _ => (0..n).map(|i| linear(i) + 0.3 + noise(i)).collect(),
    };
    let w = (0..n).map(|i| 0.5 + (i % 7) as f64 / 4.0).collect();
    let mut theta: Vec<f64> = s.beta_true.iter().map(|b| 0.6 * b).collect();
    if intercept {
        theta.push(-0.2);
    }
    Case { x: s.x, y, w, n, p, theta }
}

/// Stats on both backends at the case's θ.
fn both(
    context: &GpuContext,
    c: &Case,
    family: Family,
    intercept: bool,
    needs: Needs,
) -> (Stats, Stats, usize) {
    let design = Design::row_major(&c.x, c.n, c.p).unwrap();
    both_on(context, design, c, family, intercept, needs)
}

/// As [`both`], on the CSR form of the case's X (its zeros unstored).
fn both_sparse(
    context: &GpuContext,
    c: &Case,
    family: Family,
    intercept: bool,
    needs: Needs,
) -> (Stats, Stats, usize) {
    let (indptr, indices, values) = csr_of(c);
    let design = Design::csr(c.n, c.p, &indptr, &indices, &values).unwrap();
    both_on(context, design, c, family, intercept, needs)
}

/// The CSR arrays of the case's X.
fn csr_of(c: &Case) -> (Vec<usize>, Vec<usize>, Vec<f64>) {
    let (mut indptr, mut indices, mut values) = (vec![0], Vec::new(), Vec::new());
    for i in 0..c.n {
        for j in 0..c.p {
            let v = c.x[i * c.p + j];
            if v != 0.0 {
                indices.push(j);
                values.push(v);
            }
        }
        indptr.push(values.len());
    }
    (indptr, indices, values)
}

/// The case with about `kept` of X's entries kept and the rest zeroed (column 0 kept whole,
/// and row 1 emptied: a dense column and an empty row).
fn sparsified(mut c: Case, kept: f64, seed: u64) -> Case {
    let mut rng = StdRng::seed_from_u64(seed);
    for i in 0..c.n {
        for j in 0..c.p {
            if i == 1 && c.n > 2 || j > 0 && rng.random::<f64>() >= kept {
                c.x[i * c.p + j] = 0.0;
            }
        }
    }
    c
}

fn both_on(
    context: &GpuContext,
    design: Design<'_>,
    c: &Case,
    family: Family,
    intercept: bool,
    needs: Needs,
) -> (Stats, Stats, usize) {
    let problem = Problem::new(design, c.y.as_slice().into(), Some(&c.w), family).unwrap();
    let d = c.p + usize::from(intercept);
    let (mut cpu, mut gpu) = (Stats::new(d), Stats::new(d));
    CpuBackend::new(&problem, intercept).evaluate(&c.theta, needs, &mut cpu).unwrap();
    let mut backend = GpuBackend::new(context, &problem, intercept).unwrap();
    backend.evaluate(&c.theta, needs, &mut gpu).unwrap();
    (cpu, gpu, backend.slices())
}

/// Magnitude scales of the loss, each gradient coordinate and each S entry, from the f64
/// definitions: the sums of |term| that bound the f32 rounding error (see ROUNDINGS_PER_TERM).
fn scales(c: &Case, family: Family, intercept: bool) -> (f64, Vec<f64>, DMatrix<f64>) {
    let d = c.p + usize::from(intercept);
    let wsum: f64 = c.w.iter().sum();
    let (mut loss, mut grad, mut gram) = (0.0, vec![0.0; d], DMatrix::zeros(d, d));
    for i in 0..c.n {
        let xi: Vec<f64> =
            (0..c.p).map(|j| c.x[i * c.p + j]).chain(intercept.then_some(1.0)).collect();
        let eta: f64 = xi.iter().zip(&c.theta).map(|(a, b)| a * b).sum();
        let mag: f64 = xi.iter().zip(&c.theta).map(|(a, b)| (a * b).abs()).sum();
        let e = family.estep(c.y[i], eta);
        let w = c.w[i] / wsum;
        loss += w * (e.loss + e.derivative.abs() * mag);
        for j in 0..d {
            grad[j] += w * xi[j].abs() * (e.derivative.abs() + e.weight * mag);
            for k in 0..d {
                // |dω̂/dη| ≤ 2ω̂² for every family (equality for hinge and quantile, where
                // ω̂ = 1/(2|r|)); for logistic and Student-t it is smaller.
                let weight_scale = e.weight + (0.25 + 2.0 * e.weight * e.weight) * mag;
                gram[(j, k)] += w * weight_scale * (xi[j] * xi[k]).abs();
            }
        }
    }
    (loss, grad, gram)
}

/// Asserts |gpu − cpu| ≤ tolerance element-wise, naming the worst element.
fn assert_close(what: &str, cpu: &[f64], gpu: &[f64], tolerance: impl Fn(usize) -> f64) {
    let mut worst = (0, 0.0);
    for (k, (a, b)) in cpu.iter().zip(gpu).enumerate() {
        if a == b {
            // Equal values pass whatever the tolerance (a sparse S has exact zeros whose
            // magnitude scale is 0).
            continue;
        }
        let ratio = (a - b).abs() / tolerance(k);
        assert!(ratio.is_finite(), "{what}[{k}]: cpu {a}, gpu {b}");
        if ratio > worst.1 {
            worst = (k, ratio);
        }
    }
    let k = worst.0;
    assert!(
        worst.1 <= 1.0,
        "{what}[{k}]: cpu {} vs gpu {} differ by {:e}, tolerance {:e}",
        cpu[k],
        gpu[k],
        (cpu[k] - gpu[k]).abs(),
        tolerance(k)
    );
}

fn check_stats(context: &GpuContext, shape: (usize, usize, bool), family: Family, needs: Needs) {
    let (n, p, intercept) = shape;
    let c = case(n, p, intercept, family, 7 + n as u64);
    let (cpu, gpu, slices) = both(context, &c, family, intercept, needs);
    let label = format!("{family:?} {needs:?} n={n} p={p} intercept={intercept} slices={slices}");
    assert_within_rounding(&label, &c, family, intercept, needs, &cpu, &gpu);
}

/// As [`check_stats`], for the CSR form of a case with about 30% of X's entries stored: the
/// sparse kernels (E-step on rows, gradient on columns, Gram over densified slices).
fn check_sparse_stats(
    context: &GpuContext,
    shape: (usize, usize, bool),
    family: Family,
    needs: Needs,
) {
    let (n, p, intercept) = shape;
    let c = sparsified(case(n, p, intercept, family, 7 + n as u64), 0.3, 5 + p as u64);
    let (cpu, gpu, slices) = both_sparse(context, &c, family, intercept, needs);
    let label =
        format!("sparse {family:?} {needs:?} n={n} p={p} intercept={intercept} slices={slices}");
    assert_within_rounding(&label, &c, family, intercept, needs, &cpu, &gpu);
}

/// The GPU's statistics equal the CPU's within the f32 rounding reasoned from the terms'
/// magnitudes ([`scales`]), and its own reported error scales cover its error without
/// exceeding that bound.
fn assert_within_rounding(
    label: &str,
    c: &Case,
    family: Family,
    intercept: bool,
    needs: Needs,
    cpu: &Stats,
    gpu: &Stats,
) {
    let (loss_scale, grad_scale, gram_scale) = scales(c, family, intercept);
    let per_term = (ROUNDINGS_PER_TERM + (c.n as f64).sqrt()) * U32;
    assert_close(&format!("{label}: loss"), &[cpu.loss], &[gpu.loss], |_| per_term * loss_scale);
    assert_close(
        &format!("{label}: gradient"),
        cpu.gradient.as_slice(),
        gpu.gradient.as_slice(),
        |j| per_term * grad_scale[j],
    );
    // The backend's own error scale must cover its actual error (the solver stops on it), and
    // stay within the reasoned bound above: an infinite or huge scale would let any change pass
    // for rounding.
    assert_close(
        &format!("{label}: gradient within its reported error"),
        cpu.gradient.as_slice(),
        gpu.gradient.as_slice(),
        |j| gpu.gradient_error[j].max(f64::MIN_POSITIVE),
    );
    for (j, &reported) in gpu.gradient_error.iter().enumerate() {
        let bound = per_term * grad_scale[j];
        assert!(
            reported.is_finite() && reported <= bound,
            "{label}: gradient error {j} is {reported:e}, above {bound:e}"
        );
    }
    let bound = per_term * loss_scale;
    assert!(
        gpu.loss_error.is_finite() && gpu.loss_error <= bound,
        "{label}: loss error {:e} above {bound:e}",
        gpu.loss_error
    );
    if needs != Needs::Gradient {
        assert_close(&format!("{label}: S"), cpu.gram.as_slice(), gpu.gram.as_slice(), |k| {
            per_term * gram_scale.as_slice()[k]
        });
        assert_eq!(gpu.gram, gpu.gram.transpose(), "{label}: S is not exactly symmetric");
    }
}

/// Edge shapes: n not a multiple of the 256-row workgroup, n below one workgroup, p = 1,
/// d = 65 (one past a 64-column tile, with and without the intercept column), and several
/// 64-column tiles.
const SHAPES: [(usize, usize, bool); 6] = [
    (300, 3, true),
    (17, 1, false),
    (40, 1, true),
    (200, 64, true),
    (130, 65, false),
    (90, 130, true),
];

/// Every family besides logistic, with a non-trivial parameter each.
const OTHER_FAMILIES: [Family; 5] = [
    Family::Gaussian,
    Family::Binomial,
    Family::Hinge,
    Family::Quantile { q: 0.3 },
    Family::StudentT { nu: 3.0, sigma: 1.5 },
];

#[test]
fn gpu_stats_match_cpu_on_edge_shapes() {
    let Some(contexts) = contexts() else { return };
    for context in contexts {
        for shape in SHAPES {
            check_stats(context, shape, Family::Logistic, Needs::GradientAndGram);
        }
        check_stats(context, (300, 5, true), Family::Logistic, Needs::GradientAndHessian);
        check_stats(context, (100, 4, false), Family::Gaussian, Needs::Gradient);
        for family in OTHER_FAMILIES {
            for shape in SHAPES {
                check_stats(context, shape, family, Needs::GradientAndGram);
            }
            check_stats(context, (300, 3, true), family, Needs::GradientAndHessian);
        }
    }
}

/// The sparse kernels on the edge shapes, every family, both curvatures and a gradient-only
/// evaluation, in both kernel variants.
#[test]
fn gpu_sparse_stats_match_cpu_on_edge_shapes() {
    let Some(contexts) = contexts() else { return };
    for context in contexts {
        for family in std::iter::once(Family::Logistic).chain(OTHER_FAMILIES) {
            for shape in SHAPES {
                check_sparse_stats(context, shape, family, Needs::GradientAndGram);
            }
            check_sparse_stats(context, (300, 5, true), family, Needs::GradientAndHessian);
            check_sparse_stats(context, (120, 7, false), family, Needs::Gradient);
        }
    }
}

/// A sparse design whose densified slices take several passes through the scratch buffer (a
/// low binding limit) gives the statistics of one pass, and the CPU's.
#[test]
fn gpu_sparse_stats_match_cpu_with_the_gram_in_several_slices() {
    let Some(contexts) = contexts() else { return };
    for context in contexts {
        let c = sparsified(case(1000, 12, true, Family::Logistic, 3), 0.3, 11);
        let (cpu, whole, one) =
            both_sparse(context, &c, Family::Logistic, true, Needs::GradientAndGram);
        assert_eq!(one, 1);
        // Room for the stored values (about 4 300 f32) and the per-row records (1 000 × 20
        // bytes), but about 600 dense rows of 13 columns.
        let small = context.with_max_binding_bytes(32 << 10);
        let (_, sliced, slices) =
            both_sparse(&small, &c, Family::Logistic, true, Needs::GradientAndGram);
        assert!(slices > 1, "expected the Gram in several slices, got {slices}");
        assert_within_rounding(
            "sparse sliced",
            &c,
            Family::Logistic,
            true,
            Needs::GradientAndGram,
            &cpu,
            &sliced,
        );
        // The same sums in the same order per split: the slicing changes only where the splits
        // fall, so S agrees with one pass's to f32 rounding, and the gradient exactly.
        assert_eq!(whole.gradient, sliced.gradient, "the gradient does not depend on the slices");
        assert_eq!(whole.loss, sliced.loss);
    }
}

#[test]
fn gpu_stats_match_cpu_with_x_in_several_slices() {
    let Some(contexts) = contexts() else { return };
    for context in contexts {
        // 3 KiB per binding: a few dozen rows of 6 f32 columns per slice.
        let small = context.with_max_binding_bytes(3 << 10);
        let c = case(1000, 5, true, Family::Logistic, 3);
        let (cpu, gpu, slices) = both(&small, &c, Family::Logistic, true, Needs::GradientAndGram);
        assert!(slices > 3, "expected X in several slices, got {slices}");
        let (_, _, whole) = both(context, &c, Family::Logistic, true, Needs::GradientAndGram);
        assert_eq!(whole, 1);
        let (loss_scale, grad_scale, _) = scales(&c, Family::Logistic, true);
        let per_term = (ROUNDINGS_PER_TERM + 1000f64.sqrt()) * U32;
        assert_close("sliced loss", &[cpu.loss], &[gpu.loss], |_| per_term * loss_scale);
        assert_close("sliced gradient", cpu.gradient.as_slice(), gpu.gradient.as_slice(), |j| {
            per_term * grad_scale[j]
        });
        let s_scale = cpu.gram.amax();
        assert_close("sliced S", cpu.gram.as_slice(), gpu.gram.as_slice(), |_| {
            per_term * 10.0 * s_scale
        });
    }
}

/// The same five plain EM steps on both backends follow the same path: θ after each step
/// differs by the f32 gradient error amplified by (S + D)⁻¹, far below 1e-4 of |θ| here.
#[test]
fn five_em_steps_agree_with_cpu() {
    let Some(contexts) = contexts() else { return };
    let c = case(500, 10, true, Family::Logistic, 11);
    let x = Design::row_major(&c.x, c.n, c.p).unwrap();
    let glm = Glm::logistic().penalty(Penalty::ridge(1e-2)).acceleration(Acceleration::None);
    let cpu = glm.clone().backend(BackendChoice::Cpu).max_iter(5).fit(x, &c.y).unwrap();
    for context in contexts {
        let gpu = glm.clone().gpu_context(context.clone()).max_iter(5).fit(x, &c.y).unwrap();
        assert_eq!(gpu.iterations(), 5);
        let scale = cpu.coefficients().iter().fold(0.0_f64, |m, b| m.max(b.abs()));
        assert_close("θ after 5 EM steps", cpu.coefficients(), gpu.coefficients(), |_| {
            1e-4 * scale
        });
        assert_close("objective trace", cpu.objective_trace(), gpu.objective_trace(), |k| {
            1e-6 * cpu.objective_trace()[k]
        });
    }
}

/// The fixtures' optima to a relative gap of 1e-10, with f64 sums and with the f32-only
/// kernels, and the kernels' own part of each fit, before the f64 finish, to [`DEVICE_GAP`]:
/// f32 gradients give f64-quality optima (the gap is quadratic in their error), so the finish
/// only confirms what the device reached, and cannot hide a device that got it wrong.
#[test]
fn gpu_reaches_the_fixture_optima() {
    let Some(contexts) = contexts() else { return };
    for name in
        ["breast_cancer_logistic_ridge", "breast_cancer_logistic_lasso", "illcond_logistic_p100"]
    {
        let r = reference(name);
        for context in contexts {
            let glm = reference_model(&r, Acceleration::Restart).gpu_context(context.clone());
            let fit = fit_with(&r, &glm);
            eprintln!("{name} on {}", fit.backend());
            assert_eq!(fit.backend().kind, "gpu");
            assert!(fit.backend().device.contains(context.adapter_name()));
            check_gap(&r, &fit);
            // What the kernels reached before any f64 finish.
            let phases = fit.phases();
            let gap = (phases.backend_objective - r.objective) / r.objective;
            eprintln!(
                "{name}: device alone {} iterations to a gap of {gap:.3e} ({:?}), then {} in f64",
                phases.backend_iterations, phases.backend_termination, phases.finish_iterations
            );
            assert_eq!(phases.backend_iterations + phases.finish_iterations, fit.iterations());
            assert!(phases.backend_iterations > 0, "{name}: no iteration ran on the device");
            assert!(gap <= DEVICE_GAP, "{name}: the kernels alone reached a gap of {gap:e}");
            if name.contains("lasso") {
                for (j, (&c, &reference)) in fit.coefficients().iter().zip(&r.coef).enumerate() {
                    assert_eq!(c == 0.0, reference.abs() <= 1e-9, "support differs at {j}: {c}");
                }
            }
        }
    }
}

/// An unreachable KKT tolerance (1e-30, below anything f64 resolves) forces a stall: the
/// kernels stop at their rounding floor, the f64 finish continues and stops at f64's, and the
/// fit says `Stalled`, never `Converged`, well before its iteration budget, at the optimum all
/// the same.
#[test]
fn an_unreachable_tolerance_ends_stalled_after_the_f64_finish() {
    let Some(contexts) = contexts() else { return };
    let r = reference("breast_cancer_logistic_ridge");
    for context in contexts {
        let glm = reference_model(&r, Acceleration::Auto)
            .kkt_tol(1e-30)
            .max_iter(5000)
            .gpu_context(context.clone());
        let fit = fit_with(&r, &glm);
        let phases = fit.phases();
        eprintln!(
            "{}: {:?} after {} device and {} f64 iterations, KKT {:e}",
            context.describe(),
            fit.termination(),
            phases.backend_iterations,
            phases.finish_iterations,
            fit.kkt_violation()
        );
        assert_eq!(fit.termination(), Termination::Stalled);
        assert!(phases.backend_iterations > 0, "nothing ran on the device");
        assert!(phases.finish_iterations > 0, "the f64 finish did not run");
        assert!(phases.finish_iterations < 1000, "the finish spent its budget");
        assert!(fit.kkt_violation() > 1e-30, "KKT {:e} meets the tolerance", fit.kkt_violation());
        let gap = (objective(&r, fit.coefficients(), fit.intercept()) - r.objective) / r.objective;
        assert!(gap <= 1e-10, "gap {gap:e}");
    }
}

#[test]
fn two_gpu_fits_are_bit_identical() {
    let Some(contexts) = contexts() else { return };
    let c = case(700, 12, true, Family::Logistic, 5);
    let x = Design::row_major(&c.x, c.n, c.p).unwrap();
    for context in contexts {
        let glm = Glm::logistic().penalty(Penalty::ridge(1e-3)).gpu_context(context.clone());
        let a = glm.fit(x, &c.y).unwrap();
        let b = glm.fit(x, &c.y).unwrap();
        assert!(a.converged(), "{:?}", a.termination());
        let bits =
            |f: &scalemix::Fit| f.coefficients().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b));
        assert_eq!(a.intercept().to_bits(), b.intercept().to_bits());
        assert_eq!(a.iterations(), b.iterations());
    }
}

#[test]
fn gpu_rejects_values_beyond_f32_with_their_position() {
    let Some(contexts) = contexts() else { return };
    let c = case(50, 3, true, Family::Gaussian, 1);
    let x = Design::row_major(&c.x, c.n, c.p).unwrap();
    // A response beyond f32's range, and one that f32 could hold only as a subnormal (the
    // design's columns are rescaled before they become f32; the response is not).
    for (value, row) in [(1e39, 7), (1e-40, 4)] {
        let mut y = c.y.clone();
        y[row] = value;
        let before = y.clone();
        let err = Glm::gaussian().gpu_context(contexts[0].clone()).fit(x, &y).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&format!("y[{row}]")) && message.contains("f32"), "{message}");
        assert_eq!(before, y, "the caller's data changed");
    }
    // Student-t's ν and σ must be normal f32 numbers: beyond the range, or so small that f32
    // holds them as subnormals or zero, the kernel would divide by zero or infinity.
    for (nu, sigma) in [(1e40, 1.0), (3.0, 1e-40), (3.0, 1e39)] {
        let glm = Glm::student_t(nu, Some(sigma)).gpu_context(contexts[0].clone());
        let message = glm.fit(x, &c.y).unwrap_err().to_string();
        assert!(message.contains("family parameter") && message.contains("f32"), "{message}");
    }
}

/// A column of X beyond f32's range, or with a huge offset, is rescaled and recentred in f64
/// before it becomes f32 (the objective unchanged): the GPU fit reaches the CPU's optimum.
#[test]
fn gpu_fits_designs_beyond_f32_after_preconditioning() {
    let Some(contexts) = contexts() else { return };
    let c = case(200, 3, true, Family::Logistic, 1);
    let mut x = c.x.clone();
    for i in 0..c.n {
        x[i * 3 + 2] *= 1e39; // a column far beyond f32
        x[i * 3] += 1e8; // a column offset by 1e8
    }
    let design = Design::row_major(&x, c.n, c.p).unwrap();
    let glm = Glm::logistic().penalty(Penalty::ridge(1e-3)).penalty_factors(vec![1.0, 1.0, 0.0]);
    let cpu = glm.clone().backend(BackendChoice::Cpu).fit(design, &c.y).unwrap();
    assert!(cpu.converged(), "CPU: {}", cpu.termination());
    // In about the iterations of the same problem with its columns as generated.
    let plain = Design::row_major(&c.x, c.n, c.p).unwrap();
    let well_scaled = glm.clone().backend(BackendChoice::Cpu).fit(plain, &c.y).unwrap();
    assert!(
        cpu.iterations() <= 2 * well_scaled.iterations() + 5,
        "{} iterations against {} on the well-scaled design",
        cpu.iterations(),
        well_scaled.iterations()
    );
    for context in contexts {
        let gpu = glm.clone().gpu_context(context.clone()).fit(design, &c.y).unwrap();
        let gap = (gpu.objective() - cpu.objective()) / cpu.objective();
        assert!(
            gpu.converged() && gap.abs() <= 1e-10,
            "{}: {} with gap {gap:e}",
            context.describe(),
            gpu.termination()
        );
    }
}

#[test]
fn backend_choice_parses_its_three_names_and_rejects_others() {
    for (text, choice) in
        [("auto", BackendChoice::Auto), ("CPU", BackendChoice::Cpu), (" gpu ", BackendChoice::Gpu)]
    {
        assert_eq!(text.parse::<BackendChoice>().unwrap(), choice);
    }
    let err = "cuda".parse::<BackendChoice>().unwrap_err();
    assert!(err.to_string().contains("cuda"), "{err}");
}

/// Auto keeps small problems on the CPU, where one submit per iteration would cost more than
/// the whole E-step.
#[test]
fn auto_runs_small_problems_on_the_cpu() {
    let c = case(100, 3, true, Family::Logistic, 2);
    let x = Design::row_major(&c.x, c.n, c.p).unwrap();
    let fit = Glm::logistic().backend(BackendChoice::Auto).fit(x, &c.y).unwrap();
    assert_eq!(fit.backend().kind, "cpu");
}

/// Hostile data on the GPU: sample weights of 1e20 (the f32 error scales used to overflow and the
/// fit stopped at once as "converged") and a column offset by 1e6 (f32 keeps one digit of its
/// variation; the fit used to stop "converged" at F = 0.63 against 0.49). Each fit now converges
/// to the CPU's f64 optimum (the f64 KKT check and the f64 finish, the preconditioned design),
/// and its reported KKT violation is the f64 one.
#[test]
fn gpu_fits_claim_convergence_only_when_the_f64_kkt_check_agrees() {
    let Some(contexts) = contexts() else { return };
    let (n, p) = (400, 4);
    let s = scalemix::synthetic::ill_conditioned_logistic(n, p, 10.0, 1.0, 31);
    let mut offset_x = s.x.clone();
    for i in 0..n {
        offset_x[i * p] += 1e6;
    }
    let heavy: Vec<f64> = (0..n).map(|i| 1e20 * (1.0 + (i % 3) as f64)).collect();
    /// A hostile case: its name, X (row-major) and the sample weights.
    type Hostile<'a> = (&'a str, &'a [f64], Option<&'a [f64]>);
    let cases: [Hostile<'_>; 2] =
        [("weights 1e20", &s.x, Some(&heavy)), ("column offset 1e6", &offset_x, None)];
    for (name, x, w) in cases {
        let design = Design::row_major(x, n, p).unwrap();
        let fit = |glm: Glm| match w {
            Some(w) => glm.fit_data(&Data::new(design, &s.y).weights(w)),
            None => glm.fit(design, &s.y),
        };
        let glm = Glm::logistic().penalty(Penalty::ridge(1e-4));
        let cpu = fit(glm.clone().backend(BackendChoice::Cpu)).unwrap();
        for context in contexts {
            let gpu = fit(glm.clone().gpu_context(context.clone())).unwrap();
            // The f64 KKT violation, recomputed here from the definition.
            let b0 = gpu.intercept();
            let total: f64 = w.map_or(n as f64, |w| w.iter().sum());
            let mut gradient = vec![0.0; p + 1];
            // The rounding scale of these sums: each ηᵢ is off by about ε (|b₀| + Σⱼ|xᵢⱼβⱼ|),
            // which moves ℓ' by at most a quarter of that, and each product adds ε|xᵢⱼ dᵢ|.
            let mut rounding = vec![0.0; p + 1];
            for i in 0..n {
                let terms = (0..p).map(|j| x[i * p + j] * gpu.coefficients()[j]);
                let eta: f64 = b0 + terms.clone().sum::<f64>();
                let magnitude = b0.abs() + terms.map(f64::abs).sum::<f64>();
                let weight = w.map_or(1.0, |w| w[i]) / total;
                let d = weight * (scalemix::family::sigmoid(eta) - s.y[i]);
                let shake = d.abs() + weight * 0.25 * magnitude;
                for j in 0..p {
                    gradient[j] += d * x[i * p + j];
                    rounding[j] += shake * x[i * p + j].abs();
                }
                gradient[p] += d;
                rounding[p] += shake;
            }
            let slack = 8.0 * f64::EPSILON * rounding.iter().fold(0.0_f64, |m, &r| m.max(r));
            let kkt = (0..=p)
                .map(|j| {
                    let ridge = if j < p { 1e-4 * gpu.coefficients()[j] } else { 0.0 };
                    (gradient[j] + ridge).abs()
                })
                .fold(0.0_f64, f64::max);
            let reported = gpu.kkt_violation();
            assert!(
                // Both are f64 sums in different orders: they agree to their rounding.
                (reported - kkt).abs() <= 1e-6 * kkt + slack,
                "{name}, {}: reported KKT {reported:e}, recomputed {kkt:e} (slack {slack:e})",
                context.describe()
            );
            let gap = (gpu.objective() - cpu.objective()) / cpu.objective();
            assert!(
                cpu.converged() && gpu.converged() && gap.abs() <= 1e-10,
                "{name}, {}: CPU {}, GPU {} at a gap of {gap:e}",
                context.describe(),
                cpu.termination(),
                gpu.termination()
            );
            eprintln!(
                "{name}, {}: {} after {} iterations, F {} vs CPU {}, KKT {kkt:e}",
                context.describe(),
                gpu.termination(),
                gpu.iterations(),
                gpu.objective(),
                cpu.objective()
            );
        }
    }
}

/// The objective divides by W, so scaling every weight by the same factor changes nothing: any
/// factor in [1e-30, 1e30] gives the same fit on the CPU and on the GPU (whose f32 kernels see
/// the weights brought to mean 1).
#[test]
fn weights_scaled_by_any_factor_give_the_same_fit() {
    let (n, p) = (300, 5);
    let s = scalemix::synthetic::ill_conditioned_logistic(n, p, 100.0, 1.0, 12);
    let design = Design::row_major(&s.x, n, p).unwrap();
    let w: Vec<f64> = (0..n).map(|i| 0.5 + (i % 4) as f64).collect();
    let glm = Glm::logistic().penalty(Penalty::elastic_net(1e-3, 0.5));
    let reference = glm
        .clone()
        .backend(BackendChoice::Cpu)
        .fit_data(&Data::new(design, &s.y).weights(&w))
        .unwrap();
    assert!(reference.converged());
    let contexts = contexts();
    for factor in [1e-30, 1e-8, 1e8, 1e30] {
        let scaled: Vec<f64> = w.iter().map(|v| v * factor).collect();
        let cpu = glm
            .clone()
            .backend(BackendChoice::Cpu)
            .fit_data(&Data::new(design, &s.y).weights(&scaled))
            .unwrap();
        let gap = (cpu.objective() - reference.objective()).abs() / reference.objective();
        assert!(cpu.converged() && gap <= 1e-12, "CPU, factor {factor:e}: gap {gap:e}");
        for context in contexts.into_iter().flatten() {
            let gpu = glm
                .clone()
                .gpu_context(context.clone())
                .fit_data(&Data::new(design, &s.y).weights(&scaled));
            let gpu =
                gpu.unwrap_or_else(|e| panic!("{}, factor {factor:e}: {e}", context.describe()));
            let gap = (gpu.objective() - reference.objective()) / reference.objective();
            assert!(
                gpu.converged() && gap.abs() <= 1e-10,
                "{}, factor {factor:e}: {} with gap {gap:e}",
                context.describe(),
                gpu.termination()
            );
        }
    }
}
