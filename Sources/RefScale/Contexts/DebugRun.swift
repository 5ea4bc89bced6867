import CRefScale
import Glibc
import Synchronization

/// What the debug contexts of one run share: the options, the registry that turns a handle's
/// context ID into the thread state that made it, the immortal stand-in object, and the reports
/// that belong to no thread's context. Made once per run (`DebugContext.makeShared`); every
/// thread state stays alive until the run ends, so a thread may look up another thread's
/// handle at any time.
public final class DebugRun: @unchecked Sendable {
    let options: DebugOptions
    /// Entry `id` is the address of the thread state with context ID `id` (from 1), 0 before it
    /// registers.
    private let registry: UnsafeMutablePointer<Atomic<UInt>>
    private let registryCapacity: Int
    private let registered = Atomic<Int>(0)
    private let standInPool: ObjectPool
    /// Reports of calls on a context by a thread that has no debug context of its own.
    private let orphans = LockedValue<[ViolationRecord]>([])
    /// The stacks `--backtraces` captured, by the index a report keeps.
    private let stacks = LockedValue<[[String]]>([])

    /// The object a violating call yields where the kernel needs one: immortal, so no scheme
    /// counts it, and outside the run's pool, so validation never sees it.
    var standIn: ObjectRef { standInPool[0] }

    init(options: DebugOptions, threads: Int) {
        self.options = options
        registryCapacity = max(64, 4 * (threads + 2))
        let bytes = (registryCapacity + 1) * MemoryLayout<UInt>.stride
        let block = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        block.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        registry = block.assumingMemoryBound(to: Atomic<UInt>.self)
        standInPool = ObjectPool(count: 1, alignment: 128)
        _ = standInPool.bear(0, flags: [.immortal, .shared])
    }

    deinit {
        let count = min(registered.load(ordering: .acquiring), registryCapacity)
        for id in stride(from: 1, through: count, by: 1) {
            guard let thread = thread(contextID: id) else { continue }
            if crefscale_thread_debug_current() == UnsafeMutableRawPointer(thread) { crefscale_thread_set_debug_current(nil) }
            thread.pointee.deallocate()
            thread.deinitialize(count: 1)
            thread.deallocate()
        }
        UnsafeMutableRawPointer(registry).deallocate()
        standInPool.deallocate()
    }

    /// A new thread state, registered, and made the calling thread's current debug context.
    func makeThread(threadID: Int, inner: TableCaller) -> UnsafeMutablePointer<DebugThread> {
        let id = registered.wrappingAdd(1, ordering: .relaxed).newValue
        precondition(id <= registryCapacity, "debug context: more than \(registryCapacity) contexts in one run")
        let thread = UnsafeMutablePointer<DebugThread>.allocate(capacity: 1)
        thread.initialize(to: DebugThread(contextID: id, threadID: threadID, inner: inner, run: self))
        registry[id].store(UInt(bitPattern: thread), ordering: .releasing)
        crefscale_thread_set_debug_current(UnsafeMutableRawPointer(thread))
        return thread
    }

    /// The thread state with this context ID, if one registered.
    func thread(contextID id: Int) -> UnsafeMutablePointer<DebugThread>? {
        guard id >= 1 && id <= registryCapacity else { return nil }
        return UnsafeMutablePointer(bitPattern: registry[id].load(ordering: .acquiring))
    }

    /// Keeps a stack; returns the index a report refers to it by.
    func keep(_ stack: [String]) -> Int32 {
        stacks.withLock { stacks in
            stacks.append(stack)
            return Int32(stacks.count - 1)
        }
    }

    func fileOrphan(_ record: ViolationRecord) {
        var record = record
        var stack: [String]?
        if options.backtraces {
            stack = Backtrace.symbolised(skip: 2)
            record.backtrace = keep(stack!)
        }
        if options.onViolation == .abort { DebugRun.stop(with: record.report(backtrace: stack)) }
        orphans.withLock { $0.append(record) }
    }

    /// Set by the first thread that stops the program; any other thread that finds a violation
    /// meanwhile waits for the end instead of printing a second report.
    private static let stopping = Atomic<Bool>(false)

    /// Prints the report and ends the process at once with status 1, as HPy's debug mode stops
    /// on a fatal error (without abort(3)'s crash dump, which would bury the report).
    static func stop(with report: ViolationReport) -> Never {
        guard stopping.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            while true { pause() }
        }
        fflush(stdout)
        fputs("refscale: handle contract violation: \(report.fullText)\n", stderr)
        fflush(stderr)
        _exit(1)
    }

    /// What every context of the run found. Read when no thread of the run is running.
    func summary() -> ContractSummary {
        var summary = ContractSummary()
        let stacks = self.stacks.withLock { $0 }
        func add(_ record: ViolationRecord) {
            summary.reports.append(record.report(
                backtrace: record.backtrace >= 0 ? stacks[Int(record.backtrace)] : nil,
                openingBacktrace: record.openingBacktrace >= 0 ? stacks[Int(record.openingBacktrace)] : nil))
        }
        let count = min(registered.load(ordering: .acquiring), registryCapacity)
        for id in stride(from: 1, through: count, by: 1) {
            guard let thread = thread(contextID: id) else { continue }
            for (index, kind) in ViolationKind.allCases.enumerated() where thread.pointee.counts[index] > 0 {
                summary.counts[kind, default: 0] += thread.pointee.counts[index]
            }
            summary.checkedOperations += thread.pointee.operationIndex
            for index in 0..<thread.pointee.reports.count { add(thread.pointee.reports[index]) }
        }
        for record in orphans.withLock({ $0 }) {
            summary.counts[record.kind, default: 0] += 1
            add(record)
        }
        return summary
    }
}

/// The shared state of a debug run: the inner scheme's, and the debug contexts'.
public final class DebugShared<Inner: AnyObject> {
    public let inner: Inner
    public let run: DebugRun

    init(inner: Inner, run: DebugRun) {
        self.inner = inner
        self.run = run
    }
}
