import Glibc
import RefScale

/// The limits a run is held to before anything is allocated, so that a mistyped number gets one
/// line rather than a trap, a machine brought to its knees, or an hour of waiting. Limits that
/// depend on the machine (threads, memory) are read from it and stated in the message.
public enum ResourceLimits {
    /// Workers per online CPU a run may have. Oversubscription is allowed and marked in the row;
    /// beyond this many workers per CPU every worker spins in a time slice it rarely gets.
    public static let threadsPerOnlineCPU = 16

    /// The most repetitions one command may ask for: each is a run and a row.
    public static let maximumRepetitions = 10_000

    /// The longest measured interval, warm-up or round, in seconds (a day). Longer values,
    /// `inf` and `nan` are refused before a clock is read.
    public static let maximumSeconds = 86_400.0

    /// The largest value an integer option of a workload may take (2^31 - 1). Workloads multiply
    /// their counts by each other and by the threads; below this no product overflows.
    public static let largestCount = Int(Int32.max)

    public static func maximumThreads(onlineCPUs: Int = MachineInfo.current.onlineCPUs) -> Int {
        threadsPerOnlineCPU * max(1, onlineCPUs)
    }

    /// Throws unless `threads` is between 1 and the machine's limit.
    public static func checkThreads(_ threads: Int, flag: String = "--threads", onlineCPUs: Int = MachineInfo.current.onlineCPUs) throws {
        guard threads >= 1 else { throw UsageError("\(flag) must be at least 1, got \(threads)") }
        let limit = maximumThreads(onlineCPUs: onlineCPUs)
        guard threads <= limit else {
            throw UsageError("\(flag) \(threads): at most \(limit) threads (\(threadsPerOnlineCPU) times the \(onlineCPUs) online CPUs)")
        }
    }

    /// The problem with a number of seconds, or nil: finite, at most `maximumSeconds`, and above
    /// zero (or at least zero where `zeroAllowed`).
    public static func secondsProblem(_ seconds: Double, zeroAllowed: Bool = false) -> String? {
        let low = zeroAllowed ? ">= 0" : "> 0"
        let inRange = seconds.isFinite && (zeroAllowed ? seconds >= 0 : seconds > 0) && seconds <= maximumSeconds
        return inRange ? nil : "must be a number of seconds \(low) and at most \(Int(maximumSeconds)) (a day), got \(seconds)"
    }

    public static func checkSeconds(_ seconds: Double, flag: String, zeroAllowed: Bool = false) throws {
        if let problem = secondsProblem(seconds, zeroAllowed: zeroAllowed) { throw UsageError("\(flag) \(problem)") }
    }

    public static func checkRepetitions(_ repetitions: Int, flag: String = "--reps") throws {
        guard (1...maximumRepetitions).contains(repetitions) else {
            throw UsageError("\(flag) must be between 1 and \(maximumRepetitions), got \(repetitions)")
        }
    }

    /// Throws when an integer option of a workload is above `largestCount`.
    public static func checkCounts(_ values: OptionValues) throws {
        for (name, value) in values.given.sorted(by: { $0.key < $1.key }) {
            if case .integer(let count) = value, count > largestCount {
                throw UsageError(ConfigurationError(option: name, "must be at most \(largestCount), got \(count)").description)
            }
        }
    }

    /// The objects a run of `workload` on `threads` threads allocates, as `RunSession` sizes its
    /// pool: those born by index, and a region for each worker, the main thread and one spare.
    /// Nil when the count does not fit in an `Int`.
    static func pooledObjects(_ workload: any Workload, threads: Int) -> Int? {
        let (regions, regionOverflow) = workload.regionSize(threads: threads).multipliedReportingOverflow(by: threads + 2)
        let (total, totalOverflow) = workload.poolSize(threads: threads).addingReportingOverflow(regions)
        return regionOverflow || totalOverflow ? nil : total
    }

    /// Throws when the run's objects alone need more memory than the machine has available.
    /// The objects are most of a run's memory; streams, tables and queues come on top.
    public static func checkMemory(_ workload: any Workload, threads: Int, alignment: Int) throws {
        let stride = ObjectPool.stride(alignment: alignment)
        let objects = pooledObjects(workload, threads: threads)
        let bytes = objects.flatMap { count -> Int? in
            let (bytes, overflow) = count.multipliedReportingOverflow(by: stride)
            return overflow ? nil : bytes
        }
        let memory = Memory.current()
        guard let bytes, bytes <= memory.available else {
            let need = bytes.map { "need at least \(Memory.text($0))" } ?? "need more than \(Memory.text(Int.max))"
            let count = objects.map(String.init) ?? "more than \(Int.max)"
            throw UsageError("\(count) objects of \(stride) bytes \(need); this machine has \(Memory.text(memory.available)) available (\(Memory.text(memory.total)) in all): lower --objects, --threads or --object-align")
        }
    }

    /// The machine's memory in bytes, from `/proc/meminfo` (`MemAvailable`: what can be had
    /// without swapping), or from `sysconf` where that file is missing.
    public struct Memory: Sendable {
        public var total: Int
        public var available: Int

        public static func current() -> Memory {
            let page = sysconf(Int32(_SC_PAGESIZE))
            var memory = Memory(
                total: sysconf(Int32(_SC_PHYS_PAGES)) * page, available: sysconf(Int32(_SC_AVPHYS_PAGES)) * page)
            for line in (readFile("/proc/meminfo") ?? "").split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard fields.count >= 2, let kibibytes = Int(fields[1]) else { continue }
                if fields[0] == "MemTotal:" { memory.total = kibibytes * 1024 }
                if fields[0] == "MemAvailable:" { memory.available = kibibytes * 1024 }
            }
            return memory
        }

        /// Bytes in GiB with one decimal, or MiB below a GiB.
        static func text(_ bytes: Int) -> String {
            let mebibytes = Double(bytes) / 1_048_576
            if mebibytes < 1024 { return "\((mebibytes * 10).rounded() / 10) MiB" }
            return "\((mebibytes / 1024 * 10).rounded() / 10) GiB"
        }
    }
}
