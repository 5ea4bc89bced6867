/// A parameterised generator of each thread's operations. The stream depends only on the
/// workload, its options, the seed and the thread's index, never on the scheme, so every scheme
/// is measured on identical work. Streams are generated before the timed interval.
/// Workloads without calls of their own make each timed pass one scope (an `enter` first, an
/// `exit` last), so call-scoped schemes have scopes to work in everywhere.
public protocol Workload: Sendable {
    static var name: String { get }
    static var summary: String { get }
    /// Whether two threads touch one object; schemes that are not thread-safe refuse these.
    static var sharesObjects: Bool { get }
    /// Whether real extension code makes the run's objects (`hpy`): schemes that cannot hold
    /// them (`CountingScheme.refusesExtensionObjects`) refuse the workload.
    static var runsExtensionCode: Bool { get }
    /// The options this workload reads, declared in its own file.
    static var declaredOptions: [OptionDeclaration] { get }

    /// Reads the options (already checked against `declaredOptions`); throws when they do not go
    /// together.
    init(options: OptionValues) throws

    /// How many pool objects born by index (`new`) a run with `threads` workers needs.
    func poolSize(threads: Int) -> Int
    /// How many objects each thread may have alive at once from `create` (its pool region).
    func regionSize(threads: Int) -> Int
    /// The run's global slots and channels.
    func globals(threads: Int) -> Int
    func channels(threads: Int) -> Int
    /// The run's mailboxes for handles and for contexts (`publishHandle`, `publishContext`): only
    /// the streams of `stress` use them.
    func mailboxes(threads: Int) -> Int
    /// The main thread's part: objects it makes before the workers start and releases after.
    func mainProgram(threads: Int, seed: UInt64) -> ThreadProgram
    func workerProgram(thread: Int, threads: Int, seed: UInt64) -> ThreadProgram
    /// Throws when the workload cannot run on this many threads.
    func check(threads: Int) throws
    /// The workload's own checks of the objects it made, after every worker has returned and
    /// before the main thread's teardown (`trace`: each object back to its count, each death
    /// once per pass); nil when they all hold.
    func validate(afterWorkers run: WorkersFinished) -> String?
    /// A failure of the main thread's set-up that refuses the run before any worker starts, as
    /// bad input (`hpy`: a function that fails on its arguments); nil when it ran.
    func setupFailure() -> String?
    /// How many objects of the workload's source each replica of its streams has a copy of
    /// (`trace` above its traced thread count); nil for a workload that does not replicate.
    func replicatedObjects(threads: Int) -> Int?
    /// What the workers' extension calls did, by kind (`hpy`), once every worker has returned;
    /// nil for a workload that makes no extension calls.
    func extensionCalls() -> ExtensionCallCounts?
    /// The workers' passes with their last drops marked (`LastDrops.mark`), and the digest of
    /// every program: a workload whose programs are built once (`trace`) keeps them too, since
    /// both walk every operation before each run.
    func lastDropsMarked(_ workers: [ThreadProgram], stamping: Bool) -> [[Operation]]
    func streamDigest(main: ThreadProgram, workers: [ThreadProgram]) -> UInt64
}

/// What a workload's own validation sees once every worker has returned.
public struct WorkersFinished {
    public let pool: ObjectPool
    /// Timed passes each worker ran, all of them to their end.
    public let passes: [Int]
    /// The count the run's scheme keeps for an object; nil for a scheme that does not count.
    public let referenceCount: (ObjectRef) -> Int?
}

extension Workload {
    public static var declaredOptions: [OptionDeclaration] { [] }
    public static var runsExtensionCode: Bool { false }
    public func regionSize(threads: Int) -> Int { 0 }
    public func globals(threads: Int) -> Int { 0 }
    public func channels(threads: Int) -> Int { 0 }
    public func mailboxes(threads: Int) -> Int { 0 }
    public func check(threads: Int) throws {}
    public func validate(afterWorkers run: WorkersFinished) -> String? { nil }
    public func setupFailure() -> String? { nil }
    public func replicatedObjects(threads: Int) -> Int? { nil }
    public func extensionCalls() -> ExtensionCallCounts? { nil }
    public func lastDropsMarked(_ workers: [ThreadProgram], stamping: Bool) -> [[Operation]] {
        LastDrops.mark(workers.map(\.pass), stamping: stamping)
    }
    public func streamDigest(main: ThreadProgram, workers: [ThreadProgram]) -> UInt64 {
        ([main] + workers).reduce(into: StreamDigest()) { $0.add($1) }.value
    }
}


/// The options several workloads read, declared once.
public enum CommonOptions {
    public static let dupDepth = DeclaredOption<Int>(
        "dup_depth", default: 1, help: "duplicates of a handle held at once before they are closed",
        check: OptionCheck.atLeast(0))
    public static let readFraction = DeclaredOption<Double>(
        "read_fraction", default: 0, help: "share of operations that read the payload, in [0, 1]", check: OptionCheck.fraction)
    public static let immortalFraction = DeclaredOption<Double>(
        "immortal_fraction", default: 0, help: "share of objects that are immortal, in [0, 1]", check: OptionCheck.fraction)
    public static let sharedKind = DeclaredOption<SharedKind>(
        "shared_kind", default: .data,
        help: "what the shared objects are: data (lists, dicts, instances), class (classes, functions, modules, code: deferred) or ext-type (an extension's PyType_FromSpec type)")
}

/// What a workload's shared objects are (DESIGN.md, "Object kinds"). In `churn` and `handoff`
/// the kind is that of the type the created objects are instances of.
public enum SharedKind: String, CaseIterable, Sendable, OptionValueConvertible {
    /// Lists, dicts, instances: counted as every object is.
    case data
    /// Objects CPython 3.13 gives a deferred count (`_PyObject_SetDeferredRefcount`): classes
    /// made by a `class` statement (`type_new_impl`), top-level functions, modules, code.
    /// 3.13t makes them immortal once a second thread starts (gh-117783); 3.14t gives the
    /// classes and code a unique id and counts the runtime's references to them per thread.
    case `class`
    /// A type an extension makes with `PyType_FromSpec`: a heap type that 3.13 never defers, so
    /// it stays mortal and biased there; every instance's allocation takes a reference to it
    /// (`PyType_GenericAlloc`) and the extension's `tp_dealloc` drops it with `Py_DECREF(tp)`.
    case extType = "ext-type"

    /// The flags a shared object of this kind is made with.
    public var flags: ObjectFlags {
        switch self {
        case .data: return .shared
        case .class: return [.shared, .deferred]
        case .extType: return [.shared, .extensionType]
        }
    }

    /// Whether the created objects of `churn` and `handoff` are instances of a heap type the
    /// main thread makes (any kind but `data`, whose instances' type is static and immortal).
    public var isHeapType: Bool { self != .data }
}
