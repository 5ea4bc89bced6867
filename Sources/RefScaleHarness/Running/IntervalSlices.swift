import CRefScale
import RefScale

/// The measured interval cut into slices of about `sliceSeconds`: the main thread wakes at each
/// slice's end, reads the operations the workers have published and the monotonic clock, and
/// keeps the slice's ns/op (per thread, as `ns_per_op`). A slice in which no worker published
/// (a pass longer than a slice) is joined to the next, so every kept slice has operations.
///
/// The slices show whether the machine's speed changed during one run: on a VM whose core is
/// shared with another guest's hyperthread a loop of high instruction-level parallelism runs at
/// half speed while the other guest runs, and nothing inside the VM (load, steal) shows it. The
/// run's own figure is still the whole interval's; the slices' 10th and 90th percentiles are
/// reported beside it (`slice_ns_p10`, `slice_ns_p90`).
///
/// Waking costs the main thread a few microseconds per slice, taken from a worker when every CPU
/// has one. Measured: the same source with and without slices, `noop` on `private`, 12
/// alternating runs each: 0.440 against 0.455 ns/op at 1 thread, 0.470 against 0.482 at 2.
struct IntervalSlices {
    static let sliceSeconds = 0.01
    /// Fewer kept slices than this give no percentiles (a short interval, or passes longer than
    /// a slice): a 10th percentile of a handful of slices is their minimum.
    static let minimumSlices = 10
    /// Above this p90/p10 a run is reported as one whose speed moved during the interval.
    static let unsteadySpread = 1.25

    private(set) var nanosecondsPerOperation: [Double]

    init(nanosecondsPerOperation: [Double] = []) { self.nanosecondsPerOperation = nanosecondsPerOperation }

    /// Sleeps through `duration` seconds in slices, reading `publishedOperations` (the sum over
    /// workers) at each slice's end; `threads` converts a slice's rate to per-thread ns/op.
    static func measure(duration: Double, threads: Int, publishedOperations: () -> Int) -> IntervalSlices {
        var slices = IntervalSlices()
        let start = crefscale_clock_monotonic_ns()
        let end = start + UInt64(duration * 1e9)
        var sliceStart = (nanoseconds: start, operations: publishedOperations())
        while true {
            let now = crefscale_clock_monotonic_ns()
            if now >= end { break }
            Runner.sleep(seconds: min(sliceSeconds, Double(end - now) / 1e9))
            let operations = publishedOperations()
            guard operations > sliceStart.operations else { continue }
            let sliceEnd = crefscale_clock_monotonic_ns()
            slices.nanosecondsPerOperation.append(
                Double(threads) * Double(sliceEnd - sliceStart.nanoseconds) / Double(operations - sliceStart.operations))
            sliceStart = (sliceEnd, operations)
        }
        return slices
    }

    /// The `fraction` percentile of the slices' ns/op (nearest rank), nil with too few slices.
    func percentile(_ fraction: Double) -> Double? {
        guard nanosecondsPerOperation.count >= Self.minimumSlices else { return nil }
        let sorted = nanosecondsPerOperation.sorted()
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }
}
