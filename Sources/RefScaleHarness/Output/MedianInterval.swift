/// A distribution-free interval for a median: the order statistics `x(k)` and `x(n-k+1)` of
/// the sorted sample, with the largest `k` whose coverage `1 - 2·P(B ≤ k-1)`, B ~ Binomial(n,
/// 1/2), is at least the confidence asked for (the sign-test interval; Conover, *Practical
/// Nonparametric Statistics*, 3rd ed., §3.2). A sample too small for that confidence gets the
/// widest interval, its minimum and maximum, and says what it covers.
public struct MedianInterval: Sendable, Equatable {
    public var median: Double
    public var low: Double
    public var high: Double
    /// The coverage the interval reaches.
    public var confidence: Double

    public init?(_ values: [Double], confidence wanted: Double = 0.95) {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let n = sorted.count
        median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        // P(B <= j) for B ~ Binomial(n, 1/2), j = 0, 1, ...
        var cumulative: [Double] = []
        var term = MedianInterval.pow2(-n)
        var sum = 0.0
        for j in 0 ... n {
            sum += term
            cumulative.append(sum)
            term = term * Double(n - j) / Double(j + 1)
        }
        var k = 1
        while k + 1 <= (n + 1) / 2 && 1 - 2 * cumulative[k] >= wanted { k += 1 }
        low = sorted[k - 1]
        high = sorted[n - k]
        confidence = max(0, 1 - 2 * cumulative[k - 1])
    }

    static func pow2(_ exponent: Int) -> Double {
        var value = 1.0
        for _ in 0 ..< abs(exponent) { value *= 2 }
        return exponent < 0 ? 1 / value : value
    }
}
