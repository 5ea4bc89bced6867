/// One way of counting references. A value of a conforming type is one thread's context: it
/// carries that thread's state (its table, its merge queue, its counters) and is passed `inout`
/// to every operation, so the hot loop holds no class reference and no Swift reference count.
///
/// Every scheme performs the same operations, so one operation stream runs on all of them.
/// An object is freed (`ObjectPool.free`) when, and only when, its last reference ends.
public protocol CountingScheme {
    /// State every thread of a run shares (merge queues, a lock). Made once per run, before any
    /// thread context, and kept alive by the run until every context is gone.
    associatedtype Shared: AnyObject

    static var name: String { get }
    static var summary: String { get }
    /// The counters this scheme reports; the others are blank in its rows.
    static var reportedCounters: Set<CounterKind> { get }
    /// False for schemes that are correct only when no other thread touches an object.
    static var isThreadSafe: Bool { get }
    /// The options this scheme reads, declared in its own file.
    static var declaredOptions: [OptionDeclaration] { get }

    static func makeShared(options: SchemeOptions, threads: Int) throws -> Shared

    /// The context of thread `threadID` (1 is the run's main thread, workers follow).
    init(shared: Shared, threadID: Int)

    /// Gives a freshly born object its first reference, held by this thread.
    mutating func new(_ object: ObjectRef) -> Handle
    /// A new reference to an object this thread can reach.
    mutating func open(_ object: ObjectRef) -> Handle
    mutating func dup(_ handle: Handle) -> Handle
    mutating func close(_ handle: Handle)
    func read(_ handle: Handle) -> UInt64
    /// Takes a non-local reference (a field, a global, an object in flight between threads) to an
    /// object this thread holds a handle to.
    mutating func retain(_ object: ObjectRef)
    /// Ends a non-local reference.
    mutating func release(_ object: ObjectRef)
    /// A new handle to the object a field or global holds (`HPyField_Load`, `HPyGlobal_Load`);
    /// the slot is not empty. Nothing but that slot keeps the object alive, and another thread may
    /// replace the slot meanwhile, so the handle must hold the object itself. By default: `open`
    /// of that object.
    mutating func load(from slot: UnsafeMutablePointer<UInt>) -> Handle
    /// Turns a local handle into a non-local reference, consuming the handle (`send`).
    mutating func transfer(_ handle: Handle) -> ObjectRef
    /// Turns a non-local reference into a handle of this thread, consuming the reference (`receive`).
    mutating func adopt(_ object: ObjectRef) -> Handle
    /// A point where deferred work may run: merge queues, table flushes. The runner calls it
    /// after every pass.
    mutating func safePoint()
    /// A safe point at which everything deferred is done now (a lazy table's flush, which an
    /// ordinary safe point does only at its cadence), the thread going on: where the main
    /// thread's teardown waits for what an extension's dead objects kept. By default a safe point.
    mutating func settle()
    /// The start and the end of a simulated extension call.
    mutating func enterScope()
    mutating func exitScope()
    /// The handle the current scope returns to its caller, made valid in the caller's scope.
    mutating func returning(_ handle: Handle) -> Handle
    /// The thread is about to block (the start barrier, waiting for the other workers): release
    /// whatever other threads may need meanwhile, such as a global lock.
    mutating func suspend()
    /// The thread has stopped blocking and counts again: take back what `suspend` gave up that
    /// every operation needs (a thread state), so that no operation has to check for it. The
    /// runner calls it before the first operation after every `suspend`.
    mutating func resume()
    /// The thread is leaving: finish deferred work, and hand over what others must finish.
    mutating func threadExit()

    var counters: SchemeCounters { get }

    /// The object a handle of this scheme names.
    func object(of handle: Handle) -> ObjectRef

    /// The object's reference count as this scheme keeps it, read when no thread is running;
    /// nil for a scheme that does not count.
    static func referenceCount(of object: ObjectRef) -> Int?

    /// A failure that stops the run (not a counting error, which validation finds): a Python
    /// error while making an object, say. Read when the threads that could set it wait or are gone.
    static func failure(of shared: Shared) -> String?
    /// The version of the real interpreter the scheme counts in (the `python_version` column),
    /// nil for the schemes that model counting.
    static var pythonVersion: String? { get }
    /// The shared kinds (`--shared-kind`) the scheme cannot make, each with the reason; a run
    /// that asks for one is refused before it starts.
    static var refusedSharedKinds: [SharedKind: String] { get }
    /// Why the scheme cannot hold the objects a real extension makes (`hpy`), nil when it can.
    static var refusesExtensionObjects: String? { get }

    /// The extension keeps a handle in a field or a global, or sends it, as it is — with no
    /// conversion to a non-local reference: a local handle escaping its scope, a breach of the
    /// handle contract. No scheme can tell and none does anything (the kernel keeps and sends
    /// nothing either); the debug context reports it.
    mutating func escapeUnconverted(_ handle: Handle, to route: EscapeRoute)

    /// The contract violations the run's contexts found, read when no thread is running; nil for
    /// a context that does not check.
    static func contractSummary(of shared: Shared) -> ContractSummary?

    /// What each object's operations cost, read when no thread is running; nil for a context
    /// that does not attribute (every one but `AttributingContext`).
    static func attribution(of shared: Shared) -> ObjectAttribution?
    /// The calls the run's trace contexts counted, read when no thread is running; nil for a
    /// context that does not trace.
    static func traceSummary(of shared: Shared) -> CallTraceSummary?

    /// True for a context that reaches the scheme through a function table.
    static var callsThroughTable: Bool { get }

    /// The handle that is `number` itself (a tagged immediate: never allocated, never counted),
    /// or `Handle.null` when this scheme boxes it. By default every number is boxed, as CPython
    /// does.
    mutating func immediate(_ number: Number) -> Handle

    /// Calls `body` with the thread's way into its universal table: how a real extension
    /// (`hpy`) reaches the scheme. A context with a table (universal, debug, trace) gives its
    /// own; a scheme called directly gives its own table over its own state.
    mutating func withTableCaller<Result>(_ body: (TableCaller) -> Result) -> Result
}

extension CountingScheme {
    public static var declaredOptions: [OptionDeclaration] { [] }

    @inline(__always)

    /// By default a transfer takes a non-local reference and closes the handle; a scheme whose
    /// handle already is a reference moves it instead.
    public mutating func transfer(_ handle: Handle) -> ObjectRef {
        let object = object(of: handle)
        retain(object)
        close(handle)
        return object
    }

    /// By default an adoption opens a handle and ends the non-local reference.
    public mutating func adopt(_ object: ObjectRef) -> Handle {
        let handle = open(object)
        release(object)
        return handle
    }

    public mutating func load(from slot: UnsafeMutablePointer<UInt>) -> Handle {
        open(ObjectRef(address: UnsafeMutableRawPointer(bitPattern: slot.pointee)!))
    }

    public mutating func settle() { safePoint() }
    public mutating func enterScope() {}
    public mutating func exitScope() {}
    public mutating func returning(_ handle: Handle) -> Handle { handle }
    public mutating func suspend() {}
    public mutating func resume() {}
    public static func failure(of shared: Shared) -> String? { nil }
    public static var pythonVersion: String? { nil }
    public static var refusedSharedKinds: [SharedKind: String] { [:] }
    public static var refusesExtensionObjects: String? { nil }
    public mutating func escapeUnconverted(_ handle: Handle, to route: EscapeRoute) {}
    public static func contractSummary(of shared: Shared) -> ContractSummary? { nil }
    public static func attribution(of shared: Shared) -> ObjectAttribution? { nil }
    public static func traceSummary(of shared: Shared) -> CallTraceSummary? { nil }
    public static var callsThroughTable: Bool { false }
    @inline(__always) public mutating func immediate(_ number: Number) -> Handle { .null }
    public mutating func withTableCaller<Result>(_ body: (TableCaller) -> Result) -> Result {
        preconditionFailure("\(Self.self) is reached through no universal table")
    }
}

extension UniversalScheme {
    public mutating func withTableCaller<Result>(_ body: (TableCaller) -> Result) -> Result {
        var table = Self.universalTable
        return withUnsafeMutablePointer(to: &self) { state in
            withUnsafeMutablePointer(to: &table) { body(TableCaller(table: $0, state: UnsafeMutableRawPointer(state))) }
        }
    }
}

/// The shared state of a scheme whose threads share nothing: only the run's options, which
/// each thread's context may read once when it is made.
public final class NoSharedState {
    public let options: SchemeOptions
    public init(options: SchemeOptions = SchemeOptions()) { self.options = options }
}
