import Foundation
import Testing
@testable import RefScale

/// A trace from the program's order of events: (thread, kind, site, object).
func handMadeTrace(
    types: [String] = ["object", "function", "list"],
    objects: [(type: Int, firstCount: Int, immortal: Bool)],
    order: [(Int, TraceEvent.Kind, TraceEvent.Site, Int)]
) -> Trace {
    let threadCount = (order.map(\.0).max() ?? 0) + 1
    var threads = (0 ..< threadCount).map { _ in TraceThread(events: [], segments: []) }
    for (position, (thread, kind, site, object)) in order.enumerated() {
        threads[thread].events.append(TraceEvent(kind, site, object: UInt32(object)))
        if let last = threads[thread].segments.last, last.start + last.count == position {
            threads[thread].segments[threads[thread].segments.count - 1].count += 1
        } else {
            threads[thread].segments.append(TraceSegment(start: position, count: 1))
        }
    }
    return Trace(
        header: TraceHeader(interpreter: "3.11.2", program: "hand-made.py", arguments: []), types: types,
        objects: objects.map { TraceObject(typeIndex: $0.type, firstCount: $0.firstCount, immortalIn312: $0.immortal) },
        threads: threads)
}

/// Writes the trace where the workload can read it; the path is new each time.
func writeTrace(_ trace: Trace) throws -> String {
    let path = NSTemporaryDirectory() + "refscale-test-\(UUID().uuidString).rstrace"
    try Data(TraceFile.encode(trace)).write(to: URL(fileURLWithPath: path))
    return path
}

func traceWorkload(_ trace: Trace, sites: TraceReplay.Sites = .asRecorded, whatIf: String = "none") throws -> TraceWorkload {
    var options = OptionValues()
    let path = try writeTrace(trace)
    defer { try? FileManager.default.removeItem(atPath: path) }
    options[TraceWorkload.trace] = path
    options[TraceWorkload.traceSites] = sites
    options[TraceWorkload.whatIf] = whatIf
    return try TraceWorkload(options: options)
}

/// The counts a stream gives pool objects and named objects, by a model of plain counting: `new`
/// and `createNamed` set 1, `open`, `dup` and `retain` add one, `close` and `release` take one.
struct CountingModel {
    var count: [Int: Int] = [:]
    var registers: [Int: Int] = [:]
    var births: [Int: Int] = [:]

    mutating func run(_ operations: [RefScale.Operation], after each: (RefScale.Operation, CountingModel) -> Void = { _, _ in }) {
        for operation in operations {
            switch operation.code {
            case RefScale.Operation.Code.new.rawValue, RefScale.Operation.Code.createNamed.rawValue:
                // A named object is keyed as the operations that reach it name it.
                let object = operation.code == RefScale.Operation.Code.new.rawValue ? operation.source : RefScale.Operation.named(operation.source)
                count[object] = 1
                births[object, default: 0] += 1
                registers[operation.register] = object
            case RefScale.Operation.Code.open.rawValue:
                count[operation.source, default: 0] += 1
                registers[operation.register] = operation.source
            case RefScale.Operation.Code.dup.rawValue:
                let object = registers[operation.source]!
                count[object, default: 0] += 1
                registers[operation.register] = object
            case RefScale.Operation.Code.close.rawValue:
                count[registers[operation.register]!, default: 0] -= 1
            case RefScale.Operation.Code.retain.rawValue, RefScale.Operation.Code.store.rawValue:
                let object = operation.code == RefScale.Operation.Code.store.rawValue ? registers[operation.register]! : operation.source
                count[object, default: 0] += 1
            case RefScale.Operation.Code.release.rawValue:
                count[operation.source, default: 0] -= 1
            default:
                break
            }
            each(operation, self)
        }
    }
}

@Suite struct TraceWorkloadTests {
    /// One thread: a list (object 0) alive before the trace at count 3, a function (1) counted by
    /// the interpreter, and an object (2) born, duplicated by an extension and dropped.
    static let oneThread = handMadeTrace(
        objects: [(2, 3, false), (1, 1, false), (0, 0, false)],
        order: [
            (0, .incref, .interpreter, 0), (0, .incref, .interpreter, 1), (0, .birth, .interpreter, 2),
            (0, .incref, .extensionModule, 2), (0, .decref, .extensionModule, 2), (0, .decref, .interpreter, 0),
            (0, .decref, .interpreter, 1), (0, .decref, .interpreter, 0), (0, .decref, .interpreter, 2),
            (0, .death, .interpreter, 2),
        ])

    @Test func eachEventChangesTheCountAsItDidInCPython() throws {
        let workload = try traceWorkload(Self.oneThread)
        let program = workload.workerProgram(thread: 0, threads: 1, seed: 1)
        var model = CountingModel()
        model.run(program.setup)
        // Replayed counts of resident objects differ from the trace's by a constant: the run's
        // reference and the loans stand for the references the trace never shows.
        let offset = [0: model.count[0]! - 3, 1: model.count[1]! - 1]
        // Object 2 is transient: allocated at run time, reached by its name.
        let born = RefScale.Operation.named(0)
        let traceCounts: [[Int: Int]] = [
            [0: 4], [1: 2], [born: 1], [born: 2], [born: 1], [0: 3], [1: 1], [0: 2], [born: 0],
        ]
        var step = 0
        model.run(Array(program.pass.dropLast())) { operation, model in
            guard operation.handleOperations > 0 else { return }
            defer { step += 1 }
            guard step < traceCounts.count else { return }
            for (object, expected) in traceCounts[step] {
                #expect(model.count[object]! - (offset[object] ?? 0) == expected, "event \(step), object \(object)")
            }
        }
        #expect(step == traceCounts.count + 1, "one operation per counting event, then one to balance object 0")
        #expect(model.count[0]! - offset[0]! == 3, "the pass ends with object 0 where it started")
        #expect(model.births[born] == 1)
        #expect(program.names == 1)
    }

    @Test func extensionEventsAreHandlesAndInterpreterEventsAreTheRuntimesCounts() throws {
        let workload = try traceWorkload(Self.oneThread)
        let codes = workload.workerProgram(thread: 0, threads: 1, seed: 1).pass.map(\.code)
        let expected: [RefScale.Operation.Code] = [
            .enter, .retain, .retain, .createNamed, .dup, .close, .release, .release, .release, .close, .retain, .exit,
        ]
        #expect(codes == expected.map(\.rawValue))
        let allHandles = try traceWorkload(Self.oneThread, sites: .allHandles).workerProgram(thread: 0, threads: 1, seed: 1).pass
        // Only the drop of a reference to object 0 the thread never took, a loan, and its balancing
        // are not handle operations.
        let nonLocal = allHandles.filter { $0.code == RefScale.Operation.Code.retain.rawValue || $0.code == RefScale.Operation.Code.release.rawValue }
        #expect(nonLocal.count == 2 && nonLocal.allSatisfy { $0.source == 0 })
    }

    /// Thread 0 takes a reference to a shared object (0) that thread 1 drops, as a queue hands
    /// it over; thread 1 also drops a reference to an object (1) thread 0 made in the trace.
    static let handOver = handMadeTrace(
        objects: [(2, 1, false), (0, 0, false)],
        order: [
            (0, .incref, .interpreter, 0), (0, .birth, .interpreter, 1), (1, .decref, .interpreter, 0),
            (1, .incref, .extensionModule, 1), (1, .decref, .extensionModule, 1), (1, .decref, .interpreter, 1),
        ])

    @Test func aReferenceDroppedByAnotherThreadIsALoanAndEveryPassBalances() throws {
        let workload = try traceWorkload(Self.handOver)
        let workers = (0 ..< 2).map { workload.workerProgram(thread: $0, threads: 2, seed: 1) }
        // Object 1 dies in another thread than its birth's, so it is resident, like object 0.
        #expect(workload.replay.isTransient == [false, false])
        var model = CountingModel()
        model.run(workers[0].setup + workers[1].setup)
        let start = model.count
        #expect(workers[1].teardown.filter { $0.code == RefScale.Operation.Code.release.rawValue }.count == 2, "one loan per object")
        // Any interleaving of whole passes leaves every count where it started, never at 0.
        for pass in [workers[1].pass, workers[0].pass, workers[1].pass, workers[1].pass, workers[0].pass] {
            model.run(pass) { _, model in #expect(model.count.values.allSatisfy { $0 > 0 }) }
            #expect(model.count == start)
        }
        model.run(workers[0].teardown + workers[1].teardown)
        #expect(model.count == [0: 1, 1: 1], "only the run's reference is left for the main thread")
    }

    @Test func theFirstThreadToCountAnObjectBearsIt() throws {
        let workload = try traceWorkload(Self.handOver)
        let bearer = workload.workerProgram(thread: 0, threads: 2, seed: 1).setup
        #expect(bearer.filter { $0.code == RefScale.Operation.Code.new.rawValue }.count == 2)
        #expect(workload.workerProgram(thread: 1, threads: 2, seed: 1).setup.isEmpty)
        #expect(workload.mainProgram(threads: 2, seed: 1).teardown.count == 2, "the main thread ends the run's references")
    }

    @Test func fewerWorkersThanTracedThreadsReplayTheProgramsOrder() throws {
        let workload = try traceWorkload(Self.handOver)
        let program = workload.workerProgram(thread: 0, threads: 1, seed: 1)
        var model = CountingModel()
        model.run(program.setup)
        #expect(program.teardown.isEmpty, "one worker takes no loan: the trace's order never drops what it did not take")
        let start = model.count
        model.run(program.pass)
        #expect(model.count == start)
    }

    @Test func replicasCopyObjectsOfOneThreadAndShareTheOthers() throws {
        // Object 0 is shared by both threads; objects 1 and 2 are each thread's own.
        let trace = handMadeTrace(
            objects: [(1, 1, false), (2, 1, false), (2, 1, false)],
            order: [
                (0, .incref, .interpreter, 0), (0, .incref, .interpreter, 1), (1, .incref, .interpreter, 0),
                (1, .incref, .interpreter, 2), (0, .decref, .interpreter, 0), (0, .decref, .interpreter, 1),
                (1, .decref, .interpreter, 0), (1, .decref, .interpreter, 2),
            ])
        let workload = try traceWorkload(trace)
        #expect(workload.replicatedObjects(threads: 2) == 0)
        #expect(workload.replicatedObjects(threads: 4) == 2)
        #expect(workload.poolSize(threads: 2) == 3)
        #expect(workload.poolSize(threads: 4) == 5)
        let objects = (0 ..< 4).map { worker in
            Set(workload.workerProgram(thread: worker, threads: 4, seed: 1).pass.filter { $0.code == RefScale.Operation.Code.retain.rawValue }.map(\.source))
        }
        #expect(objects[0].intersection(objects[2]) == [0], "replicas share object 0 and nothing else")
        #expect(objects[1].intersection(objects[3]) == [0])
        #expect(objects[0].count == 2 && objects[2].count == 2)
        #expect(throws: ConfigurationError.self) { try workload.check(threads: 3) }
        #expect(throws: Never.self) { try workload.check(threads: 6) }
    }

    @Test func immortalIn312ObjectsAreImmortalAndResident() throws {
        let trace = handMadeTrace(
            objects: [(0, 0, true)], order: [(0, .birth, .interpreter, 0), (0, .decref, .interpreter, 0), (0, .death, .interpreter, 0)])
        let workload = try traceWorkload(trace)
        #expect(workload.replay.isTransient == [false])
        let born = workload.workerProgram(thread: 0, threads: 1, seed: 1).setup.first { $0.code == RefScale.Operation.Code.new.rawValue }
        #expect(born?.flags.contains(.immortal) == true)
    }

    /// Two threads calling one function (object 0) and each its own object.
    static let sharedFunction = handMadeTrace(
        objects: [(1, 1, false), (2, 1, false), (2, 1, false)],
        order: [
            (0, .incref, .interpreter, 0), (1, .incref, .interpreter, 0), (0, .incref, .extensionModule, 1),
            (0, .decref, .interpreter, 0), (1, .incref, .interpreter, 2), (1, .decref, .interpreter, 0),
            (0, .incref, .interpreter, 0), (0, .decref, .interpreter, 0), (0, .decref, .extensionModule, 1),
            (1, .decref, .interpreter, 2),
        ])

    @Test func whatIfImmortalTopMarksTheMostSharedObject() throws {
        let unchanged = try traceWorkload(Self.sharedFunction)
        let changed = try traceWorkload(Self.sharedFunction, whatIf: "immortal:top1")
        #expect(changed.replay.change.chosen == [0])
        func bornFlags(_ workload: TraceWorkload) -> ObjectFlags? {
            workload.workerProgram(thread: 0, threads: 2, seed: 1).setup.first { $0.code == RefScale.Operation.Code.new.rawValue && $0.source == 0 }?.flags
        }
        #expect(bornFlags(unchanged)?.contains(.immortal) == false)
        #expect(bornFlags(changed)?.contains(.immortal) == true)
        #expect(try traceWorkload(Self.sharedFunction, whatIf: "2").replay.change.immortal == [false, false, true])
    }

    @Test func whatIfDeferredTypesDropsTheInterpretersCountsOfFunctions() throws {
        let deferred = try traceWorkload(Self.sharedFunction, whatIf: "deferred:types")
        let pass = deferred.workerProgram(thread: 0, threads: 2, seed: 1).pass
        let function = deferred.replay.trace.objects.indices.first { deferred.replay.trace.objects[$0].typeIndex == 1 }!
        #expect(!pass.contains { ($0.code == RefScale.Operation.Code.retain.rawValue || $0.code == RefScale.Operation.Code.release.rawValue) && $0.source == function })
        #expect(pass.contains { $0.code == RefScale.Operation.Code.open.rawValue && $0.source == 1 }, "the extension's handle to object 1 stays")
    }

    @Test func whatIfNamingObjectsNotInTheTraceIsRefused() throws {
        #expect(throws: ConfigurationError.self) { try traceWorkload(Self.sharedFunction, whatIf: "immortal:3") }
        #expect(throws: ConfigurationError.self) { try traceWorkload(Self.sharedFunction, whatIf: "immortal:top3") }
        #expect(throws: ConfigurationError.self) { try traceWorkload(Self.sharedFunction, whatIf: "frozen:top1") }
    }

    @Test func aTraceOfAnotherFormatVersionIsRefusedInOneLine() throws {
        var bytes = TraceFile.encode(Self.oneThread)
        bytes[TraceFile.magic.count] = 2
        let path = NSTemporaryDirectory() + "refscale-test-\(UUID().uuidString).rstrace"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var options = OptionValues()
        options[TraceWorkload.trace] = path
        do {
            _ = try TraceWorkload(options: options)
            Issue.record("a version-2 trace was accepted")
        } catch let error as ConfigurationError {
            #expect(error.description.contains("version 2"))
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func theStreamsDependOnTheTraceAloneNotTheirOrderOfMaking() throws {
        let first = try traceWorkload(Self.sharedFunction)
        let second = try traceWorkload(Self.sharedFunction)
        _ = second.workerProgram(thread: 1, threads: 2, seed: 9)
        var a = StreamDigest(), b = StreamDigest(), other = StreamDigest()
        let handOver = try traceWorkload(Self.handOver)
        for thread in 0 ..< 2 {
            let (one, two) = (first.workerProgram(thread: thread, threads: 2, seed: 1), second.workerProgram(thread: thread, threads: 2, seed: 7))
            #expect(one.setup == two.setup && one.pass == two.pass && one.teardown == two.teardown, "thread \(thread)")
            a.add(one)
            b.add(two)
            other.add(handOver.workerProgram(thread: thread, threads: 2, seed: 1))
        }
        #expect(a.value == b.value)
        #expect(other.value != a.value, "the digest sees the trace")
    }
}
