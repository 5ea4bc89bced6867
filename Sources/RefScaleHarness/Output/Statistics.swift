import Glibc

/// The statistics `report` and `run --reps auto` use, written here because Swift has no kept
/// statistics library. Each method names its source; `StatisticsTests` checks the rank test
/// against scipy's `mannwhitneyu` on the same data.
///
/// - The interval of a median is the distribution-free order-statistic interval (the binomial
///   method: Conover, *Practical Nonparametric Statistics*, 3rd ed., section 3.2; Hollander and
///   Wolfe, *Nonparametric Statistical Methods*, section 3.6): with `n` values sorted, the
///   interval from the `k`-th smallest to the `k`-th largest covers the population median with
///   probability `1 - 2 P(B <= k - 1)`, `B ~ Binomial(n, 1/2)`, for any continuous distribution.
///   No such interval reaches 95% with fewer than 6 values; then the widest one (minimum to
///   maximum) is given with its own, lower, coverage.
/// - The significance of a difference is the two-sided Mann-Whitney U test (Mann and Whitney,
///   1947, "On a test of whether one of two random variables is stochastically larger than the
///   other", Ann. Math. Statist. 18(1)), with scipy's choice of method: the exact null
///   distribution (the counting recurrence of that paper) when one sample has at most 8 values
///   and there are no ties, else the normal approximation with tie correction and continuity
///   correction.
/// - The interval of a ratio of two throughputs is Moses' distribution-free interval for a shift
///   (Hollander and Wolfe, section 4.3), applied to the logarithms of the values: the `k`-th
///   smallest and largest of the `n1 n2` differences `log y - log x`, `k` read from the same exact
///   U distribution, exponentiated.
public enum Statistics {
    /// An interval with the probability that it covers the quantity it estimates.
    public struct Interval: Equatable, Sendable {
        public var lower: Double
        public var upper: Double
        /// The coverage the interval has (0.95 or more, unless too few values allow it).
        public var coverage: Double

        /// Half the width, relative to `center`.
        public func relativeHalfWidth(around center: Double) -> Double {
            center != 0 ? (upper - lower) / 2 / abs(center) : .infinity
        }
    }

    public static let confidence = 0.95

    public static func median(_ values: [Double]) -> Double? { Summary.median(values) }

    /// The order-statistic interval of the median of `values`; nil for no values.
    public static func medianInterval(_ values: [Double], confidence: Double = confidence) -> Interval? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let n = sorted.count
        // Coverage of [x(k), x(n-k+1)] is 1 - 2 P(B <= k-1); take the largest k that keeps it.
        var chosen = 1
        var k = 1
        while k <= (n + 1) / 2 {
            if 1 - 2 * binomialHalfCDF(k - 1, n) >= confidence - 1e-12 { chosen = k } else { break }
            k += 1
        }
        return Interval(lower: sorted[chosen - 1], upper: sorted[n - chosen], coverage: 1 - 2 * binomialHalfCDF(chosen - 1, n))
    }

    /// P(B <= k) for B ~ Binomial(n, 1/2).
    static func binomialHalfCDF(_ k: Int, _ n: Int) -> Double {
        guard k >= 0 else { return 0 }
        var sum = 0.0
        var term = pow(0.5, Double(n))  // C(n, 0) / 2^n
        for i in 0...min(k, n) {
            sum += term
            term = term * Double(n - i) / Double(i + 1)
        }
        return min(1, sum)
    }

    /// The result of a two-sided Mann-Whitney U test of `x` against `y`.
    public struct RankTest: Equatable, Sendable {
        /// U of the first sample (scipy's `statistic`).
        public var u: Double
        public var pValue: Double
        /// `exact` or `normal approximation`.
        public var method: String
    }

    public static func mannWhitneyU(_ x: [Double], _ y: [Double]) -> RankTest {
        let n1 = x.count
        let n2 = y.count
        precondition(n1 > 0 && n2 > 0, "a rank test needs values on both sides")
        // Midranks of the pooled values.
        let pooled = (x.map { ($0, 0) } + y.map { ($0, 1) }).sorted { $0.0 < $1.0 }
        var rankSumX = 0.0
        var tieTerm = 0.0
        var index = 0
        while index < pooled.count {
            var end = index
            while end + 1 < pooled.count && pooled[end + 1].0 == pooled[index].0 { end += 1 }
            let midrank = Double(index + end + 2) / 2
            let tied = Double(end - index + 1)
            tieTerm += tied * tied * tied - tied
            for member in pooled[index...end] where member.1 == 0 { rankSumX += midrank }
            index = end + 1
        }
        let u1 = rankSumX - Double(n1 * (n1 + 1)) / 2
        let u2 = Double(n1 * n2) - u1
        let u = max(u1, u2)
        let hasTies = tieTerm > 0
        if !(n1 > 8 && n2 > 8) && !hasTies {
            // P(U >= u) = P(U <= n1 n2 - u) by symmetry.
            let distribution = uDistribution(n1, n2)
            let upTo = Int((Double(n1 * n2) - u).rounded())
            let tail = distribution.prefix(upTo + 1).reduce(0, +)
            return RankTest(u: u1, pValue: min(1, 2 * tail), method: "exact")
        }
        let n = Double(n1 + n2)
        let mean = Double(n1 * n2) / 2
        let sigma = (Double(n1 * n2) / 12 * ((n + 1) - tieTerm / (n * (n - 1)))).squareRoot()
        let z = (u - mean - 0.5) / sigma
        let p = sigma > 0 ? 2 * 0.5 * erfc(z / 2.0.squareRoot()) : 1
        return RankTest(u: u1, pValue: min(1, max(0, p)), method: "normal approximation")
    }

    /// The null distribution of U for samples of `n1` and `n2` values without ties: element `u`
    /// is P(U = u). Mann and Whitney's recurrence on counts of arrangements,
    /// `c(n1, n2, u) = c(n1 - 1, n2, u - n2) + c(n1, n2 - 1, u)`, evaluated in probabilities
    /// (each count over C(n1 + n2, n1)) so that no count overflows.
    static func uDistribution(_ n1: Int, _ n2: Int) -> [Double] {
        // table[a][b] is the distribution for sizes a and b, built up to n1 and n2.
        var table = [[[Double]]](repeating: [[Double]](repeating: [], count: n2 + 1), count: n1 + 1)
        for a in 0...n1 {
            for b in 0...n2 {
                if a == 0 || b == 0 {
                    table[a][b] = [1]
                    continue
                }
                var result = [Double](repeating: 0, count: a * b + 1)
                // The largest value is from the first sample (probability a / (a + b)): it exceeds
                // all b values of the second, adding b to U.
                let first = Double(a) / Double(a + b)
                for (u, p) in table[a - 1][b].enumerated() { result[u + b] += first * p }
                for (u, p) in table[a][b - 1].enumerated() { result[u] += (1 - first) * p }
                table[a][b] = result
            }
        }
        return table[n1][n2]
    }

    /// Moses' interval for `median(y) / median(x)` in the shape of a shift of log values; nil if
    /// a value is not positive.
    public static func ratioInterval(_ x: [Double], _ y: [Double], confidence: Double = confidence) -> Interval? {
        guard !x.isEmpty, !y.isEmpty, (x + y).allSatisfy({ $0 > 0 && $0.isFinite }) else { return nil }
        let differences = x.flatMap { a in y.map { b in log(b) - log(a) } }.sorted()
        let distribution = uDistribution(x.count, y.count)
        // [d(k), d(n1 n2 - k + 1)] covers the shift with probability 1 - 2 P(U <= k - 1).
        var cumulative = [Double]()
        var sum = 0.0
        for p in distribution {
            sum += p
            cumulative.append(sum)
        }
        let m = differences.count
        var chosen = 1
        var k = 1
        while k <= (m + 1) / 2 {
            if 1 - 2 * cumulative[k - 1] >= confidence - 1e-12 { chosen = k } else { break }
            k += 1
        }
        let coverage = 1 - 2 * cumulative[chosen - 1]
        return Interval(lower: exp(differences[chosen - 1]), upper: exp(differences[m - chosen]), coverage: coverage)
    }
}
