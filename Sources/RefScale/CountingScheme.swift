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
    /// The options of `SchemeOptions` that change what this scheme does.
    static var usedOptions: Set<SchemeOptionName> { get }

    static func makeShared(options: SchemeOptions, threads: Int) throws -> Shared

    /// The context of thread `threadID` (1 is the run's main thread, workers follow).
    init(shared: Shared, threadID: Int)

    /// Gives a freshly born object its first reference, held by this thread.
    mutating func new(_ object: ObjectRef) -> Handle
    /// A new reference to an object this thread can reach.
    mutating func open(_ object: ObjectRef) -> Handle
    /// A new handle to an object just read from a field or a global (`HPyField_Load`,
    /// `HPyGlobal_Load`): nothing but that slot keeps it alive, and another thread may replace
    /// the slot meanwhile, so the handle must hold the object itself. By default, `open`.
    mutating func openLoaded(_ object: ObjectRef) -> Handle
    mutating func dup(_ handle: Handle) -> Handle
    mutating func close(_ handle: Handle)
    func read(_ handle: Handle) -> UInt64
    /// Takes a non-local reference (a field, a global, an object in flight between threads) to an
    /// object this thread holds a handle to.
    mutating func retain(_ object: ObjectRef)
    /// Ends a non-local reference.
    mutating func release(_ object: ObjectRef)
    /// Turns a local handle into a non-local reference, consuming the handle (`send`).
    mutating func transfer(_ handle: Handle) -> ObjectRef
    /// Turns a non-local reference into a handle of this thread, consuming the reference (`receive`).
    mutating func adopt(_ object: ObjectRef) -> Handle
    /// A point where deferred work may run: merge queues, table flushes. The runner calls it
    /// after every pass.
    mutating func safePoint()
    /// The start and the end of a simulated extension call.
    mutating func enterScope()
    mutating func exitScope()
    /// The handle the current scope returns to its caller, made valid in the caller's scope.
    mutating func returning(_ handle: Handle) -> Handle
    /// The thread is about to block (the start barrier, waiting for the other workers): release
    /// whatever other threads may need meanwhile, such as a global lock.
    mutating func suspend()
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

    /// The extension keeps a handle in a field or a global, or sends it, as it is — with no
    /// conversion to a non-local reference: a local handle escaping its scope, a breach of the
    /// handle contract. No scheme can tell and none does anything (the kernel keeps and sends
    /// nothing either); the debug context reports it.
    mutating func escapeUnconverted(_ handle: Handle, to route: EscapeRoute)

    /// The contract violations the run's contexts found, read when no thread is running; nil for
    /// a context that does not check.
    static func contractSummary(of shared: Shared) -> ContractSummary?

    /// True for a context that reaches the scheme through a function table.
    static var callsThroughTable: Bool { get }
}

public enum CounterKind: String, CaseIterable, Sendable {
    case atomicRMW = "atomic_rmw"
    case casRetries = "cas_retries"
    case tableHits = "table_hits"
    case tableMisses = "table_misses"
    /// `handle-local`: dups and closes done in the thread's table alone (no atomic).
    case localDupClose = "local_dup_close"
    case fallbacks
    case evictions
    case merges
    case queued
    case frees
    /// `gil`: times the global lock passed from one thread to another.
    case lockHandoffs = "lock_handoffs"
}

/// What a thread's scheme context did, summed over threads for the row.
public struct SchemeCounters: Sendable, Equatable {
    public var atomicRMW = 0
    public var casRetries = 0
    public var tableHits = 0
    public var tableMisses = 0
    public var localDupClose = 0
    public var fallbacks = 0
    public var evictions = 0
    public var merges = 0
    public var queued = 0
    public var frees = 0
    public var lockHandoffs = 0

    public init() {}

    public subscript(kind: CounterKind) -> Int {
        switch kind {
        case .atomicRMW: atomicRMW
        case .casRetries: casRetries
        case .tableHits: tableHits
        case .tableMisses: tableMisses
        case .localDupClose: localDupClose
        case .fallbacks: fallbacks
        case .evictions: evictions
        case .merges: merges
        case .queued: queued
        case .frees: frees
        case .lockHandoffs: lockHandoffs
        }
    }

    public static func + (a: SchemeCounters, b: SchemeCounters) -> SchemeCounters {
        var sum = SchemeCounters()
        sum.atomicRMW = a.atomicRMW + b.atomicRMW
        sum.casRetries = a.casRetries + b.casRetries
        sum.tableHits = a.tableHits + b.tableHits
        sum.tableMisses = a.tableMisses + b.tableMisses
        sum.localDupClose = a.localDupClose + b.localDupClose
        sum.fallbacks = a.fallbacks + b.fallbacks
        sum.evictions = a.evictions + b.evictions
        sum.merges = a.merges + b.merges
        sum.queued = a.queued + b.queued
        sum.frees = a.frees + b.frees
        sum.lockHandoffs = a.lockHandoffs + b.lockHandoffs
        return sum
    }
}

public enum SchemeOptionName: String, CaseIterable, Sendable {
    case handleIndex = "handle_index"
    case release
    case gilSlice = "gil_slice"
    case uniqueIDs = "unique_ids"
    case mergeInterval = "merge_interval"
}

extension CountingScheme {
    public static var usedOptions: Set<SchemeOptionName> { [] }

    @inline(__always)
    public mutating func openLoaded(_ object: ObjectRef) -> Handle { open(object) }

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

    public mutating func enterScope() {}
    public mutating func exitScope() {}
    public mutating func returning(_ handle: Handle) -> Handle { handle }
    public mutating func suspend() {}
    public static func failure(of shared: Shared) -> String? { nil }
    public static var pythonVersion: String? { nil }
    public mutating func escapeUnconverted(_ handle: Handle, to route: EscapeRoute) {}
    public static func contractSummary(of shared: Shared) -> ContractSummary? { nil }
    public static var callsThroughTable: Bool { false }
}

/// Options that change how a scheme counts.
public struct SchemeOptions: Sendable, Equatable {
    public var handleIndex: HandleIndex = .low3
    public var release: ReleasePolicy = .lazy
    public var objectAlignment = 128
    /// `gil`: how long a thread holds the global lock before it lets others take it, in seconds
    /// (CPython's switch interval, 5 ms by default).
    public var gilSlice = 0.005
    /// `perthread`: which objects get a unique id and so are counted in per-thread arrays.
    public var uniqueIDs: UniqueIDPolicy = .shared
    /// `perthread`: seconds between stop-the-world merges of the per-thread arrays; 0 merges
    /// only at the run's end.
    public var mergeInterval = 0.0
    /// The debug context's options; the schemes and the other contexts ignore them.
    public var debug = DebugOptions()

    public init() {}

    /// The value of an option as the CSV file and experiment files spell it.
    public func value(of option: SchemeOptionName) -> String {
        switch option {
        case .handleIndex: handleIndex.rawValue
        case .release: release.rawValue
        case .gilSlice: String(gilSlice)
        case .uniqueIDs: uniqueIDs.rawValue
        case .mergeInterval: String(mergeInterval)
        }
    }

    /// Sets an option from its spelling; throws the valid spellings when it is not one.
    public mutating func set(_ option: SchemeOptionName, to value: String) throws {
        func parse<T: RawRepresentable & CaseIterable>(_: T.Type) throws -> T where T.RawValue == String {
            guard let parsed = T(rawValue: value) else {
                throw ConfigurationError("must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), got '\(value)'")
            }
            return parsed
        }
        func seconds(above minimum: Double, inclusive: Bool) throws -> Double {
            guard let seconds = Double(value), seconds.isFinite, inclusive ? seconds >= minimum : seconds > minimum else {
                throw ConfigurationError("must be a number of seconds \(inclusive ? ">=" : ">") \(minimum), got '\(value)'")
            }
            return seconds
        }
        switch option {
        case .handleIndex: handleIndex = try parse(HandleIndex.self)
        case .release: release = try parse(ReleasePolicy.self)
        case .gilSlice: gilSlice = try seconds(above: 0, inclusive: false)
        case .uniqueIDs: uniqueIDs = try parse(UniqueIDPolicy.self)
        case .mergeInterval: mergeInterval = try seconds(above: 0, inclusive: true)
        }
    }

    /// What distinguishes two option sets for a scheme that uses `options` (and the alignment).
    public func key(for options: Set<SchemeOptionName>) -> String {
        ([String(objectAlignment)] + options.map(\.rawValue).sorted().map { value(of: SchemeOptionName(rawValue: $0)!) })
            .joined(separator: "|")
    }
}

/// Which objects `perthread` gives a unique id (CPython 3.14 gives them to heap types and code
/// objects: the objects every thread touches).
public enum UniqueIDPolicy: String, CaseIterable, Sendable {
    /// Objects the workload made with `ObjectFlags.shared`.
    case shared
    /// Every mortal object the workload made by index; objects threads create and recycle
    /// during the run (`call`, `handoff`, `churn`) get none, as short-lived objects in CPython.
    case all
    /// None: every object is counted as `biased` counts it.
    case none
}

/// Where `handle-local` keeps the table index in a handle.
public enum HandleIndex: String, CaseIterable, Sendable {
    /// Bits 1 and 2 of an 8-byte-aligned address, bit 0 left to HPy's own tag (HPy's universal
    /// ABI on CPython marks debug handles with it): 3 slots.
    case low3HPy = "low3-hpy"
    /// The low 3 bits of an 8-byte-aligned address: 7 slots.
    case low3
    /// The low 4 bits of a 16-byte-aligned address: 15 slots.
    case low4
    /// Bits 48..63, which no x86-64 user address uses: 65535 slots, found on `open` by a hash
    /// lookup rather than a scan.
    case high16

    public var slotCount: Int {
        switch self {
        case .low3HPy: 3
        case .low3: 7
        case .low4: 15
        case .high16: 65535
        }
    }

    /// The position of the index's lowest bit in a handle.
    public var shift: Int {
        switch self {
        case .low3HPy: 1
        case .low3, .low4: 0
        case .high16: 48
        }
    }

    /// The mask of the handle's index bits, in place.
    public var mask: UInt64 { UInt64(slotCount) << UInt64(shift) }
    /// The object alignment the index needs: the low bits it uses must be zero in every address.
    public var requiredAlignment: Int {
        switch self {
        case .low3HPy, .low3: 8
        case .low4: 16
        case .high16: 8
        }
    }
}

/// When `handle-local` gives back the thread's shared reference of a slot whose count is 0.
public enum ReleasePolicy: String, CaseIterable, Sendable {
    /// At once, when the count reaches 0.
    case eager
    /// At the next flush: a safe point, thread exit, or eviction of the slot (not scope exit).
    case lazy
}

/// The scheme's empty shared state.
public final class NoSharedState {
    public init() {}
}
