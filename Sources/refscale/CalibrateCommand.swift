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
            nonatomic model; handle-local's table, atomic and biased against their C yardstick (the \
            same steps in C, run on call's own operation stream beside the same stream with noop's \
            steps, the schemes' C figures against each other, and a C dup/close loop on one slot for \
            the table on private); and the contended kernels against the C atomic \
            loop. Each figure is the median of 3 runs of --duration; the runs are counted on stderr as \
            they go.
            """)

    @Option(parsing: .unconditional, help: "Measured interval of each refscale run, seconds (more than 0, at most a day).")
    var duration = 0.5

    /// Runs are counted on stderr as they go: the whole takes a minute or more.
    var progress: SweepProgress {
        let schemes = Registry.schemes.count
        return SweepProgress(total: 3 * (schemes + Calibrate.tableRuns.count + Calibrate.contendedSchemes.count + schemes * CalibratedContext.all.count))
    }
    /// The runs on `call` that the C yardstick is read against: noop, atomic, biased, then
    /// handle-local at each index width the C table is run with; each beside the C run of its steps.
    static let tableRuns: [(scheme: String, index: HandleIndex?, steps: TableYardstick.Steps)] = [
        (NoopScheme.name, nil, .noop), (AtomicScheme.name, nil, .atomic), (BiasedScheme.name, nil, .biased),
        (HandleLocalScheme.name, .low3, .handleLocal(.low3, .lazy)), (HandleLocalScheme.name, .high16, .handleLocal(.high16, .lazy)),
    ]
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
        func median(
            _ scheme: String, _ workload: String, threads: Int, objects: Int? = nil, schemeOptions: SchemeOptions = SchemeOptions()
        ) throws -> Double {
            var options = OptionValues()
            if let objects { options.set("objects", to: .integer(objects)) }
            let runs = try (1...3).map { repetition in
                progress.update(done: done)
                defer { done += 1; progress.clear() }
                return try Runner.run(RunRequest(
                    scheme: Registry.scheme(named: scheme), workload: Registry.workload(named: workload),
                    workloadOptions: options, schemeOptions: schemeOptions, threads: threads, duration: duration,
                    repetition: repetition))
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

        invalid += try tableYardstick(privateNoop: noop, privateHandleLocal: uncontended.first { $0.scheme == HandleLocalScheme.name }!.nanoseconds) {
            try median($0, "call", threads: 1, schemeOptions: $1)
        }

        print("\ncontended: \(cores) thread(s) on one shared object, against the C atomic loop on one counter:")
        for scheme in Calibrate.contendedSchemes {
            let nanoseconds = try median(scheme, "shared-hot", threads: cores, objects: 1)
            let label = "\(scheme) on shared-hot, \(cores) thread(s)"
            print("  \(label.padding(40)) \(format(nanoseconds).padding(8)) ns/op = \(format(nanoseconds / atomicShared.nanosecondsPerOperation)) × \(atomicShared.name)")
        }
        invalid += try contextCosts(progress: progress, done: done)
        if invalid > 0 { throw HarnessError("\(invalid) calibration runs failed validation") }
    }

    /// handle-local's table, atomic and biased against their C yardstick (`TableYardstick`): the C
    /// interpreters of noop's, atomic's, biased's and handle-local's steps on `call`'s own stream,
    /// beside refscale's runs of the same schemes on `call`, and the ratio of each scheme's two
    /// differences from noop; then the schemes against each other in C; then `private`'s table
    /// dup/close against the C loop of the same steps on one slot. A C figure whose counts do not
    /// check is not printed (and counts as a failed run). Returns the C runs that failed.
    func tableYardstick(
        privateNoop: Double, privateHandleLocal: Double, median: (String, SchemeOptions) throws -> Double
    ) throws -> Int {
        let stream = try TableYardstick.callStream()
        let passes = max(1, yardstickOperations / stream.passOperations)
        let configurations = Calibrate.tableRuns
        fputs("calibrate: running call's stream through the C yardstick\n", stderr)
        // Alternating, three rounds: each C figure is the median of its three runs.
        var runs: [[TableYardstick.Run]] = Array(repeating: [], count: configurations.count)
        for _ in 0..<3 {
            for (index, configuration) in configurations.enumerated() {
                runs[index].append(TableYardstick.run(configuration.steps, on: stream, passes: passes))
            }
        }
        var failed = 0
        /// The median ns/op of a C configuration, or nil (with the reason printed) when a run's counts do not check.
        func cFigure(_ index: Int, _ label: String) -> Double? {
            if let problem = runs[index].lazy.compactMap(\.problem).first {
                failed += 1
                print("  \(label.padding(44)) not printed: \(problem)")
                return nil
            }
            let counts = runs[index][0].counts
            let table = counts.table_hits + counts.table_misses + counts.fallbacks > 0
                ? ", hits \(counts.table_hits), misses \(counts.table_misses), fallbacks \(counts.fallbacks), evictions \(counts.evictions)" : ""
            let nanoseconds = Summary.median(runs[index].map(\.nanosecondsPerOperation)) ?? .nan
            print("  \(label.padding(44)) \(format(nanoseconds).padding(6)) ns/op (born = freed = \(counts.births), atomics \(counts.atomic_rmw)\(table))")
            return nanoseconds
        }

        print("\nthe schemes against their C yardstick on call's own stream (1 thread; refscale: median of 3 runs of \(duration) s; C: median of 3 runs of \(passes) passes of \(stream.passOperations) handle operations):")
        var cFigures: [Double?] = []
        var swiftFigures: [Double] = []
        for (index, configuration) in configurations.enumerated() {
            let name = configuration.index.map { "\(configuration.scheme) (\($0.rawValue), lazy)" } ?? configuration.scheme
            let cFigure = cFigure(index, "C, \(name)'s steps")
            cFigures.append(cFigure)
            var options = SchemeOptions()
            if let handleIndex = configuration.index { options[HandleLocalOptions.handleIndex] = handleIndex }
            let swift = try median(configuration.scheme, options)
            swiftFigures.append(swift)
            print("  \("\(name) on call".padding(44)) \(format(swift).padding(6)) ns/op")
            if index == 0 { continue }
            let swiftNoop = swiftFigures[0]
            let label = "\(name) less noop".padding(44)
            if let cNoop = cFigures[0], let cFigure {
                // A C difference at or below 0 (noise on a busy machine) gives no ratio: "-".
                let ratio = cFigure > cNoop ? format((swift - swiftNoop) / (cFigure - cNoop)) : "-"
                print("  \(label) \(format(swift - swiftNoop).padding(6)) ns/op = \(ratio) × the C steps less C noop (\(format(cFigure - cNoop)) ns/op)")
            } else {
                print("  \(label) \(format(swift - swiftNoop).padding(6)) ns/op; no ratio: a C run's counts do not check")
            }
        }
        print("  the schemes against each other, ns/op over ns/op, in C (what their steps cost on this CPU, the model left out) and in refscale:")
        let biasedIndex = configurations.firstIndex { $0.steps == .biased }!
        let comparisons = [(biasedIndex, configurations.firstIndex { $0.steps == .atomic }!)]
            + configurations.indices.filter { configurations[$0].index != nil }.map { ($0, biasedIndex) }
        for (numerator, denominator) in comparisons {
            let label = "\(configurations[numerator].index.map { "handle-local (\($0.rawValue))" } ?? configurations[numerator].scheme) / \(configurations[denominator].scheme)"
            if let top = cFigures[numerator], let bottom = cFigures[denominator] {
                print("  \(label.padding(44)) C \(format(top / bottom)), refscale \(format(swiftFigures[numerator] / swiftFigures[denominator]))")
            } else {
                print("  \(label.padding(44)) no ratio: a C run's counts do not check")
            }
        }
        let pairs = TableYardstick.dupClosePairs(pairs: yardstickOperations / 2)
        let label = "handle-local dup/close on private less noop".padding(44)
        if let problem = pairs.problem {
            failed += 1
            print("  \(label) \(format(privateHandleLocal - privateNoop).padding(6)) ns/op; no ratio, the C table dup/close loop: \(problem)")
        } else {
            print("  \(label) \(format(privateHandleLocal - privateNoop).padding(6)) ns/op = \(format((privateHandleLocal - privateNoop) / pairs.nanosecondsPerOperation)) × the C table dup/close loop on one slot (\(format(pairs.nanosecondsPerOperation)) ns/op)")
        }
        return failed
    }

    /// Handle operations per C yardstick run: 20 million at the default --duration, fewer for a
    /// shorter one (at least a million), as the refscale runs beside them shorten.
    var yardstickOperations: Int { max(1_000_000, min(20_000_000, Int(duration * 40_000_000))) }

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
