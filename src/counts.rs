//! Count models' likelihood pieces outside the EM: the negative binomial's dispersion θ by
//! maximum likelihood at fixed means (R's `MASS::theta.ml`), and the full log-likelihoods
//! (with the terms that do not depend on η) the inference table reports.
//!
//! With μᵢ the fitted means and wᵢ the prior weights, the negative binomial log-likelihood in θ is
//!
//! ```text
//! ℓ(θ) = Σᵢ wᵢ [ln Γ(yᵢ + θ) − ln Γ(θ) − ln Γ(yᵢ + 1) + θ ln θ + yᵢ ln μᵢ − (θ + yᵢ) ln(θ + μᵢ)],
//! ```
//!
//! concave in θ where a finite maximum exists (overdispersed data); its score is
//! Σ wᵢ [ψ(yᵢ + θ) − ψ(θ) + ln θ + 1 − ln(θ + μᵢ) − (yᵢ + θ)/(θ + μᵢ)] and its second derivative
//! Σ wᵢ [ψ'(yᵢ + θ) − ψ'(θ) + 1/θ − 2/(θ + μᵢ) + (yᵢ + θ)/(θ + μᵢ)²]. θ is found by Newton's
//! method on ln θ with step halving (every step raises ℓ), its standard error as MASS reports
//! it: 1/√(−ℓ''(θ̂)), at the fitted means.

use special::Gamma;

/// Newton iterations on ln θ at most.
const MAX_NEWTON: usize = 200;
/// The relative change of θ at which Newton's iteration stops.
const NEWTON_TOL: f64 = 1e-13;
/// Beyond this θ the data show no overdispersion the model can resolve (the likelihood keeps
/// rising towards the Poisson limit): θ stops here.
pub(crate) const THETA_MAX: f64 = 1e10;

/// The negative binomial log-likelihood ℓ(θ) at means `mu` (weights `w`), with every constant.
pub(crate) fn negative_binomial_log_likelihood(
    y: &[f64],
    mu: &[f64],
    w: &[f64],
    theta: f64,
) -> f64 {
    let ln_gamma = |x: f64| Gamma::ln_gamma(x).0;
    y.iter()
        .zip(mu)
        .zip(w)
        .filter(|&(_, &w)| w > 0.0)
        .map(|((&y, &mu), &w)| {
            let y_term = if y > 0.0 { y * (mu / (theta + mu)).ln() } else { 0.0 };
            w * (ln_gamma(y + theta) - ln_gamma(theta) - ln_gamma(y + 1.0)
                + theta * (theta / (theta + mu)).ln()
                + y_term)
        })
        .sum()
}

/// ℓ'(θ) and ℓ''(θ) at means `mu`.
fn theta_derivatives(y: &[f64], mu: &[f64], w: &[f64], theta: f64) -> (f64, f64) {
    let (mut score, mut second) = (0.0, 0.0);
    let (digamma_theta, trigamma_theta) = (theta.digamma(), theta.trigamma());
    for ((&y, &mu), &w) in y.iter().zip(mu).zip(w) {
        if w == 0.0 {
            continue;
        }
        let (digamma_y, trigamma_y) = if y == 0.0 {
            (digamma_theta, trigamma_theta)
        } else {
            ((y + theta).digamma(), (y + theta).trigamma())
        };
        let total = theta + mu;
        score +=
            w * (digamma_y - digamma_theta + theta.ln() + 1.0 - total.ln() - (y + theta) / total);
        second += w
            * (trigamma_y - trigamma_theta + 1.0 / theta - 2.0 / total
                + (y + theta) / (total * total));
    }
    (score, second)
}

/// MASS's starting value n / Σ wᵢ (yᵢ/μᵢ − 1)² (the method of moments) at every μᵢ the counts'
/// weighted mean: W·mean² / Σ wᵢ (yᵢ − mean)² for counts of total weight `weight`, mean `mean`
/// and spread `m2` = Σ wᵢ (yᵢ − mean)², clamped to a range Newton can start from. In memory and
/// streamed alike (the Dask layer computes the same from its summary).
pub(crate) fn theta_start(weight: f64, mean: f64, m2: f64) -> f64 {
    (weight * mean * mean / m2.max(f64::MIN_POSITIVE)).clamp(1e-4, 1e6)
}

/// θ maximizing ℓ(θ) at means `mu`, from `start`, and −ℓ''(θ̂) (the observed information of θ;
/// 0 where θ stopped at [`THETA_MAX`]).
pub(crate) fn theta_ml(y: &[f64], mu: &[f64], w: &[f64], start: f64) -> (f64, f64) {
    let terms = |theta: f64| -> Result<(f64, f64, f64), std::convert::Infallible> {
        Ok(theta_terms(y, mu, w, theta))
    };
    match theta_ml_with(terms, start) {
        Ok(found) => found,
        Err(never) => match never {},
    }
}

/// (ℓ(θ), ℓ'(θ), ℓ''(θ)) at means `mu`: sums over the rows, so a part of the rows (a block of a
/// streamed source) gives its share.
pub(crate) fn theta_terms(y: &[f64], mu: &[f64], w: &[f64], theta: f64) -> (f64, f64, f64) {
    let (score, second) = theta_derivatives(y, mu, w, theta);
    (negative_binomial_log_likelihood(y, mu, w, theta), score, second)
}

/// [`theta_ml`] over any rows: `terms(θ)` gives (ℓ, ℓ', ℓ'') at θ (one pass over rows held
/// elsewhere). Newton's method on t = ln θ with step halving, every step raising ℓ.
///
/// # Errors
/// Whatever `terms` reports.
pub(crate) fn theta_ml_with<E>(
    mut terms: impl FnMut(f64) -> Result<(f64, f64, f64), E>,
    start: f64,
) -> Result<(f64, f64), E> {
    let mut theta = start.clamp(1e-8, THETA_MAX);
    let (mut value, mut score, mut second) = terms(theta)?;
    for _ in 0..MAX_NEWTON {
        // In t = ln θ: dℓ/dt = θℓ', d²ℓ/dt² = θℓ' + θ²ℓ''. Where that is not negative (far from
        // the maximum) a step of one unit of t in the score's direction.
        let (first_t, second_t) = (theta * score, theta * score + theta * theta * second);
        let mut step = if second_t < 0.0 { -first_t / second_t } else { first_t.signum() };
        step = step.clamp(-2.0, 2.0);
        let mut next = (theta * step.exp()).min(THETA_MAX);
        let mut next_terms = terms(next)?;
        let mut halvings = 0;
        while (next_terms.0.is_nan() || next_terms.0 < value) && halvings < 60 {
            step *= 0.5;
            next = (theta * step.exp()).min(THETA_MAX);
            next_terms = terms(next)?;
            halvings += 1;
        }
        if next_terms.0.is_nan() || next_terms.0 < value {
            break; // no step raises ℓ: θ is its maximizer to ℓ's rounding
        }
        let change = (next - theta).abs() / theta;
        theta = next;
        (value, score, second) = next_terms;
        if change <= NEWTON_TOL || theta >= THETA_MAX {
            break;
        }
    }
    let information = if theta >= THETA_MAX { 0.0 } else { -second };
    Ok((theta, information))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ψ and ψ' of the crate used here against closed forms: ψ(1) = −γ, ψ'(1) = π²/6,
    /// ψ'(½) = π²/2, and the recurrences ψ(x + 1) = ψ(x) + 1/x, ψ'(x + 1) = ψ'(x) − 1/x².
    #[test]
    fn digamma_and_trigamma_match_their_closed_forms() {
        let gamma = 0.577_215_664_901_532_9;
        let pi2 = std::f64::consts::PI.powi(2);
        assert!((1.0_f64.digamma() + gamma).abs() < 1e-14);
        assert!((1.0_f64.trigamma() - pi2 / 6.0).abs() < 1e-13);
        assert!((0.5_f64.trigamma() - pi2 / 2.0).abs() < 1e-13);
        for x in [0.3, 1.7, 12.5, 450.0] {
            let x: f64 = x;
            assert!(((x + 1.0).digamma() - x.digamma() - 1.0 / x).abs() < 1e-13 * (1.0 + 1.0 / x));
            let rel = ((x + 1.0).trigamma() - x.trigamma() + 1.0 / (x * x)).abs() / x.trigamma();
            assert!(rel < 1e-12, "trigamma recurrence at {x}: {rel:e}");
        }
    }

    /// The score is zero at θ̂ and the log-likelihood is lower on either side of it.
    #[test]
    fn theta_ml_maximizes_the_likelihood() {
        let y = [0.0, 3.0, 1.0, 7.0, 0.0, 12.0, 2.0, 5.0];
        let mu = [2.0, 2.5, 1.5, 4.0, 1.0, 6.0, 3.0, 3.5];
        let w = [1.0; 8];
        let (theta, information) = theta_ml(&y, &mu, &w, 1.0);
        let (score, second) = theta_derivatives(&y, &mu, &w, theta);
        assert!(score.abs() < 1e-10, "score {score:e} at θ = {theta}");
        assert!((information + second).abs() < 1e-12 && information > 0.0);
        let value = negative_binomial_log_likelihood(&y, &mu, &w, theta);
        for factor in [0.99, 1.01] {
            assert!(negative_binomial_log_likelihood(&y, &mu, &w, theta * factor) < value);
        }
    }
}
