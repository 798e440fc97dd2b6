//! Every bad input is rejected with its own error naming the problem (`rejects_*`), and the edge
//! cases that must work do.

use nalgebra::DMatrix;
use scalemix::{Data, Design, Error, Glm, Input, Penalty, Termination};

fn small() -> (DMatrix<f64>, Vec<f64>) {
    let x = DMatrix::from_row_slice(
        6,
        2,
        &[0.5, 1.0, -1.0, 0.3, 2.0, -0.7, -0.4, 0.1, 1.5, 1.2, -2.0, 0.4],
    );
    (x, vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
}

#[test]
fn rejects_nan_in_x_naming_row_and_column() {
    let (mut x, y) = small();
    x[(3, 1)] = f64::NAN;
    match Glm::logistic().fit(&x, &y) {
        Err(Error::NonFiniteDesign { row: 3, col: 1, value }) => assert!(value.is_nan()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rejects_infinite_in_x() {
    let (x, y) = small();
    let mut v: Vec<f64> = (0..12).map(|i| x[(i / 2, i % 2)]).collect();
    v[5] = f64::INFINITY; // row 2, column 1 in row-major order
    let err = Glm::logistic().fit(Design::row_major(&v, 6, 2).unwrap(), &y).unwrap_err();
    assert_eq!(err, Error::NonFiniteDesign { row: 2, col: 1, value: f64::INFINITY });
    assert!(err.to_string().contains("row 2, column 1"), "{err}");
}

#[test]
fn rejects_nan_in_y() {
    let (x, mut y) = small();
    y[4] = f64::NAN;
    assert!(matches!(
        Glm::gaussian().fit(&x, &y),
        Err(Error::NonFiniteValue { input: Input::Target, index: 4, .. })
    ));
}

#[test]
fn rejects_nan_in_weights() {
    let (x, y) = small();
    let w = [1.0, 1.0, f64::NEG_INFINITY, 1.0, 1.0, 1.0];
    assert!(matches!(
        Glm::logistic().fit_data(&Data::new(&x, &y).weights(&w)),
        Err(Error::NonFiniteValue { input: Input::Weights, index: 2, .. })
    ));
}

#[test]
fn rejects_non_finite_parameters() {
    let (x, y) = small();
    assert!(matches!(
        Glm::logistic().penalty(Penalty::ridge(f64::NAN)).fit(&x, &y),
        Err(Error::InvalidLambda(v)) if v.is_nan()
    ));
    assert!(matches!(
        Glm::logistic().penalty(Penalty::ridge(f64::INFINITY)).fit(&x, &y),
        Err(Error::InvalidLambda(_))
    ));
    assert!(matches!(
        Glm::logistic().penalty(Penalty::elastic_net(0.1, f64::NAN)).fit(&x, &y),
        Err(Error::InvalidAlpha(_))
    ));
    assert!(matches!(
        Glm::logistic().tol(f64::NAN).fit(&x, &y),
        Err(Error::InvalidOption { name: "tol", .. })
    ));
    assert!(matches!(
        Glm::logistic().kkt_tol(0.0).fit(&x, &y),
        Err(Error::InvalidOption { name: "kkt_tol", .. })
    ));
    assert!(matches!(
        Glm::logistic().zero_tol(f64::INFINITY).fit(&x, &y),
        Err(Error::InvalidOption { name: "zero_tol", .. })
    ));
    assert!(matches!(
        Glm::logistic().penalty_factors(vec![1.0, f64::NAN]).fit(&x, &y),
        Err(Error::NonFiniteValue { input: Input::PenaltyFactors, index: 1, .. })
    ));
}

#[test]
fn rejects_mismatched_lengths() {
    let (x, y) = small();
    assert_eq!(
        Glm::logistic().fit(&x, &y[..5]).unwrap_err(),
        Error::LengthMismatch { input: Input::Target, expected: 6, found: 5, unit: "rows" }
    );
    assert!(matches!(
        Glm::logistic().fit_data(&Data::new(&x, &y).weights(&[1.0; 7])),
        Err(Error::LengthMismatch { input: Input::Weights, expected: 6, found: 7, .. })
    ));
    assert!(matches!(
        Glm::logistic().penalty_factors(vec![1.0]).fit(&x, &y),
        Err(Error::LengthMismatch { input: Input::PenaltyFactors, expected: 2, found: 1, .. })
    ));
}

#[test]
fn rejects_slice_of_wrong_shape() {
    let v = vec![0.0; 11];
    assert_eq!(
        Design::row_major(&v, 6, 2).unwrap_err(),
        Error::ShapeMismatch { rows: 6, cols: 2, len: 11, expected: 12 }
    );
    assert!(Design::column_major(&v, 2, 6).is_err());
}

#[test]
fn rejects_labels_outside_zero_one() {
    let (x, mut y) = small();
    y[2] = 2.0;
    let err = Glm::logistic().fit(&x, &y).unwrap_err();
    assert!(
        matches!(err, Error::InvalidLabel { row: 2, value: 2.0, family: "logistic", .. }),
        "{err:?}"
    );
    y[2] = -1.0;
    assert!(matches!(Glm::logistic().fit(&x, &y), Err(Error::InvalidLabel { row: 2, .. })));
}

#[test]
fn rejects_negative_weights() {
    let (x, y) = small();
    let w = [1.0, 1.0, 1.0, -0.5, 1.0, 1.0];
    assert_eq!(
        Glm::logistic().fit_data(&Data::new(&x, &y).weights(&w)).unwrap_err(),
        Error::NegativeValue { input: Input::Weights, index: 3, value: -0.5 }
    );
}

#[test]
fn rejects_all_zero_weights() {
    let (x, y) = small();
    assert_eq!(
        Glm::logistic().fit_data(&Data::new(&x, &y).weights(&[0.0; 6])).unwrap_err(),
        Error::AllZeroWeights
    );
}

#[test]
fn rejects_negative_lambda() {
    let (x, y) = small();
    assert_eq!(
        Glm::logistic().penalty(Penalty::lasso(-1e-3)).fit(&x, &y).unwrap_err(),
        Error::InvalidLambda(-1e-3)
    );
}

#[test]
fn rejects_alpha_outside_unit_interval() {
    let (x, y) = small();
    for alpha in [-0.1, 1.5] {
        assert_eq!(
            Glm::logistic().penalty(Penalty::elastic_net(0.1, alpha)).fit(&x, &y).unwrap_err(),
            Error::InvalidAlpha(alpha)
        );
    }
}

#[test]
fn rejects_negative_penalty_factor() {
    let (x, y) = small();
    assert!(matches!(
        Glm::logistic().penalty(Penalty::ridge(0.1)).penalty_factors(vec![1.0, -2.0]).fit(&x, &y),
        Err(Error::NegativeValue { input: Input::PenaltyFactors, index: 1, .. })
    ));
}

#[test]
fn rejects_empty_data() {
    let x = DMatrix::<f64>::zeros(0, 3);
    assert_eq!(Glm::logistic().fit(&x, &Vec::<f64>::new()).unwrap_err(), Error::EmptyData);
}

#[test]
fn rejects_zero_features() {
    let x = DMatrix::<f64>::zeros(4, 0);
    assert_eq!(Glm::gaussian().fit(&x, &vec![1.0; 4]).unwrap_err(), Error::NoFeatures);
}

#[test]
fn rejects_zero_max_iter() {
    let (x, y) = small();
    assert!(matches!(
        Glm::logistic().max_iter(0).fit(&x, &y),
        Err(Error::InvalidOption { name: "max_iter", .. })
    ));
}

#[test]
fn rejects_prediction_with_wrong_columns_or_family() {
    let (x, y) = small();
    let fit = Glm::logistic().penalty(Penalty::ridge(0.1)).fit(&x, &y).unwrap();
    let wide = DMatrix::<f64>::zeros(2, 3);
    assert_eq!(
        fit.decision_function(&wide).unwrap_err(),
        Error::FeatureMismatch { expected: 2, found: 3 }
    );
    let mut bad = DMatrix::<f64>::zeros(2, 2);
    bad[(1, 0)] = f64::NAN;
    assert!(matches!(fit.predict_proba(&bad), Err(Error::NonFiniteDesign { row: 1, col: 0, .. })));
    let g = Glm::gaussian().fit(&x, &y).unwrap();
    assert!(matches!(
        g.predict_proba(&x),
        Err(Error::Unsupported { operation: "predict_proba", .. })
    ));
}

#[test]
fn constant_and_all_zero_columns_work() {
    // Column 1 is all zeros and column 2 is constant (collinear with the intercept): with λ = 0
    // the Gram matrix is singular, with ridge it is not; both must converge to finite values.
    // Rows 6 and 7 repeat rows 0 and 1 with the other label, so no hyperplane separates the
    // classes and the unpenalized logistic optimum is finite.
    let (x, mut y) = small();
    y.extend([0.0, 1.0]);
    let mut wide = DMatrix::zeros(8, 4);
    for i in 0..8 {
        wide[(i, 0)] = x[(i % 6, 0)];
        wide[(i, 2)] = 3.0;
        wide[(i, 3)] = x[(i % 6, 1)];
    }
    for penalty in [Penalty::none(), Penalty::ridge(0.05), Penalty::lasso(0.05)] {
        for family in [Glm::logistic(), Glm::gaussian()] {
            let fit = family.penalty(penalty).fit(&wide, &y).unwrap();
            assert!(fit.converged(), "{penalty:?}: {:?}", fit.termination());
            assert!(
                fit.coefficients().iter().all(|c| c.is_finite()) && fit.intercept().is_finite()
            );
            assert_eq!(fit.coefficients()[1], 0.0, "an all-zero column has no effect on the fit");
        }
    }
}

#[test]
fn separable_data_without_penalty_ends_at_infinity() {
    let x = DMatrix::from_row_slice(6, 1, &[-3.0, -2.0, -1.0, 1.0, 2.0, 3.0]);
    let y = [false, false, false, true, true, true];
    let fit = Glm::logistic().fit(&x, &y[..]).unwrap();
    assert_eq!(fit.termination(), Termination::OptimumAtInfinity);
    assert!(!fit.converged());
    assert!(fit.coefficients()[0].is_finite() && fit.coefficients()[0] > 0.0);
    assert!(fit.objective().is_finite() && fit.objective() < std::f64::consts::LN_2 / 6.0);
    // With a ridge penalty the optimum is finite again.
    let fit = Glm::logistic().penalty(Penalty::ridge(1e-3)).fit(&x, &y[..]).unwrap();
    assert!(fit.converged());
}

#[test]
fn inputs_are_left_untouched() {
    let (x, y) = small();
    let (x0, y0) = (x.clone(), y.clone());
    let w = vec![1.0, 2.0, 1.0, 0.5, 1.0, 1.0];
    let w0 = w.clone();
    Glm::logistic().penalty(Penalty::lasso(0.01)).fit_data(&Data::new(&x, &y).weights(&w)).unwrap();
    assert_eq!((x, y, w), (x0, y0, w0));
}

/// Every entry point goes through the one check of `fit`: a bad solver setting, family parameter,
/// penalty factor or datum is refused by paths, cross-validation, the binomial entry points and
/// multiclass fits with the same error as by `fit`.
mod every_entry_point {
    use nalgebra::DMatrix;
    use scalemix::{CvOptions, Data, Error, Glm, Input, PathOptions, Penalty};

    fn data() -> (DMatrix<f64>, Vec<f64>, Vec<f64>) {
        let (x, y) = super::small();
        (x, y, vec![0.0, 1.0, 2.0, 0.0, 1.0, 2.0])
    }

    fn path_options() -> PathOptions {
        PathOptions { n_lambda: 3, ..PathOptions::default() }
    }

    fn cv_options() -> CvOptions {
        CvOptions { folds: 2, path: path_options(), ..CvOptions::default() }
    }

    /// The error of `fit`, `path`, `cv` and `fit_multiclass` for `glm` on the data (labels 0/1,
    /// three classes for the multiclass fit), each checked against `expected`.
    fn assert_all(glm: &Glm, x: &DMatrix<f64>, expected: impl Fn(&Error) -> bool) {
        let (_, y, classes) = data();
        let results = [
            ("fit", glm.fit(x, &y).err()),
            ("path", glm.path(x, &y, &path_options()).err()),
            ("cv", glm.cv(x, &y, &cv_options()).err()),
            ("fit_multiclass", glm.fit_multiclass(x, &classes).err()),
        ];
        for (entry, err) in results {
            let err = err.unwrap_or_else(|| panic!("{entry} accepted it"));
            assert!(expected(&err), "{entry}: {err:?}");
        }
    }

    #[test]
    fn rejects_bad_solver_settings_at_every_entry_point() {
        let (x, _, _) = data();
        assert_all(&Glm::logistic().max_iter(0), &x, |e| {
            matches!(e, Error::InvalidOption { name: "max_iter", .. })
        });
        assert_all(&Glm::logistic().tol(-1.0), &x, |e| {
            matches!(e, Error::InvalidOption { name: "tol", .. })
        });
        assert_all(&Glm::logistic().zero_tol(f64::NAN), &x, |e| {
            matches!(e, Error::InvalidOption { name: "zero_tol", .. })
        });
    }

    #[test]
    fn rejects_bad_penalty_factors_and_alpha_at_every_entry_point() {
        let (x, _, _) = data();
        assert_all(&Glm::logistic().penalty_factors(vec![1.0]), &x, |e| {
            matches!(e, Error::LengthMismatch { input: Input::PenaltyFactors, .. })
        });
        assert_all(&Glm::logistic().penalty_factors(vec![1.0, -2.0]), &x, |e| {
            matches!(e, Error::NegativeValue { input: Input::PenaltyFactors, index: 1, .. })
        });
        assert_all(&Glm::logistic().penalty(Penalty::elastic_net(1.0, 2.0)), &x, |e| {
            matches!(e, Error::InvalidAlpha(_))
        });
        assert_all(&Glm::logistic().penalty(Penalty::bridge(1.0, 3.0)), &x, |e| {
            matches!(e, Error::InvalidOption { name: "bridge exponent q", .. })
        });
    }

    #[test]
    fn rejects_non_finite_data_at_every_entry_point() {
        let (mut x, _, _) = data();
        x[(4, 1)] = f64::NAN;
        assert_all(&Glm::logistic(), &x, |e| {
            matches!(e, Error::NonFiniteDesign { row: 4, col: 1, .. })
        });
    }

    #[test]
    fn rejects_bad_family_parameters_in_paths_and_cross_validation() {
        let (x, _, _) = data();
        let y: Vec<f64> = (0..6).map(|i| i as f64).collect();
        for glm in [Glm::quantile(1.5), Glm::student_t(-1.0, Some(1.0))] {
            let path = glm.path(&x, &y, &path_options()).unwrap_err();
            let cv = glm.cv(&x, &y, &cv_options()).unwrap_err();
            for err in [path, cv] {
                assert!(matches!(err, Error::InvalidOption { name: "q" | "nu", .. }), "{err:?}");
            }
        }
    }

    #[test]
    fn rejects_the_wrong_response_kind_for_binomial_entry_points() {
        let (x, y, _) = data();
        let trials = vec![2.0; 6];
        let unsupported = |r: Result<(), Error>| matches!(r, Err(Error::Unsupported { .. }));
        let binomial = Glm::binomial();
        assert!(unsupported(binomial.fit(&x, &y).map(drop)));
        assert!(unsupported(binomial.path(&x, &y, &path_options()).map(drop)));
        assert!(unsupported(binomial.cv(&x, &y, &cv_options()).map(drop)));
        assert!(unsupported(binomial.fit_multiclass(&x, &y).map(drop)));
        let logistic = Glm::logistic();
        assert!(unsupported(logistic.fit_data(&Data::binomial(&x, &y, &trials)).map(drop)));
        assert!(unsupported(
            logistic.path_data(&Data::binomial(&x, &y, &trials), &path_options()).map(drop)
        ));
        assert!(unsupported(
            logistic.cv_data(&Data::binomial(&x, &y, &trials), &cv_options()).map(drop)
        ));
    }
}

/// Saved parameters become a model only when they fit together; a crafted set is an error that
/// says what is wrong, never a panic at prediction time.
#[test]
fn rejects_inconsistent_saved_models() {
    use scalemix::{Family, LinearModel, MulticlassModel};
    let invalid = |r: Result<(), Error>| matches!(r, Err(Error::InvalidModel { .. }));
    let two_columns = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]);
    let classes = vec![0.0, 1.0, 2.0];
    let zeros = vec![0.0; 3];
    assert!(invalid(
        MulticlassModel::new(Family::Logistic, classes.clone(), two_columns.clone(), zeros.clone())
            .map(drop)
    ));
    assert!(invalid(
        MulticlassModel::new(Family::Logistic, vec![1.0, 1.0], two_columns.clone(), vec![0.0; 2])
            .map(drop)
    ));
    assert!(invalid(
        MulticlassModel::new(Family::Gaussian, vec![0.0, 1.0], two_columns.clone(), vec![0.0; 2])
            .map(drop)
    ));
    assert!(invalid(LinearModel::new(Family::Logistic, vec![1.0, f64::NAN], 0.0).map(drop)));
    assert!(invalid(LinearModel::new(Family::Gaussian, vec![1.0], f64::INFINITY).map(drop)));
    // A consistent model predicts as the fit it came from.
    let (x, y) = small();
    let fit = Glm::logistic().penalty(Penalty::ridge(0.1)).fit(&x, &y).unwrap();
    let model =
        LinearModel::new(Family::Logistic, fit.coefficients().to_vec(), fit.intercept()).unwrap();
    assert_eq!(model.predict_proba(&x).unwrap(), fit.predict_proba(&x).unwrap());
    assert_eq!(model, fit.to_model());
}

/// A fit whose p × p matrices would not fit in the memory limit is refused before they are
/// allocated, with an error naming n, p and the estimate; the same fit under a larger limit runs.
#[test]
fn rejects_fits_larger_than_the_memory_limit() {
    let (n, p) = (3, 600);
    let x: Vec<f64> = (0..n * p).map(|i| ((i * 7) % 11) as f64 / 11.0).collect();
    let y = vec![0.0, 1.0, 1.0];
    let design = Design::row_major(&x, n, p).unwrap();
    // A bridge penalty (|β|^q, q < 1) has no M-step without the d × d matrices.
    let hinge = Glm::hinge().penalty(Penalty::bridge(1.0, 0.5));
    let glm = Glm::logistic().penalty(Penalty::ridge(1.0));
    match hinge.clone().max_memory(1 << 20).fit(design, &y) {
        Err(Error::OutOfMemory {
            rows: 3,
            cols: 600,
            dim: 601,
            needed_mib,
            available_mib: 1,
            ..
        }) => {
            // Eight 601 × 601 f64 matrices: 23 MB.
            assert!((20..=30).contains(&needed_mib), "{needed_mib} MiB");
        }
        other => panic!("{other:?}"),
    }
    // Its path needs them too, and is refused the same way.
    let err = hinge.max_memory(1 << 20).path(design, &y, &Default::default()).unwrap_err();
    assert!(matches!(err, Error::OutOfMemory { cols: 600, .. }), "{err:?}");
    assert!(err.to_string().contains("3 rows × 600 columns"), "{err}");
    // A logistic ridge fit, and its path, solve their M-steps matrix-free instead (O(n + d)
    // memory).
    let fit = glm.clone().max_memory(1 << 20).fit(design, &y).unwrap();
    assert!(fit.backend().device.contains("matrix-free"), "{}", fit.backend());
    let path = glm.clone().max_memory(1 << 20).path(design, &y, &Default::default()).unwrap();
    assert!(path.backend.device.contains("matrix-free"), "{}", path.backend);
    assert!(glm.max_memory(1 << 30).fit(design, &y).is_ok());
}
