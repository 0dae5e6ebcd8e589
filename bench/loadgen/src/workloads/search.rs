//! Which rate a stepped run offers next: up by a fixed factor until a rate fails, then a
//! few geometric midpoints between the highest rate that passed and the lowest that
//! failed, so the knee is known to within a few percent instead of to the factor.
//!
//! With the default factor of 1.5 the climb alone places the knee anywhere in a 50 % band
//! (one suite read 34,172 delivered/s passing and 51,256 failing, and said "34,172"); two
//! midpoints narrow it to about 11 %. Both targets get the same search, so the ratio
//! between them is no longer at the mercy of where the grid happened to fall.

/// How one rate ended, after its retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// It failed; the reason names what limited it ("server-bound", "loadgen-bound").
    Fail(&'static str),
}

#[derive(Debug)]
pub struct RateSearch {
    first: f64,
    factor: f64,
    max_climb: u32,
    refine_left: u32,
    climbed: u32,
    /// The highest rate that passed.
    best_pass: Option<f64>,
    /// The lowest rate that failed, and why.
    lowest_fail: Option<(f64, &'static str)>,
}

impl RateSearch {
    /// Climbs from `first` by `factor` for at most `max_climb` rates, then bisects the
    /// band between the last pass and the first failure `refine` times.
    pub fn new(first: f64, factor: f64, max_climb: u32, refine: u32) -> Self {
        Self {
            first,
            factor: factor.max(1.01),
            max_climb: max_climb.max(1),
            refine_left: refine,
            climbed: 0,
            best_pass: None,
            lowest_fail: None,
        }
    }

    /// The next rate to offer, or `None` when the search is over.
    pub fn next_rate(&self) -> Option<f64> {
        match (self.best_pass, self.lowest_fail) {
            // Still climbing.
            (_, None) if self.climbed < self.max_climb => {
                let power = i32::try_from(self.climbed).unwrap_or(i32::MAX);
                Some(self.first * self.factor.powi(power))
            }
            (_, None) => None,
            // The very first rate failed: there is no band to narrow.
            (None, Some(_)) => None,
            (Some(lo), Some((hi, _))) if self.refine_left > 0 => Some((lo * hi).sqrt()),
            (Some(_), Some(_)) => None,
        }
    }

    /// Records how the rate last returned by [`next_rate`](Self::next_rate) ended.
    pub fn record(&mut self, rate: f64, outcome: Outcome) {
        if self.lowest_fail.is_none() {
            self.climbed += 1;
        } else {
            self.refine_left = self.refine_left.saturating_sub(1);
        }
        match outcome {
            Outcome::Pass => {
                self.best_pass = Some(self.best_pass.map_or(rate, |b| b.max(rate)));
            }
            Outcome::Fail(why) => {
                if self.lowest_fail.is_none_or(|(r, _)| rate < r) {
                    self.lowest_fail = Some((rate, why));
                }
            }
        }
    }

    /// Why the search ended: the reason of the lowest failing rate (what bounds the knee
    /// from above), or that it climbed as far as it was allowed.
    pub fn stop_reason(&self) -> &'static str {
        match self.lowest_fail {
            Some((_, why)) => why,
            None => "max steps reached",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search against a server whose knee is `knee` and returns the rates offered.
    fn offered(mut search: RateSearch, knee: f64) -> Vec<f64> {
        let mut rates = Vec::new();
        while let Some(rate) = search.next_rate() {
            rates.push(rate);
            let outcome = if rate <= knee {
                Outcome::Pass
            } else {
                Outcome::Fail("server-bound")
            };
            search.record(rate, outcome);
            assert!(rates.len() < 50, "the search must end");
        }
        rates
    }

    #[test]
    fn the_climb_is_followed_by_midpoints_that_narrow_the_band() {
        let rates = offered(RateSearch::new(100.0, 2.0, 15, 2), 500.0);
        // 100, 200, 400 pass; 800 fails; then √(400·800) ≈ 566 fails, √(400·566) ≈ 476 passes.
        assert_eq!(rates.len(), 6);
        assert_eq!(&rates[..4], &[100.0, 200.0, 400.0, 800.0]);
        assert!((rates[4] - 565.7).abs() < 0.1, "{rates:?}");
        assert!((rates[5] - 475.7).abs() < 0.1, "{rates:?}");
    }

    #[test]
    fn the_knee_found_is_the_highest_passing_rate_and_within_the_narrowed_band() {
        let knee = 34_000.0;
        let rates = offered(RateSearch::new(100.0, 1.5, 20, 3), knee);
        let best = rates.iter().copied().filter(|&r| r <= knee).fold(0.0, f64::max);
        let lowest_fail = rates.iter().copied().filter(|&r| r > knee).fold(f64::MAX, f64::min);
        assert!(lowest_fail / best < 1.06, "band {best}..{lowest_fail} from {rates:?}");
    }

    #[test]
    fn without_refinement_the_first_failure_ends_the_search() {
        let rates = offered(RateSearch::new(100.0, 2.0, 15, 0), 500.0);
        assert_eq!(rates, vec![100.0, 200.0, 400.0, 800.0]);
    }

    #[test]
    fn a_first_rate_that_fails_leaves_nothing_to_narrow() {
        let mut search = RateSearch::new(100.0, 2.0, 15, 3);
        search.record(100.0, Outcome::Fail("loadgen-bound"));
        assert_eq!(search.next_rate(), None);
        assert_eq!(search.stop_reason(), "loadgen-bound");
    }

    #[test]
    fn the_climb_stops_at_its_limit_when_nothing_fails() {
        let rates = offered(RateSearch::new(1.0, 2.0, 3, 2), f64::MAX);
        assert_eq!(rates, vec![1.0, 2.0, 4.0]);
    }

    #[test]
    fn the_stop_reason_is_that_of_the_lowest_failing_rate() {
        let mut search = RateSearch::new(100.0, 2.0, 15, 2);
        search.record(100.0, Outcome::Pass);
        search.record(200.0, Outcome::Fail("server-bound"));
        assert_eq!(search.stop_reason(), "server-bound");
        let mid = search.next_rate().expect("a midpoint");
        search.record(mid, Outcome::Fail("loadgen-bound"));
        assert_eq!(search.stop_reason(), "loadgen-bound");
        let mid2 = search.next_rate().expect("a second midpoint");
        assert!(mid2 > 100.0 && mid2 < mid);
        search.record(mid2, Outcome::Pass);
        assert_eq!(search.next_rate(), None);
        assert_eq!(search.stop_reason(), "loadgen-bound");
    }
}
