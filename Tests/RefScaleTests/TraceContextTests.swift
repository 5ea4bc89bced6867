import CRefScale
import Testing
@testable import RefScale

/// The trace context counts every call an extension makes through the table: its counts per
/// function equal the operations of the stream it ran, counted from the stream itself.
@Suite struct TraceContextTests {
    /// The traced calls one operation makes, read from its code alone (and, for a number, from
    /// whether the scheme boxes it: `atomic` boxes every number).
    static func expectedCalls(_ operation: Operation) -> [TracedFunction] {
        switch Operation.Code(rawValue: operation.code)! {
        case .new, .create, .createNamed: [.new]
        case .open: [.open]
        case .dup: [.dup]
        case .dupClose: [.dup, .close]
        case .close: [.close]
        case .read: [.read]
        case .enter: [.enter]
        case .exit: [.exit]
        case .store: [.store]
        case .load: [.load]
        case .number: [.number] + (operation.number.cachedIntIndex != nil ? [.open] : [.new])
        default: []
        }
    }

    /// Runs the main thread's set-up, one worker's set-up, `passes` passes and both teardowns on
    /// `TraceContext<AtomicScheme>`; returns what the trace counted and what the stream holds.
    func traceAndStream(workload: any Workload, timing: Bool, passes: Int = 3) throws -> (CallTraceSummary, [Int]) {
        typealias C = TraceContext<AtomicScheme>
        var options = SchemeOptions()
        options.traceTiming = timing
        let pool = ObjectPool(
            count: workload.poolSize(threads: 1), alignment: options.objectAlignment,
            regionSize: workload.regionSize(threads: 1), threadSlots: 3)
        let channels = Channels(count: workload.channels(threads: 1), capacity: 256)
        let globals = RunSession<C>.slots(workload.globals(threads: 1))
        let mailboxes = Mailboxes(count: 0, contextType: C.self)
        defer {
            mailboxes.deallocate(contextType: C.self)
            channels.deallocate()
            globals.deallocate()
            pool.deallocate()
        }
        let shared = try C.makeShared(options: options, threads: 1)
        let mainProgram = workload.mainProgram(threads: 1, seed: 11)
        let workerProgram = workload.workerProgram(thread: 0, threads: 1, seed: 11)
        let mainMemory = RunSession<C>.memory(
            for: mainProgram, threadID: 1, pool: pool, channels: channels, globals: globals, mailboxes: mailboxes)
        let workerMemory = RunSession<C>.memory(
            for: workerProgram, threadID: 2, pool: pool, channels: channels, globals: globals, mailboxes: mailboxes)
        defer {
            for memory in [mainMemory, workerMemory] {
                memory.registers.deallocate()
                memory.fields.deallocate()
            }
        }
        var main = C(shared: shared, threadID: 1)
        var worker = C(shared: shared, threadID: 2)
        var checksum: UInt64 = 0
        var expected = [Int](repeating: 0, count: TracedFunction.allCases.count)
        func run(_ operations: [Operation], on context: inout C, memory: ThreadMemory) {
            crefscale_thread_set_slot(Int32(memory.threadID))
            operations.withUnsafeBufferPointer { _ = execute($0, on: &context, memory: memory, checksum: &checksum) }
            for operation in operations { for function in Self.expectedCalls(operation) { expected[function.rawValue] += 1 } }
        }
        run(mainProgram.setup, on: &main, memory: mainMemory)
        run(workerProgram.setup, on: &worker, memory: workerMemory)
        for _ in 0..<passes { run(workerProgram.pass, on: &worker, memory: workerMemory) }
        run(workerProgram.teardown, on: &worker, memory: workerMemory)
        worker.threadExit()
        run(mainProgram.teardown, on: &main, memory: mainMemory)
        main.threadExit()
        crefscale_thread_set_slot(0)
        #expect(pool.validateLifetimes() == nil)
        return (try #require(C.traceSummary(of: shared)), expected)
    }

    @Test(arguments: ["private", "shared-hot", "mixed", "call", "numeric"], [true, false])
    func callCountsEqualTheStreamsOperationCounts(workload: String, timing: Bool) throws {
        var options = OptionValues()
        options[CommonOptions.readFraction] = 0.2
        let made = try Registry.workload(named: workload).make(options)
        let (trace, expected) = try traceAndStream(workload: made, timing: timing)
        #expect(trace.calls == expected, "\(workload): traced \(trace.calls), stream \(expected)")
        #expect(expected.reduce(0, +) > 1000, "the stream made almost no calls")
        let timed = trace.nanoseconds.reduce(0, +)
        #expect(timing ? timed > 0 : timed == 0)
    }
}
