//! Count data: Poisson and negative binomial fits against R's published results (the data sets
//! and figures of tests/fixtures/counts/, from statsmodels' test suite), the negative binomial's
//! θ by maximum likelihood against MASS::glm.nb, the inference table, penalized fits by their
//! optimality conditions, and the errors for bad counts.

use nalgebra::DMatrix;
use serde_json::Value;

use crate::common::{gradient_dense_with_offset, kkt_violation, read_csv};
use scalemix::{
    Acceleration, BackendChoice, CvOptions, Data, Design, Error, Family, Glm, Input, PathOptions,
    Penalty,
};

/// One published result of tests/fixtures/counts/counts.json with its data.
struct Published {
    record: Value,
    x: Vec<f64>,
    y: Vec<f64>,
    n: usize,
    p: usize,
}

impl Published {
    fn load(name: &str) -> Self {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/counts/counts.json");
        let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let record = all[name].clone();
        let file = format!("counts/{}", record["file"].as_str().unwrap());
        let (x, y, n, p) = read_csv(&file);
        Self { record, x, y, n, p }
    }
    fn design(&self) -> Design<'_> {
        Design::row_major(&self.x, self.n, self.p).unwrap()
    }
    fn number(&self, key: &str) -> f64 {
        self.record[key].as_f64().unwrap_or_else(|| panic!("{key}"))
    }
    fn numbers(&self, key: &str) -> Vec<f64> {
        self.record[key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
    }
}

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

/// The largest relative difference between `ours` and `theirs`, entry by entry.
fn worst(ours: &[f64], theirs: &[f64]) -> f64 {
    assert_eq!(ours.len(), theirs.len());
    ours.iter().zip(theirs).map(|(a, b)| relative(*a, *b)).fold(0.0, f64::max)
}

/// √diag((X̃ᵀ diag(wᵢ) X̃)⁻¹) for X̃ = (X, 1), computed here from the definition.
fn standard_errors(x: &[f64], p: usize, weights: &[f64]) -> Vec<f64> {
    let n = weights.len();
    let tilde = DMatrix::from_fn(n, p + 1, |i, j| if j < p { x[i * p + j] } else { 1.0 });
    let weighted = DMatrix::from_fn(n, p + 1, |i, j| tilde[(i, j)] * weights[i]);
    let information = tilde.transpose() * weighted;
    let covariance = information.try_inverse().unwrap();
    (0..=p).map(|j| covariance[(j, j)].sqrt()).collect()
}

/// R's Poisson GLM of the executions data (cpunish): the coefficients to the 7 digits R
/// printed, the deviances, log-likelihood and AIC to every digit. R's printed standard errors
/// come from the weights of its last IRLS iteration (one step before its final coefficients):
/// they differ from the information at R's own coefficients by up to 8e-6 relative, so ours are
/// checked against that information, computed here, and against R's print to 1e-5.
#[test]
fn poisson_fits_equal_r_glm_on_the_executions_data() {
    let r = Published::load("cpunish_poisson");
    let data = Data::new(r.design(), &r.y);
    let glm = Glm::poisson().backend(BackendChoice::Cpu);
    let fit = glm.fit_data(&data).unwrap();
    assert!(fit.converged(), "{:?}", fit.termination());
    let coefficients = worst(fit.coefficients(), &r.numbers("coef"));
    eprintln!("cpunish: coefficients {coefficients:.1e} from R's, {} iterations", fit.iterations());
    assert!(coefficients <= 1e-6);
    assert!(relative(fit.intercept(), r.number("intercept")) <= 1e-6);

    let table = glm.inference(&fit, &data).unwrap();
    for (ours, key) in [
        (table.deviance, "deviance"),
        (table.null_deviance, "null_deviance"),
        (table.log_likelihood, "loglik"),
        (table.aic, "aic"),
    ] {
        assert!(relative(ours, r.number(key)) <= 1e-12, "{key}: {ours} vs R {}", r.number(key));
    }
    assert_eq!(table.df_residual, r.number("df_residual"));
    // The information at R's coefficients, from the definition.
    let (coef, b0) = (r.numbers("coef"), r.number("intercept"));
    let mu: Vec<f64> = (0..r.n)
        .map(|i| (b0 + (0..r.p).map(|j| r.x[i * r.p + j] * coef[j]).sum::<f64>()).exp())
        .collect();
    let expected = standard_errors(&r.x, r.p, &mu);
    let ours: Vec<f64> =
        table.coefficients.iter().chain(table.intercept.iter()).map(|c| c.standard_error).collect();
    let mut printed = r.numbers("se");
    printed.push(r.number("intercept_se"));
    eprintln!(
        "cpunish standard errors: {:.1e} from the information at R's coefficients, {:.1e} from \
         R's print",
        worst(&ours, &expected),
        worst(&ours, &printed)
    );
    assert!(worst(&ours, &expected) <= 1e-6);
    assert!(worst(&ours, &printed) <= 1e-5);
    // z, p-values and intervals from the standard errors.
    for c in table.coefficients.iter().chain(table.intercept.iter()) {
        assert!(relative(c.statistic, c.estimate / c.standard_error) <= 1e-15);
        assert!(
            (c.upper - c.estimate - 1.959963984540054 * c.standard_error).abs()
                <= 1e-12 * c.upper.abs().max(1.0)
        );
    }
    // INCOME's z = 5.034, two-sided normal p = 4.8e-7 (R prints 4.81e-07).
    assert!((table.coefficients[0].p_value - 4.81e-7).abs() <= 0.01e-7);
}

/// The same model with every state's exposure 100 (offset log 100): the same slopes, the
/// intercept less log 100, as R printed them (4 digits for the standard errors).
#[test]
fn a_poisson_offset_equals_r_glm_with_an_exposure() {
    let r = Published::load("cpunish_poisson_offset");
    let offset = vec![r.number("offset"); r.n];
    let data = Data::new(r.design(), &r.y).offset(&offset);
    let glm = Glm::poisson().backend(BackendChoice::Cpu);
    let fit = glm.fit_data(&data).unwrap();
    assert!(fit.converged());
    assert!(worst(fit.coefficients(), &r.numbers("coef")) <= 1e-6);
    assert!(relative(fit.intercept(), r.number("intercept")) <= 1e-6);
    let table = glm.inference(&fit, &data).unwrap();
    let se: Vec<f64> = table.coefficients.iter().map(|c| c.standard_error).collect();
    assert!(worst(&se, &r.numbers("se")) <= 5e-4, "R printed 4 digits");
}

/// MASS::glm.nb on the RAND health insurance visits (20 190 rows, θ estimated): coefficients and
/// standard errors to 1e-6 of R's, θ to Stata's nbreg (ln α = −ln θ) and its standard error
/// (SE(ln α) = SE(θ)/θ) to the digits Stata printed, and the AIC R and Stata print.
#[test]
fn negative_binomial_theta_by_maximum_likelihood_equals_glm_nb() {
    let r = Published::load("randhie_negative_binomial");
    let data = Data::new(r.design(), &r.y);
    let glm = Glm::negative_binomial(None).backend(BackendChoice::Cpu);
    let fit = glm.fit_data(&data).unwrap();
    assert!(fit.converged(), "{:?}", fit.termination());
    let Family::NegativeBinomial { theta } = fit.family() else { panic!("{:?}", fit.family()) };
    let stata_theta = (-r.number("log_alpha")).exp();
    eprintln!(
        "randhie: θ = {theta} (Stata {stata_theta}), coefficients {:.1e} from R's",
        worst(fit.coefficients(), &r.numbers("coef"))
    );
    assert!(relative(theta, stata_theta) <= 1e-8);
    assert!(worst(fit.coefficients(), &r.numbers("coef")) <= 1e-6);
    assert!(relative(fit.intercept(), r.number("intercept")) <= 1e-6);
    let table = glm.inference(&fit, &data).unwrap();
    let se: Vec<f64> = table.coefficients.iter().map(|c| c.standard_error).collect();
    assert!(worst(&se, &r.numbers("se")) <= 1e-6, "{:.1e}", worst(&se, &r.numbers("se")));
    assert!(relative(table.intercept.unwrap().standard_error, r.number("intercept_se")) <= 1e-6);
    let dispersion = table.theta.expect("θ was estimated");
    assert_eq!(dispersion.theta, theta);
    // MASS's SE.theta is 1/√(−ℓ''(θ̂)) at the fitted means: checked here by a central second
    // difference of the log-likelihood. Stata's ln α standard error comes from the joint
    // information of (β, ln α), which the cross terms move by 4e-5 relative on these data.
    let mu: Vec<f64> = (0..r.n)
        .map(|i| {
            let eta: f64 = (0..r.p).map(|j| r.x[i * r.p + j] * fit.coefficients()[j]).sum();
            (eta + fit.intercept()).exp()
        })
        .collect();
    let log_likelihood = |t: f64| -> f64 {
        use special::Gamma;
        let lg = |v: f64| Gamma::ln_gamma(v).0;
        r.y.iter()
            .zip(&mu)
            .map(|(&y, &m)| {
                lg(y + t) - lg(t) - lg(y + 1.0) + t * (t / (t + m)).ln() + y * (m / (t + m)).ln()
            })
            .sum()
    };
    let h = 1e-4 * theta;
    let second = (log_likelihood(theta + h) - 2.0 * log_likelihood(theta)
        + log_likelihood(theta - h))
        / (h * h);
    let conditional = 1.0 / (-second).sqrt();
    eprintln!(
        "SE(θ) {} (second difference {conditional}); SE(ln α) {} (Stata, joint: {})",
        dispersion.standard_error,
        dispersion.standard_error / theta,
        r.number("log_alpha_se")
    );
    assert!(relative(dispersion.standard_error, conditional) <= 1e-5);
    assert!(relative(dispersion.standard_error / theta, r.number("log_alpha_se")) <= 1e-4);
    // R: 86789.3241530713; Stata: 86789.32415307125484.
    assert!(relative(table.aic, 86_789.324_153_071_25) <= 1e-12, "AIC {}", table.aic);
}

/// R's glm(family = negative.binomial(1)) on the committee data stopped at its deviance
/// tolerance (1e-8 relative): at its printed coefficients the gradient is 9e-3. The fit here
/// meets the KKT conditions (computed here) to 1e-9 and its deviance is R's to R's tolerance,
/// and no higher.
#[test]
fn a_fixed_theta_negative_binomial_reaches_the_optimum_r_stopped_near() {
    let r = Published::load("committee_negative_binomial_theta_1");
    let family = Family::NegativeBinomial { theta: 1.0 };
    let data = Data::new(r.design(), &r.y);
    let glm = Glm::negative_binomial(Some(1.0)).backend(BackendChoice::Cpu);
    let fit = glm.fit_data(&data).unwrap();
    assert!(fit.converged());
    let (g, g0) =
        gradient_dense_with_offset(family, &r.x, &r.y, None, fit.coefficients(), fit.intercept());
    let ours = kkt_violation((&g, g0), fit.coefficients(), 0.0, 0.0);
    let (rg, rg0) = gradient_dense_with_offset(
        family,
        &r.x,
        &r.y,
        None,
        &r.numbers("coef"),
        r.number("intercept"),
    );
    let theirs = kkt_violation((&rg, rg0), &r.numbers("coef"), 0.0, 0.0);
    eprintln!("committee: gradient {ours:.1e} here, {theirs:.1e} at R's coefficients");
    assert!(ours <= 1e-9 && theirs > 1e3 * ours);
    let table = glm.inference(&fit, &data).unwrap();
    let deviance = r.number("deviance");
    assert!(table.deviance <= deviance && relative(table.deviance, deviance) <= 1e-8);
    assert!(relative(table.null_deviance, r.number("null_deviance")) <= 1e-12);
    assert!(relative(table.log_likelihood, r.number("loglik")) <= 1e-8);
    assert!(table.theta.is_none(), "θ was given");
}

/// Penalized Poisson and negative binomial fits (ridge, lasso, elastic net; with an offset)
/// meet their KKT conditions computed here, on the CPU and on the GPU's kernels, and
/// their objective never rises from one iteration to the next (Poisson's steps are Newton's,
/// backtracked where F would rise).
#[test]
fn penalized_count_fits_meet_their_optimality_conditions() {
    let r = Published::load("randhie_negative_binomial");
    let n = 2000;
    let x = &r.x[..n * r.p];
    let y = &r.y[..n];
    let design = Design::row_major(x, n, r.p).unwrap();
    let offset: Vec<f64> = (0..n).map(|i| (i % 7) as f64 * 0.1 - 0.3).collect();
    for family in [Family::Poisson, Family::NegativeBinomial { theta: 0.8 }] {
        for (lambda, alpha) in [(0.01, 0.0), (0.005, 1.0), (0.005, 0.5)] {
            let glm = Glm::new(family).penalty(Penalty::elastic_net(lambda, alpha));
            let mut runs = vec![("cpu".to_string(), glm.clone().backend(BackendChoice::Cpu))];
            for context in crate::gpu::contexts().into_iter().flatten() {
                runs.push((context.describe(), glm.clone().gpu_context(context.clone())));
            }
            for (where_, glm) in runs {
                let fit = glm.fit_data(&Data::new(design, y).offset(&offset)).unwrap();
                let what = format!("{family:?} λ = {lambda} α = {alpha} on {where_}");
                assert!(fit.converged(), "{what}: {:?}", fit.termination());
                // On the CPU (f64 passes; a device's F carries its f32 rounding).
                let trace = if where_ == "cpu" { fit.objective_trace() } else { &[] };
                for w in trace.windows(2) {
                    assert!(
                        w[1] <= w[0] + 1e-13 * w[0].abs(),
                        "{what}: F rose {} → {}",
                        w[0],
                        w[1]
                    );
                }
                let (g, g0) = gradient_dense_with_offset(
                    family,
                    x,
                    y,
                    Some(&offset),
                    fit.coefficients(),
                    fit.intercept(),
                );
                let violation = kkt_violation(
                    (&g, g0),
                    fit.coefficients(),
                    lambda * (1.0 - alpha),
                    lambda * alpha,
                );
                assert!(violation <= 1e-8, "{what}: KKT {violation:e}");
            }
        }
    }
}

/// A Poisson lasso path with an offset meets every point's KKT conditions (computed here), and
/// its cross-validation scores the held-out rows by the Poisson deviance by its definition,
/// 2 Σ [y ln(y/μ) − (y − μ)] per row over the fold, μ = e^(o + xᵀβ + b₀) with the held-out
/// rows' offsets: each fold's path refitted here on its training rows.
#[test]
fn poisson_paths_and_cross_validation_follow_their_definitions() {
    let r = Published::load("randhie_negative_binomial");
    let (n, p) = (600, r.p);
    let (x, y) = (&r.x[..n * p], &r.y[..n]);
    let offset: Vec<f64> = (0..n).map(|i| ((i % 5) as f64 + 1.0).ln()).collect();
    let design = Design::row_major(x, n, p).unwrap();
    let glm = Glm::poisson().penalty(Penalty::lasso(1.0)).backend(BackendChoice::Cpu);
    let path_options =
        PathOptions { n_lambda: 12, lambda_min_ratio: Some(1e-2), ..PathOptions::default() };
    let path = glm.path_data(&Data::new(design, y).offset(&offset), &path_options).unwrap();
    for point in &path.points {
        let (g, g0) = gradient_dense_with_offset(
            Family::Poisson,
            x,
            y,
            Some(&offset),
            &point.coefficients,
            point.intercept,
        );
        let violation = kkt_violation((&g, g0), &point.coefficients, 0.0, point.lambda);
        assert!(violation <= 1e-8, "λ = {}: KKT {violation:e}", point.lambda);
    }
    let k = 3;
    let options = CvOptions { folds: k, seed: 3, metric: None, path: path_options };
    let cv = glm.cv_data(&Data::new(design, y).offset(&offset), &options).unwrap();
    assert_eq!(cv.metric, scalemix::Metric::Deviance);
    let lambdas = cv.path.lambdas();
    let mut means = vec![0.0; lambdas.len()];
    for fold in 0..k {
        let (train, held): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| cv.folds.assignment()[i] != fold);
        let pick = |rows: &[usize], v: &[f64], width: usize| -> Vec<f64> {
            rows.iter().flat_map(|&i| v[i * width..(i + 1) * width].to_vec()).collect()
        };
        let (x_train, y_train, o_train) =
            (pick(&train, x, p), pick(&train, y, 1), pick(&train, &offset, 1));
        let fold_options = PathOptions {
            lambdas: Some(lambdas.clone()),
            early_stop: false,
            ..PathOptions::default()
        };
        let train_design = Design::row_major(&x_train, train.len(), p).unwrap();
        let fold_path = glm
            .path_data(&Data::new(train_design, &y_train).offset(&o_train), &fold_options)
            .unwrap();
        for (l, point) in fold_path.points.iter().enumerate() {
            let deviance: f64 = held
                .iter()
                .map(|&i| {
                    let eta = offset[i]
                        + point.intercept
                        + (0..p).map(|j| x[i * p + j] * point.coefficients[j]).sum::<f64>();
                    let mu = eta.exp();
                    let term = if y[i] > 0.0 { y[i] * (y[i] / mu).ln() } else { 0.0 };
                    2.0 * (term - (y[i] - mu))
                })
                .sum();
            means[l] += deviance / n as f64; // fold mean × fold size / n
        }
    }
    for (l, (&ours, &reported)) in means.iter().zip(&cv.mean).enumerate() {
        assert!(relative(reported, ours) <= 1e-7, "λ #{l}: reported {reported}, here {ours}");
    }
}

/// Negative or (for the negative binomial) fractional counts, a θ that is not positive and
/// finite, counts that are all zero, a scheme Poisson cannot run, and an inference table where
/// none is defined: each refused by the error that names it.
#[test]
fn bad_counts_and_settings_are_refused_by_name() {
    let x = [0.5, -1.0, 2.0, 0.0, 1.5, -0.5];
    let design = Design::row_major(&x, 6, 1).unwrap();
    let error = Glm::poisson().fit(design, &[1.0, -2.0, 0.0, 3.0, 1.0, 0.0][..]).unwrap_err();
    assert!(matches!(error, Error::InvalidLabel { row: 1, family: "poisson", .. }), "{error}");
    assert!(
        Glm::poisson().fit(design, &[1.0, 2.5, 0.0, 3.0, 1.0, 0.0][..]).is_ok(),
        "rates allowed"
    );
    let error = Glm::negative_binomial(Some(2.0)).fit(design, &[1.0, 2.0, 0.0, 3.5, 1.0, 0.0][..]);
    assert!(matches!(error, Err(Error::InvalidLabel { row: 3, .. })), "{error:?}");
    for theta in [0.0, -1.0, f64::INFINITY, f64::NAN] {
        let error = Glm::negative_binomial(Some(theta)).fit(design, &[1.0; 6][..]).unwrap_err();
        assert!(
            matches!(error, Error::InvalidOption { name: "theta", .. }),
            "θ = {theta}: {error}"
        );
    }
    let error = Glm::poisson().fit(design, &[0.0; 6][..]).unwrap_err();
    assert!(matches!(error, Error::AllZeroCounts { family: "poisson" }), "{error}");
    let error = Glm::negative_binomial(None).fit(design, &[0.0; 6][..]).unwrap_err();
    assert!(matches!(error, Error::AllZeroCounts { .. }), "{error}");
    let error = Glm::poisson().acceleration(Acceleration::Nesterov).fit(design, &[1.0; 6][..]);
    assert!(matches!(error, Err(Error::InvalidOption { name: "acceleration", .. })), "{error:?}");
    let y = [1.0, 0.0, 4.0, 1.0, 2.0, 0.0];
    let lasso = Glm::poisson().penalty(Penalty::lasso(0.01));
    let fit = lasso.fit(design, &y[..]).unwrap();
    let error = lasso.inference(&fit, &Data::new(design, &y[..])).unwrap_err();
    assert!(matches!(error, Error::Unsupported { operation: "inference", .. }), "{error}");
    let labels = [1.0, -1.0, 1.0, -1.0, 1.0, -1.0];
    let hinge = Glm::hinge().penalty(Penalty::ridge(0.1));
    let fit = hinge.fit(design, &labels[..]).unwrap();
    let error = hinge.inference(&fit, &Data::new(design, &labels[..])).unwrap_err();
    assert!(matches!(error, Error::Unsupported { family: "hinge", .. }), "{error}");
    // A path or a cross-validation of a model whose θ (or Student-t σ) is to be estimated is
    // refused: every point must fit the same model.
    let options = PathOptions { n_lambda: 3, ..PathOptions::default() };
    for glm in [Glm::negative_binomial(None), Glm::student_t(4.0, None)] {
        let error = glm.clone().penalty(Penalty::lasso(1.0)).path(design, &y[..], &options);
        assert!(matches!(error, Err(Error::Unsupported { operation: "path", .. })), "{error:?}");
        let cv = glm.penalty(Penalty::lasso(1.0)).cv(design, &y[..], &CvOptions::default());
        assert!(matches!(cv, Err(Error::Unsupported { operation: "cv", .. })), "{cv:?}");
    }
    let mut offset = [0.0; 6];
    offset[4] = f64::INFINITY;
    let error = Glm::poisson().fit_data(&Data::new(design, &y[..]).offset(&offset)).unwrap_err();
    assert!(matches!(error, Error::NonFiniteValue { input: Input::Offset, index: 4, .. }));
}

/// A Newton step that overshoots: one row with a million events and 19 with one, a binary
/// feature that separates them. From the null model the full Newton step puts e^η of the last
/// row near e^30 and raises F a thousandfold; the fit backtracks along it, F falls at every
/// iteration (on the CPU's f64 passes), and the optimum is the closed form (b₀ = ln 1,
/// b₀ + β = ln 10⁶), on the CPU and on the GPU's kernels.
#[test]
fn a_poisson_step_that_overshoots_is_backtracked() {
    let x: Vec<f64> = (0..20).map(|i| f64::from(u8::from(i == 19))).collect();
    let mut y = vec![1.0; 20];
    y[19] = 1e6;
    let design = Design::row_major(&x, 20, 1).unwrap();
    let mut runs = vec![("cpu".to_string(), Glm::poisson().backend(BackendChoice::Cpu))];
    for context in crate::gpu::contexts().into_iter().flatten() {
        runs.push((context.describe(), Glm::poisson().gpu_context(context.clone())));
    }
    for (where_, glm) in runs {
        let fit = glm.fit(design, &y).unwrap();
        assert!(fit.converged(), "{where_}: {:?}", fit.termination());
        eprintln!("{where_}: {} iterations, trace {:?}", fit.iterations(), fit.objective_trace());
        // On the CPU (a device's F carries its f32 rounding, 2e-2 here).
        let trace = if where_ == "cpu" { fit.objective_trace() } else { &[] };
        for w in trace.windows(2) {
            assert!(w[1] <= w[0] + 1e-12 * w[0].abs(), "{where_}: F rose {} → {}", w[0], w[1]);
        }
        assert!(fit.intercept().abs() <= 1e-9, "{where_}: b₀ = {}", fit.intercept());
        let slope = fit.coefficients()[0];
        assert!((slope - 1e6_f64.ln()).abs() <= 1e-9, "{where_}: β = {slope}");
    }
}

/// The inference table of the other likelihood families against R: ordinary least squares on
/// Longley's data (the dispersion RSS/(n − d), t statistics on 9 degrees of freedom; R's AIC
/// counts σ) and a binomial logit of success counts on the STAR 1998 data (the log-likelihood
/// with each row's ln C(m, s)).
#[test]
fn gaussian_and_binomial_inference_tables_equal_r() {
    let r = Published::load("longley_gaussian");
    let data = Data::new(r.design(), &r.y);
    let glm = Glm::gaussian().backend(BackendChoice::Cpu);
    let fit = glm.fit_data(&data).unwrap();
    let table = glm.inference(&fit, &data).unwrap();
    let mut ours: Vec<f64> = fit.coefficients().to_vec();
    ours.push(fit.intercept());
    let mut theirs = r.numbers("coef");
    theirs.push(r.number("intercept"));
    eprintln!("longley: coefficients {:.1e} from R's", worst(&ours, &theirs));
    assert!(worst(&ours, &theirs) <= 1e-6);
    let mut se: Vec<f64> = table.coefficients.iter().map(|c| c.standard_error).collect();
    se.push(table.intercept.unwrap().standard_error);
    let mut r_se = r.numbers("se");
    r_se.push(r.number("intercept_se"));
    eprintln!("longley: standard errors {:.1e} from R's", worst(&se, &r_se));
    assert!(worst(&se, &r_se) <= 1e-6);
    assert!(table.t_statistics && table.df_residual == r.number("df_residual"));
    for (ours, key) in [
        (table.deviance, "deviance"),
        (table.dispersion, "dispersion"),
        (table.aic, "aic"),
        (table.log_likelihood, "loglik"),
    ] {
        assert!(relative(ours, r.number(key)) <= 1e-9, "{key}: {ours} vs R {}", r.number(key));
    }

    let r = Published::load("star98_binomial");
    // The last feature column holds the trials.
    let p = r.p - 1;
    let x: Vec<f64> = r.x.chunks_exact(r.p).flat_map(|row| row[..p].to_vec()).collect();
    let trials: Vec<f64> = r.x.chunks_exact(r.p).map(|row| row[p]).collect();
    let design = Design::row_major(&x, r.n, p).unwrap();
    let data = Data::binomial(design, &r.y, &trials);
    let glm = Glm::binomial().backend(BackendChoice::Cpu);
    let fit = glm.fit_data(&data).unwrap();
    assert!(fit.converged());
    let coefficients = worst(fit.coefficients(), &r.numbers("coef"));
    eprintln!("star98: coefficients {coefficients:.1e} from R's");
    assert!(coefficients <= 1e-6);
    let table = glm.inference(&fit, &data).unwrap();
    let se: Vec<f64> = table.coefficients.iter().map(|c| c.standard_error).collect();
    eprintln!(
        "star98: standard errors {:.1e} from R's 7 printed digits",
        worst(&se, &r.numbers("se"))
    );
    assert!(worst(&se, &r.numbers("se")) <= 1e-6);
    for (ours, key) in [
        (table.deviance, "deviance"),
        (table.null_deviance, "null_deviance"),
        (table.aic, "aic"),
        (table.log_likelihood, "loglik"),
    ] {
        assert!(relative(ours, r.number(key)) <= 1e-9, "{key}: {ours} vs R {}", r.number(key));
    }
    assert!(!table.t_statistics && table.dispersion == 1.0);
}
