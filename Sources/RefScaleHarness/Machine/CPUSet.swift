import CRefScale

/// A set of logical CPUs by number, kept in ascending order.
public struct CPUSet: Sendable, Equatable, CustomStringConvertible {
    public private(set) var cpus: [Int]

    /// A set of the given CPUs.
    public init(_ cpus: some Sequence<Int>) {
        self.cpus = Array(Set(cpus)).sorted()
    }

    /// A set from the kernel's list format, as in `/sys/devices/system/node/node0/cpulist`:
    /// "0-3,8,10-11"; nil when the text is not such a list.
    public init?(list: String) {
        var cpus: [Int] = []
        for range in list.split(separator: ",") {
            let ends = range.split(separator: "-", maxSplits: 1).map { Int($0.trimmingSpaces) }
            guard let first = ends.first ?? nil, let last = ends.last ?? nil, first >= 0, first <= last else { return nil }
            cpus += first...last
        }
        self.init(cpus)
    }

    /// The CPUs this process may run on (`sched_getaffinity`): the online CPUs, less those a
    /// container or `taskset` keeps it from.
    public static let allowed: CPUSet = {
        var cpus = [Int32](repeating: 0, count: 4096)
        let count = crefscale_cpu_allowed(&cpus, Int32(cpus.count))
        precondition(count >= 0, "sched_getaffinity failed: \(count)")
        return CPUSet(cpus.prefix(Int(count)).map(Int.init))
    }()

    public var count: Int { cpus.count }
    public var isEmpty: Bool { cpus.isEmpty }

    public func contains(_ cpu: Int) -> Bool { cpus.contains(cpu) }

    public func intersection(_ other: CPUSet) -> CPUSet { CPUSet(cpus.filter(other.contains)) }

    /// The kernel's list format: "0-3,8".
    public var description: String {
        var parts: [String] = []
        var index = 0
        while index < cpus.count {
            var end = index
            while end + 1 < cpus.count && cpus[end + 1] == cpus[end] + 1 { end += 1 }
            parts.append(end == index ? "\(cpus[index])" : "\(cpus[index])-\(cpus[end])")
            index = end + 1
        }
        return parts.joined(separator: ",")
    }
}
