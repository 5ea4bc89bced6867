import ArgumentParser
import Glibc
import RefScale
import RefScaleHarness

struct Calibrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Times the plain-C reference loops and refscale's kernels in one process; prints ratios.",
        discussion: """
            In order: the reference loops (C atomics, plain C ++/--, the real Py_INCREF/Py_DECREF \
            of CPython's header), a cache line's round trip between two CPUs and the core's width \
            (adds per cycle this thread gets, which falls while another hyperthread shares the \
            core); every scheme uncontended (private, 1 thread) against the harness's \
            own cost (noop), the nonatomic model and the plain-C pair; the real header against the \
            nonatomic model; and the contended kernels against the C atomic loop. Each figure is the \
            median of 3 runs of --duration; the runs are counted on stderr as they go.
            """)

    @Option(parsing: .unconditional, help: "Measured interval of each refscale run, seconds (more than 0, at most a day).")
    var duration = 0.5

    /// Runs are counted on stderr as they go: the whole takes a minute or more.
    var progress: SweepProgress {
        let schemes = Registry.schemes.count
        return SweepProgress(total: 3 * (schemes + Calibrate.contendedSchemes.count + schemes * CalibratedContext.all.count))
    }
    /// The last is the build's embedded CPython: `cpython` (3.11), or `cpython-313t` in its build.
    static let contendedSchemes = ["noop", "atomic", "handle-local", "gil", Registry.embeddedCPython.name]

    func run() throws {
        try ResourceLimits.checkSeconds(duration, flag: "--duration")
        let progress = self.progress
        var done = 0
        fputs("calibrate: timing the reference loops\n", stderr)
        let cores = min(2, MachineInfo.current.onlineCPUs)
        let atomicOne = Calibration.atomicPair(threads: 1)
        let atomicShared = Calibration.atomicPair(threads: cores)
        let plain = Calibration.plainPair()
        let python = Calibration.pythonPair()
        let biasedOwner = Calibration.biasedOwnerPair()
        print("reference loops (C, one process):")
        for reference in [atomicOne, atomicShared, plain, python, biasedOwner] {
            print("  \(reference.name), \(reference.threads) thread(s): \(format(reference.nanosecondsPerOperation)) ns/op")
        }
        if let roundTrips = Calibration.lineRoundTrip() {
            print("  cache line round trip between CPU \(roundTrips.cpus[0]) and CPU \(roundTrips.cpus[1]): \(sampleRange(roundTrips.nanoseconds, unit: "ns")) (it moves when the machine places the two CPUs on nearby or distant cores, and every figure of threads that share lines moves with it)")
        }
        print("  core width: \(sampleRange(Calibration.coreWidth(), unit: "adds per cycle")) (one dependent chain of adds over four independent ones; it falls while another hyperthread shares the core, and a loop as tight as noop's slows with it)")

        var invalid = 0
        func median(_ scheme: String, _ workload: String, threads: Int, objects: Int? = nil) throws -> Double {
            var options = OptionValues()
            if let objects { options.set("objects", to: .integer(objects)) }
            let runs = try (1...3).map { repetition in
                progress.update(done: done)
                defer { done += 1; progress.clear() }
                return try Runner.run(RunRequest(
                    scheme: Registry.scheme(named: scheme), workload: Registry.workload(named: workload),
                    workloadOptions: options, threads: threads, duration: duration, repetition: repetition))
            }
            invalid += runs.filter { !$0.isValid }.count
            return Summary.median(runs.compactMap(\.nanosecondsPerOperation)) ?? .nan
        }

        print("\nuncontended: every scheme on private, 1 thread (median of 3 runs of \(duration) s)")
        var uncontended: [(scheme: String, nanoseconds: Double)] = []
        // noop first: the harness's own cost, which every other line contains.
        for scheme in [NoopScheme.name] + Registry.schemes.map(\.name).filter({ $0 != NoopScheme.name }) {
            uncontended.append((scheme, try median(scheme, "private", threads: 1)))
        }
        let noop = uncontended.first { $0.scheme == NoopScheme.name }!.nanoseconds
        let nonatomic = uncontended.first { $0.scheme == NonatomicScheme.name }!.nanoseconds
        let widths = [14, 9, 16, 8, 13, 12]
        print("  " + row(["scheme", "ns/op", "counting ns/op", "× noop", "× nonatomic", "× C ++/--"], widths))
        for (scheme, nanoseconds) in uncontended {
            print("  " + row([
                scheme, format(nanoseconds), format(nanoseconds - noop), format(nanoseconds / noop),
                format(nanoseconds / nonatomic), format(nanoseconds / plain.nanosecondsPerOperation),
            ], widths))
        }
        print("  (counting ns/op: ns/op less noop's, the harness's own cost of stream, dispatch and bookkeeping)")

        let cpython = uncontended.first { $0.scheme == Registry.embeddedCPython.name }!.nanoseconds
        print("\nthe real CPython header against the nonatomic model:")
        print("  \("C loop: Py_INCREF + Py_DECREF".padding(36)) \(format(python.nanosecondsPerOperation).padding(6)) ns/op = \(format(python.nanosecondsPerOperation / plain.nanosecondsPerOperation)) × C volatile ++ and --")
        print("  \("scheme: \(Registry.embeddedCPython.name) on private".padding(36)) \(format(cpython).padding(6)) ns/op = \(format(cpython / nonatomic)) × nonatomic on private (\(format(nonatomic)) ns/op)")
        print("  \("counting only (less noop)".padding(36)) \(format(cpython - noop).padding(6)) ns/op = \(format((cpython - noop) / (nonatomic - noop))) × nonatomic's \(format(nonatomic - noop)) ns/op")

        let biased = uncontended.first { $0.scheme == BiasedScheme.name }!.nanoseconds
        print("  \("biased's owner path (less noop)".padding(36)) \(format(biased - noop).padding(6)) ns/op = \(format((biased - noop) / biasedOwner.nanosecondsPerOperation)) × \(biasedOwner.name) (\(format(biasedOwner.nanosecondsPerOperation)) ns/op)")

        print("\ncontended: \(cores) thread(s) on one shared object, against the C atomic loop on one counter:")
        for scheme in Calibrate.contendedSchemes {
            let nanoseconds = try median(scheme, "shared-hot", threads: cores, objects: 1)
            let label = "\(scheme) on shared-hot, \(cores) thread(s)"
            print("  \(label.padding(40)) \(format(nanoseconds).padding(8)) ns/op = \(format(nanoseconds / atomicShared.nanosecondsPerOperation)) × \(atomicShared.name)")
        }
        invalid += try contextCosts(progress: progress, done: done)
        if invalid > 0 { throw HarnessError("\(invalid) calibration runs failed validation") }
    }

    /// A probe's samples as "min-max UNIT in N samples P ms apart".
    func sampleRange(_ samples: [Double], unit: String) -> String {
        "\(format(samples.min()!))-\(format(samples.max()!)) \(unit) in \(samples.count) samples \(Int(Calibration.probePause * 1000)) ms apart"
    }

    /// A difference with its sign: "+0.52", "-0.27".
    func signed(_ difference: Double) -> String { (difference < 0 ? "" : "+") + format(difference) }

    func row(_ fields: [String], _ widths: [Int]) -> String {
        zip(fields, widths).map { $0.padding($1) }.joined(separator: " ")
    }

    /// What a context adds to each scheme: the same private stream on 1 thread, direct, through
    /// the universal table, through the debug context, and through the trace context counting
    /// only and counting and timing; the difference is per operation.
    func contextCosts(progress: SweepProgress, done: Int) throws -> Int {
        var done = done
        print("\ncontexts on private, 1 thread (median of 3 runs of \(duration) s), ns/op:")
        print("  \("scheme".padding(14))\("direct".padding(9))\("universal".padding(11))\("+universal".padding(12))\("x".padding(8))\("debug".padding(9))\("+debug".padding(9))\("+trace count".padding(13))\("x +universal".padding(13))+trace timed (over universal)")
        var invalid = 0
        for scheme in Registry.schemes {
            var medians: [CalibratedContext: Double] = [:]
            for context in CalibratedContext.all {
                var request = RunRequest(
                    scheme: scheme, workload: try Registry.workload(named: "private"), threads: 1, duration: duration,
                    context: context.kind)
                request.schemeOptions.debug.onViolation = .collect
                request.schemeOptions.traceTiming = context.timed
                let runs = try (1...3).map { repetition in
                    request.repetition = repetition
                    progress.update(done: done)
                    defer { done += 1; progress.clear() }
                    return try Runner.run(request)
                }
                invalid += runs.filter { !$0.isValid }.count
                medians[context] = Summary.median(runs.compactMap(\.nanosecondsPerOperation)) ?? .nan
            }
            let direct = medians[.direct]!, universal = medians[.universal]!, debug = medians[.debug]!
            let counted = medians[.traceCounting]!, timed = medians[.traceTimed]!
            // The target: counting adds at most twice what the table itself adds over direct. Where
            // the table added nothing measurable the ratio has no meaning and is shown as "-".
            let ratio = universal > direct ? format((counted - universal) / (universal - direct)) : "-"
            print("  \(scheme.name.padding(14))\(format(direct).padding(9))\(format(universal).padding(11))\(signed(universal - direct).padding(12))\(format(universal / direct).padding(8))\(format(debug).padding(9))\(signed(debug - universal).padding(9))\(signed(counted - universal).padding(13))\(ratio.padding(13))\(signed(timed - universal))")
        }
        return invalid
    }

    /// The contexts `calibrate` compares, the trace context both counting only and timing.
    struct CalibratedContext: Hashable {
        var kind: ContextKind
        var timed = true
        static let direct = CalibratedContext(kind: .direct)
        static let universal = CalibratedContext(kind: .universal)
        static let debug = CalibratedContext(kind: .debug)
        static let traceCounting = CalibratedContext(kind: .trace, timed: false)
        static let traceTimed = CalibratedContext(kind: .trace, timed: true)
        static let all = [direct, universal, debug, traceCounting, traceTimed]
    }

    func format(_ value: Double) -> String {
        let scaled = (value * 100).rounded() / 100
        return String(scaled)
    }
}

extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
