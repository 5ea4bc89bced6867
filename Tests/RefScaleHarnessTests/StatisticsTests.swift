import Testing
@testable import RefScaleHarness

/// The rank test against scipy's answers on the same data. The expected values were computed
/// once with scipy 1.17.1 (its default `method='auto'`, two-sided) and are kept as literals:
///
///     python3 -c "from scipy.stats import mannwhitneyu; r = mannwhitneyu(X, Y, alternative='two-sided'); \
///                 print(float(r.statistic), float(r.pvalue))"
///
/// for each (X, Y) of `scipyCases` below.
let scipyCases: [(x: [Double], y: [Double], u: Double, p: Double, method: String)] = [
    ([1.1, 2.2, 3.3], [4.4, 5.5, 6.6], 0.0, 0.1, "exact"),
    ([1.0, 2.0, 3.0, 4.0, 5.0], [3.5, 6.0, 7.0, 8.0], 2.0, 0.06349206349206349, "exact"),
    ([10.2, 11.5, 9.8, 10.9, 12.1, 10.0, 11.1], [10.4, 11.9, 12.6, 13.3, 11.7, 12.9, 12.2, 13.8], 6.0, 0.009324009324009324, "exact"),
    // Ties: scipy uses the normal approximation with tie and continuity corrections.
    ([1, 2, 2, 3, 4], [2, 3, 5, 6], 4.5, 0.21090292605661043, "normal approximation"),
    // Both samples above 8 values: the normal approximation.
    ([0.49, 0.50, 0.51, 0.52, 0.50, 0.53, 0.49, 0.48, 0.51, 0.55],
     [0.50, 0.54, 0.52, 0.56, 0.57, 0.51, 0.58, 0.53, 0.59, 0.60], 15.0, 0.008823785373835881, "normal approximation"),
    ([5.0, 6.0, 7.0], [5.5, 6.5, 7.5], 3.0, 0.7, "exact"),
]

@Test(arguments: scipyCases.indices)
func mannWhitneyUMatchesScipyOnTheSameData(_ index: Int) {
    let case_ = scipyCases[index]
    let test = Statistics.mannWhitneyU(case_.x, case_.y)
    #expect(test.u == case_.u)
    #expect(abs(test.pValue - case_.p) < 1e-12 * max(1, case_.p), "p \(test.pValue), scipy \(case_.p)")
    #expect(test.method == case_.method)
}

@Test func exactUDistributionSumsToOneAndIsSymmetric() {
    let distribution = Statistics.uDistribution(4, 6)
    #expect(distribution.count == 25)
    #expect(abs(distribution.reduce(0, +) - 1) < 1e-12)
    for u in 0..<distribution.count { #expect(abs(distribution[u] - distribution[24 - u]) < 1e-12) }
    // One arrangement of C(10, 4) = 210 puts every x below every y.
    #expect(abs(distribution[0] - 1.0 / 210) < 1e-15)
}

@Test func medianIntervalOfNineValuesIsSecondToEighthWithItsCoverage() {
    let values: [Double] = [9, 1, 8, 2, 7, 3, 6, 4, 5]
    let interval = Statistics.medianInterval(values)!
    #expect(interval.lower == 2 && interval.upper == 8)
    // 1 - 2 (1 + 9) / 512
    #expect(abs(interval.coverage - (1 - 20.0 / 512)) < 1e-12)
}

@Test func medianIntervalOfFewerThanSixValuesIsTheRangeWithItsLowerCoverage() {
    let interval = Statistics.medianInterval([3, 1, 2])!
    #expect(interval.lower == 1 && interval.upper == 3)
    #expect(abs(interval.coverage - 0.75) < 1e-12)
    #expect(Statistics.medianInterval([]) == nil)
}

@Test func ratioIntervalOfThreeAgainstThreeSpansTheExtremeRatiosAtNinetyPercent() {
    let interval = Statistics.ratioInterval([1, 2, 4], [2, 4, 8])!
    #expect(abs(interval.lower - 0.5) < 1e-12 && abs(interval.upper - 8) < 1e-12)
    // 1 - 2 / C(6, 3)
    #expect(abs(interval.coverage - 0.9) < 1e-12)
    #expect(Statistics.ratioInterval([1, 0], [1]) == nil)
}

@Test func ratioIntervalOfNineAgainstNineReachesNinetyFivePercentAndHoldsTheTrueRatio() {
    let x: [Double] = [100, 101, 99, 102, 98, 100.5, 99.5, 101.5, 98.5]
    let y = x.map { $0 * 1.1 }
    let interval = Statistics.ratioInterval(x, y)!
    #expect(interval.coverage >= 0.95)
    #expect(interval.lower < 1.1 && interval.upper > 1.1)
    #expect(interval.lower > 1.0)
}

/// The median's interval against scipy's for the same data (the interval the plotting side draws),
/// computed once with scipy 1.17.1:
///
///     python3 -c "from scipy.stats import quantile_test; \
///                 ci = quantile_test(X, p=0.5).confidence_interval(0.95); print(ci.low, ci.high)"
@Test func medianIntervalMatchesScipysQuantileTestInterval() {
    let cases: [(values: [Double], low: Double, high: Double)] = [
        ([9, 1, 8, 2, 7, 3, 6, 4, 5], 2.0, 8.0),
        ([3.1, 2.9, 3.3, 3.0, 2.8, 3.2, 3.05, 2.95, 3.15, 3.4, 2.7, 3.25], 2.9, 3.25),
        ([1, 2, 3, 4, 5, 6], 1.0, 6.0),
    ]
    for (values, low, high) in cases {
        let interval = Statistics.medianInterval(values)!
        #expect(interval.lower == low && interval.upper == high, "\(values)")
        #expect(interval.coverage >= Statistics.confidence)
    }
}
