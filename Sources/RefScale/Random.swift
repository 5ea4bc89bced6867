import Foundation

/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014):
/// small, fast, and the same sequence on every machine for the same seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The generator of thread `thread` for a run seeded with `seed`.
    public static func forThread(_ thread: Int, seed: UInt64) -> SplitMix64 {
        var mixer = SplitMix64(seed: seed ^ (UInt64(thread) &+ 1) &* 0xD1B5_4A32_D192_ED03)
        return SplitMix64(seed: mixer.next())
    }
}

/// Draws ranks 0..<count with probability proportional to 1 / (rank + 1)^s (Zipf's law; s = 0
/// is uniform), by binary search in the cumulative distribution.
public struct ZipfSampler: Sendable {
    let cumulative: [Double]

    public init(count: Int, exponent: Double) {
        var total = 0.0
        cumulative = (0..<count).map { rank in
            total += 1 / pow(Double(rank + 1), exponent)
            return total
        }
    }

    public func next(using generator: inout SplitMix64) -> Int {
        let target = Double(generator.next() >> 11) / Double(1 << 53) * cumulative.last!
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] <= target { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
