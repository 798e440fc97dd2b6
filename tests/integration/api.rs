//! The public API behaves as documented: layouts, booleans, weights, predictions.

use nalgebra::DMatrix;
use scalemix::{Data, Design, Glm, Penalty, synthetic};

use crate::common::{kkt_violation, logistic_gradient_dense};

#[test]
fn row_major_slice_and_column_major_matrix_give_the_same_fit() {
    let d = synthetic::ill_conditioned_logistic(300, 5, 100.0, 2.0, 3);
    let row_major = Design::row_major(&d.x, d.n, d.p).unwrap();
    let m = DMatrix::from_row_slice(d.n, d.p, &d.x);
    let glm = Glm::logistic().penalty(Penalty::ridge(1e-2));
    let a = glm.fit(row_major, &d.y).unwrap();
    let b = glm.fit(&m, &d.y).unwrap();
    for (u, v) in a.coefficients().iter().zip(b.coefficients()) {
        assert!((u - v).abs() <= 1e-12 * u.abs().max(1.0), "{u} vs {v}");
    }
    // Each is the optimum of the matrix's values, judged from the definitions on the
    // row-major copy (a layout read wrongly, e.g. transposed, would fit other values).
    let column_major = Design::column_major(m.as_slice(), d.n, d.p).unwrap();
    let c = glm.fit(column_major, &d.y).unwrap();
    for fit in [&a, &b, &c] {
        let gradient = logistic_gradient_dense(&d.x, &d.y, fit.coefficients(), fit.intercept());
        let kkt = kkt_violation((&gradient.0, gradient.1), fit.coefficients(), 1e-2, 0.0);
        assert!(kkt <= 1e-9, "KKT violation {kkt:e}");
    }
}

#[test]
fn boolean_labels_equal_zero_one_labels() {
    let d = synthetic::ill_conditioned_logistic(200, 3, 10.0, 1.0, 5);
    let x = Design::row_major(&d.x, d.n, d.p).unwrap();
    let labels: Vec<bool> = d.y.iter().map(|&v| v == 1.0).collect();
    let glm = Glm::logistic().penalty(Penalty::ridge(1e-2));
    assert_eq!(
        glm.fit(x, &labels).unwrap().coefficients(),
        glm.fit(x, &d.y).unwrap().coefficients()
    );
}

#[test]
fn integer_weights_equal_repeated_rows() {
    let d = synthetic::ill_conditioned_logistic(60, 3, 10.0, 1.0, 9);
    let weights: Vec<f64> = (0..d.n).map(|i| (i % 3) as f64).collect();
    let (mut xr, mut yr) = (Vec::new(), Vec::new());
    for i in 0..d.n {
        for _ in 0..(i % 3) {
            xr.extend_from_slice(&d.x[i * d.p..(i + 1) * d.p]);
            yr.push(d.y[i]);
        }
    }
    let glm = Glm::logistic().penalty(Penalty::elastic_net(1e-2, 0.5));
    let a = glm
        .fit_data(&Data::new(Design::row_major(&d.x, d.n, d.p).unwrap(), &d.y).weights(&weights))
        .unwrap();
    let b = glm.fit(Design::row_major(&xr, yr.len(), d.p).unwrap(), &yr).unwrap();
    assert!((a.objective() - b.objective()).abs() < 1e-12 * b.objective());
    for (u, v) in a.coefficients().iter().zip(b.coefficients()) {
        assert!((u - v).abs() < 1e-6, "{u} vs {v}");
    }
}

#[test]
fn predictions_are_consistent() {
    let d = synthetic::ill_conditioned_logistic(200, 4, 10.0, 3.0, 11);
    let x = Design::row_major(&d.x, d.n, d.p).unwrap();
    let fit = Glm::logistic().penalty(Penalty::ridge(1e-3)).fit(x, &d.y).unwrap();
    let eta = fit.decision_function(x).unwrap();
    let prob = fit.predict_proba(x).unwrap();
    let class = fit.predict(x).unwrap();
    for i in 0..d.n {
        assert!((prob[i] - 1.0 / (1.0 + (-eta[i]).exp())).abs() < 1e-15);
        assert_eq!(class[i], f64::from(prob[i] >= 0.5));
    }
    let accuracy = class.iter().zip(&d.y).filter(|(a, b)| a == b).count() as f64 / d.n as f64;
    assert!(accuracy > 0.7, "accuracy {accuracy}");
    assert_eq!(fit.objective_trace().len(), fit.iterations() + 1);
    assert_eq!(fit.backend().kind, "cpu");
}

#[test]
fn sklearn_c_maps_to_lambda() {
    // n·F with λ = 1/(C n) is sklearn's objective ½‖β‖² + C Σ loss, divided by C n... both share
    // the minimizer; check the mapping on the gradient condition: Xᵀ(σ − y)/n + λβ = 0.
    let d = synthetic::ill_conditioned_logistic(150, 3, 10.0, 1.0, 13);
    let c = 0.5;
    let lambda = 1.0 / (c * d.n as f64);
    let fit = Glm::logistic()
        .penalty(Penalty::ridge(lambda))
        .fit_intercept(false)
        .fit(Design::row_major(&d.x, d.n, d.p).unwrap(), &d.y)
        .unwrap();
    let beta = fit.coefficients();
    for j in 0..d.p {
        let mut g = 0.0;
        for i in 0..d.n {
            let eta: f64 = (0..d.p).map(|k| d.x[i * d.p + k] * beta[k]).sum();
            g += d.x[i * d.p + j] * (1.0 / (1.0 + (-eta).exp()) - d.y[i]);
        }
        // sklearn's stationarity: C Σ xᵢⱼ(σ − y) + βⱼ = 0.
        assert!((c * g + beta[j]).abs() < 1e-8, "feature {j}: {}", c * g + beta[j]);
    }
}
