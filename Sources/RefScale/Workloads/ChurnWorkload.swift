/// `churn`: allocation-heavy. Each thread creates short-lived objects, uses each (`--dup-depth`
/// duplicates, reads) and drops it: itself, or, for a `--remote-free` share drawn from the
/// seed, by sending it to the next thread (in a ring), which drops it. A thread takes what was
/// sent to it every `roundsPerDrain` rounds, and while it waits to send. Each round, and each
/// taking, is one scope (one extension call), so a call-scoped scheme holds no more objects than
/// a call makes. The pool recycles freed objects to the thread that made them.
///
/// `--shared-kind class|ext-type`: the objects are instances of a heap type the main thread
/// makes (pool
/// object 0), so the runtime takes a reference to the type at each allocation and drops it at
/// each deallocation (`_PyObject_Init`, the deallocator): a class (`class`), or an extension's
/// `PyType_FromSpec` type (`ext-type`). With `data` they are instances of a static type, which
/// no release counts.
public struct ChurnWorkload: Workload {
    public static let name = "churn"
    public static let summary = "objects created and dropped at once, a share of them dropped by another thread"
    public static let sharesObjects = true
    public static let remoteFree = DeclaredOption<Double>(
        "remote_free", default: 0.5, help: "churn: share of objects dropped by another thread", check: OptionCheck.fraction)
    public static let declaredOptions = [
        remoteFree.declaration, CommonOptions.dupDepth.declaration, CommonOptions.readFraction.declaration,
        CommonOptions.sharedKind.declaration,
    ]

    /// The options as this workload reads them.
    struct Parameters {
        var remoteFree: Double
        var dupDepth: Int
        var readFraction: Double
        var sharedKind: SharedKind
    }

    let options: Parameters

    static let passLength = 4096
    static let roundsPerDrain = 16

    public init(options values: OptionValues) throws {
        options = Parameters(
            remoteFree: values[Self.remoteFree], dupDepth: values[CommonOptions.dupDepth],
            readFraction: values[CommonOptions.readFraction], sharedKind: values[CommonOptions.sharedKind])
    }

    public func poolSize(threads: Int) -> Int { hasType ? 1 : 0 }

    /// The instances' heap type, pool object 0, when the shared kind is `class` or `ext-type`.
    var hasType: Bool { options.sharedKind.isHeapType }
    /// In flight per thread: a full queue and what was dropped elsewhere and not yet taken back;
    /// and what a lazy `handle-local` table keeps until its flush (`keptBetweenFlushes`). Each
    /// object takes at least its birth, `--dup-depth` dups and closes and its drop, so a pass
    /// bears at most `passLength / (2 + 2 × dup-depth)` objects, one more for a round crossing
    /// the pass's end: 17 × 1,025 + 768 objects, about 1.1 MB a thread, at the defaults.
    public func regionSize(threads: Int) -> Int {
        let birthsPerPass = ChurnWorkload.passLength / (2 + 2 * options.dupDepth) + 1
        return 3 * 256 + HandleLocalScheme.keptBetweenFlushes(birthsPerPass: birthsPerPass)
    }
    public func channels(threads: Int) -> Int { threads }
    public func mainProgram(threads: Int, seed: UInt64) -> ThreadProgram {
        guard hasType else { return ThreadProgram() }
        return ThreadProgram(registers: 1, setup: [.new(object: 0, into: 0, flags: options.sharedKind.flags)], teardown: [.close(0)])
    }

    public func workerProgram(thread: Int, threads: Int, seed: UInt64) -> ThreadProgram {
        var generator = SplitMix64.forThread(thread, seed: seed)
        let inbox = thread
        let next = (thread + 1) % threads
        let readsPerRound = options.readFraction >= 1 ? 1 : options.readFraction * Double(2 * options.dupDepth + 2) / (1 - options.readFraction)
        var reads = 0.0
        var pass: [Operation] = []
        var handleOperations = 0
        var round = 0
        while handleOperations < ChurnWorkload.passLength {
            var operations: [Operation] = [.enter, .create(into: 0, type: hasType ? 0 : nil)]
            operations += Array(repeating: .dupClose(0), count: options.dupDepth)
            reads += readsPerRound
            while reads >= 1 {
                operations.append(.read(0))
                reads -= 1
            }
            let remote = Double(generator.next() >> 11) / Double(1 << 53) < options.remoteFree
            operations += [remote ? .send(0, to: next) : .close(0), .exit]
            round += 1
            if round % ChurnWorkload.roundsPerDrain == 0 { operations += [.enter, .receiveAll(from: inbox), .exit] }
            handleOperations += operations.reduce(0) { $0 + $1.handleOperations }
            pass += operations
        }
        pass += [.enter, .receiveAll(from: inbox), .exit]
        return ThreadProgram(registers: 1, inbox: inbox, pass: pass, teardown: [.finishSending(to: next), .drain(inbox)])
    }
}
