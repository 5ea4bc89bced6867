import Synchronization

/// `atomic`: one shared counter per object; every change is an atomic read-modify-write. What a
/// naive free-threaded runtime does, and the baseline every other scheme is compared with.
///
/// Invariants:
/// - `count` is the number of references held by all threads together.
/// - Increment: relaxed fetch-add (a new reference can only come from an existing one, which
///   already keeps the object alive). Decrement: acquire-release fetch-sub, so every use of the
///   object happens before the thread that sees 0 frees it.
/// - The object is freed by the decrement that brings `count` from 1 to 0, exactly once.
/// - Immortal objects are never counted.
public struct AtomicScheme: AddressHandleScheme {
    public static let name = "atomic"
    public static let summary = "one shared counter per object, atomic increment and decrement"
    public static let reportedCounters: Set<CounterKind> = [.atomicRMW, .frees]
    public static let isThreadSafe = true

    public var counters = SchemeCounters()

    public static func makeShared(options: SchemeOptions, threads: Int) -> NoSharedState { NoSharedState() }

    public init(shared: NoSharedState, threadID: Int) {}

    @inline(__always)
    public mutating func new(_ object: ObjectRef) -> Handle {
        object.count.pointee.store(1, ordering: .relaxed)
        return Handle(object)
    }

    @inline(__always)
    public mutating func open(_ object: ObjectRef) -> Handle { dup(Handle(object)) }

    @inline(__always)
    public mutating func dup(_ handle: Handle) -> Handle {
        let object = ObjectRef(handle)
        if !object.isImmortal {
            object.count.pointee.wrappingAdd(1, ordering: .relaxed)
            counters.atomicRMW &+= 1
        }
        return handle
    }

    @inline(__always)
    public mutating func close(_ handle: Handle) {
        let object = ObjectRef(handle)
        if object.isImmortal { return }
        counters.atomicRMW &+= 1
        if object.count.pointee.wrappingSubtract(1, ordering: .acquiringAndReleasing).oldValue == 1 {
            ObjectPool.free(object)
            counters.frees += 1
        }
    }

    public mutating func safePoint() {}
    public mutating func threadExit() {}

    public static func referenceCount(of object: ObjectRef) -> Int? {
        object.count.pointee.load(ordering: .relaxed)
    }
}

extension AtomicScheme: UniversalScheme {
    public static let universalTable = UniversalTable(
        new: { Entries.new($0, $1) }, open: { Entries.open($0, $1) }, load: { Entries.load($0, $1) }, dup: { Entries.dup($0, $1) },
        close: { Entries.close($0, $1) }, read: { Entries.read($0, $1) }, object: { Entries.object($0, $1) },
        retain: { Entries.retain($0, $1) }, release: { Entries.release($0, $1) },
        transfer: { Entries.transfer($0, $1) }, adopt: { Entries.adopt($0, $1) },
        returning: { Entries.returning($0, $1) }, enterScope: { Entries.enterScope($0, $1) },
        exitScope: { Entries.exitScope($0, $1) })
}
