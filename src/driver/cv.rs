//! Cross-validation of a checked model: the path on all rows, then on each fold's training rows
//! (held-out rows weighted 0, on the backend the path opened), scored on the held-out rows.

use std::borrow::Cow;

use super::Model;
use crate::cv::{CvOptions, CvResult, Folds, score, summarize};
use crate::data::Problem;
use crate::error::Result;
use crate::path::RegularizationPath;

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
    /// ([`Model::path_matrix_free`]), the folds' included.
    fn cv_matrix_free(
        &self,
        problem: &Problem<'_>,
        folds: &Folds,
        options: &CvOptions,
    ) -> Result<CvResult> {
        self.cross_validate(problem, folds, options, |rows, lambdas| match lambdas {
            None => {
                let (null, lambdas, early) = self.matrix_free_path_setup(rows, &options.path)?;
                self.path_matrix_free(rows, &lambdas, early, &null)
            }
            Some(lambdas) => {
                let (null, _, _) = self.matrix_free_path_setup(rows, &options.path)?;
                self.path_matrix_free(rows, lambdas, false, &null)
            }
        })
    }

    /// Cross-validation on the design as given, on one backend for the whole data and every
    /// fold (folds only change the weights).
    fn cv_as_given(
        &self,
        problem: &Problem<'_>,
        folds: &Folds,
        options: &CvOptions,
    ) -> Result<CvResult> {
        // Opened by the all-data path (after the settings are checked), kept for the folds.
        let mut opened = None;
        self.cross_validate(problem, folds, options, |rows, lambdas| {
            let backend = match &mut opened {
                Some(backend) => backend,
                None => opened.insert(self.open_for_path(problem, &options.path)?),
            };
            match lambdas {
                None => {
                    let null = self.null_model(rows)?;
                    let lambdas = self.lambda_sequence(rows, &options.path, null.lambda_max)?;
                    let early = options.path.early_stop && options.path.lambdas.is_none();
                    self.path_on(rows, &lambdas, early, &options.path, &mut **backend, Some(null))
                }
                Some(lambdas) => {
                    backend.set_rows(rows)?;
                    self.path_on(rows, lambdas, false, &options.path, &mut **backend, None)
                }
            }
        })
    }

    /// k-fold cross-validation: `path(rows, None)` fits the path on all rows (its own λs and
    /// early stop), then `path(training, Some(λs))` each fold's at those λs on its training
    /// rows (the held-out ones weighted 0); the held-out scores by the metric, averaged.
    fn cross_validate(
        &self,
        problem: &Problem<'_>,
        folds: &Folds,
        options: &CvOptions,
        mut path: impl FnMut(&Problem<'_>, Option<&[f64]>) -> Result<RegularizationPath>,
    ) -> Result<CvResult> {
        let family = problem.family;
        let metric = options.metric.unwrap_or(family.default_metric());
        metric.check(family)?;
        crate::data::check_len(crate::Input::Folds, problem.nrows(), folds.assignment().len())?;
        let all = path(problem, None)?;
        let lambdas = all.lambdas();
        let (n, k) = (problem.nrows(), folds.k());
        let mut scores = vec![vec![0.0; lambdas.len()]; k];
        let mut sizes = vec![0.0; k];
        for (fold, fold_scores) in scores.iter_mut().enumerate() {
            let held_out: Vec<usize> = (0..n).filter(|&i| folds.assignment()[i] == fold).collect();
            let weights: Vec<f64> = (0..n)
                .map(|i| if folds.assignment()[i] == fold { 0.0 } else { problem.weights[i] })
                .collect();
            let training =
                Problem::new(problem.x, Cow::Borrowed(&problem.y), Some(&weights), family)?;
            let training = match problem.offset() {
                Some(offset) => training.with_offset(Cow::Borrowed(offset))?,
                None => training,
            };
            let fold_path = path(&training, Some(&lambdas))?;
            sizes[fold] = held_out.iter().map(|&i| problem.weights[i]).sum();
            for (l, point) in fold_path.points.iter().enumerate() {
                fold_scores[l] =
                    score(problem, &held_out, &point.coefficients, point.intercept, metric);
            }
        }
        Ok(summarize(all, &scores, &sizes, metric, folds.clone()))
    }
}
