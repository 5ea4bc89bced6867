import CRefScale
import Glibc
import Synchronization

/// The signals between the main thread and the workers of one run, each word on its own
/// 128-byte line so that no two threads' writes share a line: `ready` (workers that finished
/// their setup), `go` (the start barrier), `stop`, then one line per worker: its published
/// operation count and, beside it, the CPU it last ran on.
public final class RunControl: @unchecked Sendable {
    public let workers: Int
    public let signals: WorkerSignals
    private let block: UnsafeMutableRawPointer

    static let lineSize = 128

    public init(workers: Int) {
        self.workers = workers
        let bytes = (3 + workers) * RunControl.lineSize
        block = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: RunControl.lineSize)
        block.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        signals = WorkerSignals(block: block)
    }

    deinit { block.deallocate() }

    /// Waits until every worker has finished its setup and is waiting at the barrier.
    public func waitUntilReady() {
        while signals.word(WorkerSignals.ready).pointee.load(ordering: .acquiring) < workers { sched_yield() }
    }

    public func start() { signals.word(WorkerSignals.go).pointee.store(1, ordering: .releasing) }
    public func stop() { signals.word(WorkerSignals.stop).pointee.store(1, ordering: .releasing) }

    /// The operation counts the workers have published so far.
    public func publishedOperations() -> [Int] {
        (0..<workers).map { signals.word(3 + $0).pointee.load(ordering: .relaxed) }
    }

    /// The CPU each worker ran on when it last published (`sched_getcpu`), -1 before it did.
    public func publishedCPUs() -> [Int] {
        (0..<workers).map { signals.cpuWord(worker: $0).pointee.load(ordering: .relaxed) - 1 }
    }
}

/// A worker's view of `RunControl`: raw pointers only, so the hot loop holds no class reference.
public struct WorkerSignals: @unchecked Sendable {
    let block: UnsafeMutableRawPointer

    static let ready = 0, go = 1, stop = 2

    @inline(__always)
    func word(_ line: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (block + line * RunControl.lineSize).assumingMemoryBound(to: Atomic<Int>.self)
    }

    /// The worker's CPU plus one (0: not yet published), in the worker's own line.
    @inline(__always)
    func cpuWord(worker: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (block + (3 + worker) * RunControl.lineSize + 8).assumingMemoryBound(to: Atomic<Int>.self)
    }

    /// Announces that this worker is ready and waits for the start.
    public func arriveAndWaitForStart() {
        word(WorkerSignals.ready).pointee.wrappingAdd(1, ordering: .releasing)
        while word(WorkerSignals.go).pointee.load(ordering: .acquiring) == 0 { sched_yield() }
    }

    @inline(__always)
    var stopRequested: Bool { word(WorkerSignals.stop).pointee.load(ordering: .relaxed) != 0 }

    /// Publishes the worker's operations so far and the CPU it runs on: once a pass, so a
    /// `sched_getcpu` (a few ns through the vDSO) is lost among thousands of operations.
    @inline(__always)
    func publish(worker: Int, operations: Int) {
        word(3 + worker).pointee.store(operations, ordering: .relaxed)
        publishCPU(worker: worker)
    }

    @inline(__always)
    public func publishCPU(worker: Int) {
        cpuWord(worker: worker).pointee.store(Int(crefscale_cpu_current()) + 1, ordering: .relaxed)
    }
}
