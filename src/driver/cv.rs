//! Cross-validation of a checked model: the path on all rows, then on each fold's training rows
//! (held-out rows weighted 0, on the backend the path opened), scored on the held-out rows.

use std::borrow::Cow;

use super::Model;
use crate::cv::{CvOptions, CvResult, Folds, score, summarize};
use crate::data::Problem;
use crate::error::Result;

impl Model {
    /// Cross-validation on a checked problem, on its preconditioned form where the model has one
    /// ([`Model::preconditioned`]; every fold's predictions are the same there), the path mapped
    /// back to the user's coordinates.
    pub(crate) fn cv(
        &self,
        problem: &Problem<'_>,
        folds: &Folds,
        options: &CvOptions,
    ) -> Result<CvResult> {
        if self.paths_matrix_free(problem) {
            return self.cv_matrix_free(problem, folds, options);
        }
        let Some(preconditioned) = self.preconditioned(problem)? else {
            return self.cv_as_given(problem, folds, options);
        };
        let internal = preconditioned.problem(problem)?;
        let mut result = preconditioned.model.cv_as_given(&internal, folds, options)?;
        self.to_user_coordinates(problem, &preconditioned.pre, &mut result.path)?;
        Ok(result)
    }

    /// Cross-validation of a ridge path whose points are matrix-free fits
    /// ([`Model::path_matrix_free`]): the path on all rows, then each fold's on its training
    /// rows (the held-out ones weighted 0), at the same λs.
    fn cv_matrix_free(
        &self,
        problem: &Problem<'_>,
        folds: &Folds,
        options: &CvOptions,
    ) -> Result<CvResult> {
        let metric = self.cv_metric(problem, folds, options)?;
        let (null, lambdas, early) = self.matrix_free_path_setup(problem, &options.path)?;
        let path = self.path_matrix_free(problem, &lambdas, early, &null)?;
        let lambdas = path.lambdas();
        let (scores, sizes) = self.fold_scores(problem, folds, &lambdas, metric, |training| {
            let (null, _, _) = self.matrix_free_path_setup(training, &options.path)?;
            self.path_matrix_free(training, &lambdas, false, &null)
        })?;
        Ok(summarize(path, &scores, &sizes, metric, folds.clone()))
    }

    /// The metric of `options` for `problem`'s family, checked, with the folds' length.
    fn cv_metric(
        &self,
        problem: &Problem<'_>,
        folds: &Folds,
        options: &CvOptions,
    ) -> Result<crate::cv::Metric> {
        let family = problem.family;
        let metric = options.metric.unwrap_or(family.default_metric());
        metric.check(family)?;
        crate::data::check_len(crate::Input::Folds, problem.nrows(), folds.assignment().len())?;
        Ok(metric)
    }

    /// Each fold's held-out scores at every λ of `lambdas` (`fold_path` fits a fold's path on
    /// its training rows: the held-out ones weighted 0) and its held-out weight.
    fn fold_scores(
        &self,
        problem: &Problem<'_>,
        folds: &Folds,
        lambdas: &[f64],
        metric: crate::cv::Metric,
        mut fold_path: impl FnMut(&Problem<'_>) -> Result<crate::path::RegularizationPath>,
    ) -> Result<(Vec<Vec<f64>>, Vec<f64>)> {
        let (n, k) = (problem.nrows(), folds.k());
        let mut scores = vec![vec![0.0; lambdas.len()]; k];
        let mut sizes = vec![0.0; k];
        for (fold, fold_scores) in scores.iter_mut().enumerate() {
            let held_out: Vec<usize> = (0..n).filter(|&i| folds.assignment()[i] == fold).collect();
            let weights: Vec<f64> = (0..n)
                .map(|i| if folds.assignment()[i] == fold { 0.0 } else { problem.weights[i] })
                .collect();
            let training =
                Problem::new(problem.x, Cow::Borrowed(&problem.y), Some(&weights), problem.family)?;
            let path = fold_path(&training)?;
            sizes[fold] = held_out.iter().map(|&i| problem.weights[i]).sum();
            for (l, point) in path.points.iter().enumerate() {
                fold_scores[l] =
                    score(problem, &held_out, &point.coefficients, point.intercept, metric);
            }
        }
        Ok((scores, sizes))
    }

    /// Cross-validation on the design as given.
    fn cv_as_given(
        &self,
        problem: &Problem<'_>,
        folds: &Folds,
        options: &CvOptions,
    ) -> Result<CvResult> {
        let metric = self.cv_metric(problem, folds, options)?;
        let null = self.null_model(problem)?;
        let lambdas = self.lambda_sequence(problem, &options.path, null.lambda_max)?;
        let early = options.path.early_stop && options.path.lambdas.is_none();
        // One backend for the whole data and every fold: folds only change the weights.
        let mut backend = self.open_for_path(problem, &options.path)?;
        let path =
            self.path_on(problem, &lambdas, early, &options.path, &mut *backend, Some(null))?;
        let lambdas = path.lambdas();
        let (scores, sizes) = self.fold_scores(problem, folds, &lambdas, metric, |training| {
            backend.set_rows(training)?;
            self.path_on(training, &lambdas, false, &options.path, &mut *backend, None)
        })?;
        Ok(summarize(path, &scores, &sizes, metric, folds.clone()))
    }
}
