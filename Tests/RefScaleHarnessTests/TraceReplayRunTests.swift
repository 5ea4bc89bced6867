import Foundation
import Testing
@testable import RefScale
@testable import RefScaleHarness

/// A program-shaped trace: every thread calls one module-level function (object 0, alive before
/// the trace), builds temporaries an extension duplicates and drops, keeps thread-local data,
/// and hands every eighth temporary over to the next thread, which drops it.
func programTrace(threads: Int, rounds: Int) -> Trace {
    var objects = [TraceObject(typeIndex: 1, firstCount: 4, immortalIn312: false), TraceObject(typeIndex: 3, firstCount: 900, immortalIn312: true)]
    for _ in 0 ..< threads { objects.append(TraceObject(typeIndex: 2, firstCount: 1, immortalIn312: false)) }
    var events = [[TraceEvent]](repeating: [], count: threads)
    var order: [(Int, TraceEvent)] = []
    var handedOver: [[UInt32]] = Array(repeating: [], count: threads)
    func add(_ thread: Int, _ kind: TraceEvent.Kind, _ site: TraceEvent.Site, _ object: UInt32) {
        order.append((thread, TraceEvent(kind, site, object: object)))
    }
    for round in 0 ..< rounds {
        for thread in 0 ..< threads {
            add(thread, .incref, .interpreter, 0)
            add(thread, .incref, .interpreter, 1)
            add(thread, .incref, .interpreter, UInt32(2 + thread))
            let temporary = UInt32(objects.count)
            objects.append(TraceObject(typeIndex: 0, firstCount: 0, immortalIn312: false))
            add(thread, .birth, .interpreter, temporary)
            add(thread, .incref, .extensionModule, temporary)
            add(thread, .decref, .extensionModule, temporary)
            if round % 8 == 0 {
                handedOver[(thread + 1) % threads].append(temporary)
            } else {
                add(thread, .decref, .interpreter, temporary)
                add(thread, .death, .interpreter, temporary)
            }
            for object in handedOver[thread] {
                add(thread, .incref, .extensionModule, object)
                add(thread, .decref, .extensionModule, object)
                add(thread, .decref, .interpreter, object)
                add(thread, .death, .interpreter, object)
            }
            handedOver[thread] = []
            add(thread, .decref, .interpreter, UInt32(2 + thread))
            add(thread, .decref, .interpreter, 1)
            add(thread, .decref, .interpreter, 0)
        }
    }
    var segments = [[TraceSegment]](repeating: [], count: threads)
    for (position, (thread, event)) in order.enumerated() {
        events[thread].append(event)
        if let last = segments[thread].last, last.start + last.count == position {
            segments[thread][segments[thread].count - 1].count += 1
        } else {
            segments[thread].append(TraceSegment(start: position, count: 1))
        }
    }
    return Trace(
        header: TraceHeader(interpreter: "3.11.2", program: "program.py", arguments: []),
        types: ["object", "function", "dict", "int"], objects: objects,
        threads: (0 ..< threads).map { TraceThread(events: events[$0], segments: segments[$0]) })
}

func traceOptions(_ trace: Trace, whatIf: String = "none", sites: TraceReplay.Sites = .asRecorded) throws -> OptionValues {
    let path = NSTemporaryDirectory() + "refscale-run-\(UUID().uuidString).rstrace"
    try Data(TraceFile.encode(trace)).write(to: URL(fileURLWithPath: path))
    var options = OptionValues()
    options[TraceWorkload.trace] = path
    options[TraceWorkload.whatIf] = whatIf
    options[TraceWorkload.traceSites] = sites
    // Read once, so the process's trace cache holds it; the file is not needed after.
    defer { try? FileManager.default.removeItem(atPath: path) }
    _ = try TraceWorkload(options: options)
    return options
}

@Suite("trace replays under threads", .tags(.threaded))
struct TraceReplayRunTests {
    static let trace = programTrace(threads: 2, rounds: 64)

    @Test(arguments: [1, 2, 4])
    func everyThreadSafeSchemeReplaysWholePassesOfTheTraceValidly(threads: Int) throws {
        let options = try traceOptions(Self.trace)
        // Every traced thread does the same, so every worker's pass has as many operations.
        let workload = try TraceWorkload(options: options)
        let passOperations = Set((0 ..< threads).map { workload.workerProgram(thread: $0, threads: threads, seed: 1).passOperations })
        for scheme in Registry.schemes where scheme.isThreadSafe || threads == 1 {
            let row = try shortRun(scheme, workload: "trace", threads: threads, workloadOptions: options)
            #expect(row.isValid, "\(scheme.name), \(threads) threads: \(row["validation_error"].text)")
            // Whole passes of every worker: a replay that cut or padded a pass shows here.
            let operations = try #require(Int(row["run_ops"].text)), pass = try #require(passOperations.first)
            #expect(passOperations.count == 1 && operations >= threads * pass && operations % pass == 0, "\(scheme.name): \(operations) ops, passes of \(passOperations)")
            // At 4 threads each replica has its own thread-local objects (2) and the temporaries
            // that stay in their thread (7 of every 8 made: 112).
            #expect(row["trace_replicated_objects"].text == (threads == 4 ? "114" : "0"))
        }
    }

    @Test func allHandlesReplaysValidly() throws {
        let options = try traceOptions(Self.trace, sites: .allHandles)
        for scheme in ["biased", "handle-local", "arena", "perthread"] {
            let row = try shortRun(Registry.scheme(named: scheme), workload: "trace", threads: 2, workloadOptions: options)
            #expect(row.isValid, "\(scheme): \(row["validation_error"].text)")
        }
    }

    @Test func transientObjectsRecycleNamesOnlyAcrossAScopeBoundary() throws {
        let workload = try TraceWorkload(options: traceOptions(Self.trace))
        let transient = workload.replay.isTransient.filter { $0 }.count
        #expect(workload.poolSize(threads: 2) <= workload.replay.trace.objects.count - transient, "transient objects live in the regions")
        for worker in 0 ..< 2 {
            let program = workload.workerProgram(thread: worker, threads: 2, seed: 1)
            var bornSinceBoundary = Set<Int>()
            var births = 0
            for operation in program.pass {
                if operation.code == RefScale.Operation.Code.exit.rawValue { bornSinceBoundary.removeAll() }
                guard operation.code == RefScale.Operation.Code.createNamed.rawValue else { continue }
                #expect(bornSinceBoundary.insert(operation.source).inserted, "name \(operation.source) reused within one scope")
                births += 1
            }
            #expect(births > program.names, "some name is reused in a pass")
            #expect(workload.regionSize(threads: 2) >= program.names)
        }
    }

    /// A transient object that an extension holds by a handle and the interpreter by its own
    /// reference, in a run long enough that its name is reused after a scope boundary: a lazy
    /// table keeps the dead object in a slot past the boundary, and the next birth under its name
    /// must get other memory. (Replaying deepcopy_shared and json_shared under lazy
    /// `handle-local` bore such an object again while its slot held it.)
    @Test(arguments: HandleIndex.allCases)
    func aLazyTableKeepsItsDeadTransientsMemory(index: HandleIndex) throws {
        let options = try traceOptions(programTrace(threads: 1, rounds: 400))
        var schemeOptions = SchemeOptions()
        schemeOptions[HandleLocalScheme.handleIndex] = index
        let request = RunRequest(
            scheme: try Registry.scheme(named: "handle-local"), workload: try Registry.workload(named: "trace"),
            workloadOptions: options, schemeOptions: schemeOptions, threads: 1, duration: TestTiming.interval(0.05), warmup: 0.01)
        try request.validate()
        let row = try Runner.run(request)
        #expect(row.isValid, "\(index.rawValue): \(row["validation_error"].text)")
        #expect(Int(row["evictions"].text) ?? 0 > 0 || index == .high16, "the table evicted: slots of count 0 were kept")
    }

    @Test func aCountThatCannotReplicateIsAUsageError() throws {
        let request = RunRequest(
            scheme: try Registry.scheme(named: "atomic"), workload: try Registry.workload(named: "trace"),
            workloadOptions: try traceOptions(Self.trace), threads: 3)
        #expect(throws: UsageError.self) { try request.validate() }
    }

    /// The trace workload with one operation of worker 0's pass left out: a broken replay.
    struct DroppingOneOperation: Workload {
        static let name = "trace"
        static let summary = "a trace replay missing one operation"
        static let sharesObjects = true
        let inner: TraceWorkload
        let dropped: RefScale.Operation.Code

        init(options: OptionValues) throws { fatalError("made by instance") }
        init(inner: TraceWorkload, dropping code: RefScale.Operation.Code) {
            self.inner = inner
            dropped = code
        }

        func poolSize(threads: Int) -> Int { inner.poolSize(threads: threads) }
        func regionSize(threads: Int) -> Int { inner.regionSize(threads: threads) }
        func globals(threads: Int) -> Int { inner.globals(threads: threads) }
        func mainProgram(threads: Int, seed: UInt64) -> ThreadProgram { inner.mainProgram(threads: threads, seed: seed) }
        func workerProgram(thread: Int, threads: Int, seed: UInt64) -> ThreadProgram {
            var program = inner.workerProgram(thread: thread, threads: threads, seed: seed)
            guard thread == 0, let index = program.pass.lastIndex(where: { $0.code == dropped.rawValue }) else { return program }
            program.pass.remove(at: index)
            return ThreadProgram(
                registers: program.registers, names: program.names, setup: program.setup, pass: program.pass, teardown: program.teardown)
        }
        func validate(afterWorkers run: WorkersFinished) -> String? { inner.validate(afterWorkers: run) }
    }

    @Test(arguments: [RefScale.Operation.Code.release, .retain, .close])
    func validationCatchesAReplayMissingAnOperation(code: RefScale.Operation.Code) throws {
        let inner = try TraceWorkload(options: traceOptions(Self.trace))
        let broken = DroppingOneOperation(inner: inner, dropping: code)
        let request = RunRequest(
            scheme: try Registry.scheme(named: "atomic"), workload: WorkloadEntry(instance: broken), threads: 2,
            duration: TestTiming.interval(0.02), warmup: 0)
        let row = try Runner.run(request)
        #expect(!row.isValid, "a replay missing one \(code) passed validation")
        #expect(row["validation_error"].text.contains("trace"))
    }

    /// Under `atomic`, where the function is counted like any object (under `biased` it is
    /// already immortal, as 3.13t makes a top-level function).
    @Test func immortalisingTheSharedFunctionRemovesItsAtomics() throws {
        func atomicsPerOperation(_ whatIf: String) throws -> Double {
            let row = try shortRun(Registry.scheme(named: "atomic"), workload: "trace", threads: 2,
                                   workloadOptions: try traceOptions(Self.trace, whatIf: whatIf))
            #expect(row.isValid, "\(row["validation_error"].text)")
            return Double(row["atomic_rmw"].text)! / Double(row["run_ops"].text)!
        }
        let unchanged = try atomicsPerOperation("none")
        let changed = try atomicsPerOperation("immortal:top1")
        #expect(changed < unchanged * 0.8, "immortal:top1 left \(changed) atomics per operation against \(unchanged)")
    }
}

@Suite(.tags(.threaded)) struct TraceAttributionTests {
    @Test(arguments: ["biased", "handle-local", "atomic"])
    func everyCountedEventIsChargedToAnObjectOrToNoObjectOnce(scheme: String) throws {
        let options = try traceOptions(TraceReplayRunTests.trace)
        let request = RunRequest(
            scheme: try Registry.scheme(named: scheme), workload: try Registry.workload(named: "trace"), workloadOptions: options,
            threads: 2, duration: TestTiming.interval(0.05), warmup: 0.01, context: .attribute)
        try request.validate()
        let record = try Runner.run(request)
        #expect(record.isValid, "\(record.problems)")
        let attribution = try #require(record.outcome.attribution)
        let charged = attribution.byPoolIndex.reduce(into: attribution.unattributed) { $0 += $1 }
        #expect(charged.atomicRMW == record.outcome.counters.atomicRMW)
        #expect(charged.casRetries == record.outcome.counters.casRetries)
        #expect(charged.queued == record.outcome.counters.queued)
        let workload = try TraceWorkload(options: options)
        let function = workload.traceObjects(threads: 2).firstIndex(of: 0)!
        if scheme != "atomic" {
            // handle-local's runtime is biased by default: the interpreter's references are 3.13t's.
            #expect(attribution.byPoolIndex[function].atomicRMW == 0, "3.13t makes the function immortal once a second thread runs")
        } else {
            #expect(attribution.byPoolIndex[function].atomicRMW > 0, "the function both threads call costs atomics")
        }
        #expect(try Runner.run(RunRequest(scheme: request.scheme, workload: request.workload, workloadOptions: options, threads: 1,
                                          duration: 0.01, warmup: 0)).outcome.attribution == nil, "direct runs attribute nothing")
    }
}
