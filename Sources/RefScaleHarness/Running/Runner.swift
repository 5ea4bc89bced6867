import CRefScale
import Glibc
import RefScale

/// Performs runs: creates the workers (pinned as the request says), releases them together,
/// reads their published operation counts and CPUs at the start and the end of the measured
/// interval, then has the run validated. It knows nothing of any scheme or workload.
public enum Runner {
    public static func run(_ request: RunRequest, machine: MachineInfo = .current) throws -> RunRecord {
        let session = try prepare(request)
        let cpus = request.pin.cpus(workers: request.threads)
        let control = RunControl(workers: request.threads)
        let signals = control.signals

        let workers = (0..<request.threads).map { index in
            WorkerThread(pinnedTo: cpus?[index]) { session.runWorker(index, signals) }
        }
        control.waitUntilReady()
        if let failure = session.failure() {
            // A worker's set-up failed: let every worker through the barrier and stop it at once.
            control.start()
            control.stop()
            workers.forEach { $0.join() }
            _ = session.finish()
            throw HarnessError(failure)
        }
        control.start()
        sleep(seconds: request.warmup)
        let startOperations = control.publishedOperations()
        let startNanoseconds = crefscale_clock_monotonic_ns()
        let startCPUs = control.publishedCPUs()
        let startLoad = MachineLoad.now()
        let slices = IntervalSlices.measure(duration: request.duration, threads: request.threads) {
            control.publishedOperations().reduce(0, +)
        }
        let endLoad = MachineLoad.now()
        let endOperations = control.publishedOperations()
        let endNanoseconds = crefscale_clock_monotonic_ns()
        let endCPUs = control.publishedCPUs()
        control.stop()
        workers.forEach { $0.join() }
        let outcome = session.finish()
        if let failure = outcome.failure { throw HarnessError(failure) }

        var record = RunRecord(
            request: request, measuredWorkerOperations: zip(endOperations, startOperations).map { $0 - $1 },
            elapsedNanoseconds: endNanoseconds - startNanoseconds, outcome: outcome, startCPUs: startCPUs, endCPUs: endCPUs,
            machine: machine)
        record.otherLoad = MachineLoad.otherCPUs(from: startLoad, to: endLoad, seconds: record.elapsedSeconds)
        record.sliceNanosecondsPerOperation = (slices.percentile(0.1), slices.percentile(0.9))
        return record
    }

    /// Prepares the run (allocation, streams, the main thread's set-up: `hpy`'s trial call) and
    /// ends it without starting a worker: throws what `run` throws before its workers start, so
    /// a command running several requests can check each of them before any thread starts.
    public static func trial(_ request: RunRequest) throws {
        _ = try prepare(request).finish()
    }

    /// `trial` of one request per distinct workload configuration that runs extension code, before
    /// a command prints or writes anything: a module's function that fails on its arguments is
    /// then the command's one line of bad input, not a failure after the table's header.
    public static func trialExtensionCode(_ requests: [RunRequest]) throws {
        var tried: Set<OptionValues> = []
        for request in requests where request.workload.runsExtensionCode && tried.insert(request.workloadOptions).inserted {
            try trial(request)
        }
    }

    static func prepare(_ request: RunRequest) throws -> PreparedRun {
        let workload = try request.workload.make(request.workloadOptions)
        let config = RunConfig(
            threads: request.threads, seed: request.seed, scheme: request.schemeOptions, workload: workload,
            poolMemory: request.placement.poolMemory(), context: request.context)
        do {
            return try request.scheme.prepare(config)
        } catch let failure as RunFailure {
            throw HarnessError(failure.description)
        } catch let refusal as ConfigurationError {
            // The main thread's set-up refused its input (`hpy`: a function failing on its
            // arguments): bad input, found before any worker starts.
            throw UsageError(refusal.description)
        }
    }

    /// Sleeps for `seconds`, never trapping: `nan` and values of zero or less return at once, and
    /// values above `ResourceLimits.maximumSeconds` (which `RunRequest.validate` refuses) sleep
    /// that long, since a `Double` beyond `Int`'s range traps when converted.
    static func sleep(seconds requested: Double) {
        guard requested > 0 else { return }
        let seconds = min(requested, ResourceLimits.maximumSeconds)
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
