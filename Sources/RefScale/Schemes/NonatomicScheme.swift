import Synchronization

/// `nonatomic`: one plain counter per object, as CPython with a GIL.
///
/// Invariants:
/// - `count` is the number of references; every change is a plain load and store (no atomic
///   read-modify-write), kept in memory so the optimiser can neither fold nor hoist it.
/// - The object is freed by the close that brings `count` to 0.
/// - Correct only while no other thread touches the object at the same time: on shared
///   workloads it runs only under a global lock.
/// - Immortal objects are never counted.
public struct NonatomicScheme: AddressHandleScheme {
    public static let name = "nonatomic"
    public static let summary = "one plain counter per object, as CPython with a GIL (private objects only)"
    public static let reportedCounters: Set<CounterKind> = [.frees]
    public static let isThreadSafe = false

    public var counters = SchemeCounters()

    public static func makeShared(options: SchemeOptions, threads: Int) -> NoSharedState { NoSharedState() }

    public init(shared: NoSharedState, threadID: Int) {}

    @inline(__always)
    public mutating func new(_ object: ObjectRef) -> Handle {
        object.plainCount = 1
        return Handle(object)
    }

    @inline(__always)
    public mutating func open(_ object: ObjectRef) -> Handle { dup(Handle(object)) }

    @inline(__always)
    public mutating func dup(_ handle: Handle) -> Handle {
        let object = ObjectRef(handle)
        if !object.isImmortal { object.plainCount &+= 1 }
        return handle
    }

    @inline(__always)
    public mutating func close(_ handle: Handle) {
        let object = ObjectRef(handle)
        if object.isImmortal { return }
        let remaining = object.plainCount &- 1
        object.plainCount = remaining
        if remaining == 0 {
            ObjectPool.free(object)
            counters.frees += 1
        }
    }

    public mutating func safePoint() {}
    public mutating func threadExit() {}

    public static func referenceCount(of object: ObjectRef) -> Int? { object.plainCount }
}

extension NonatomicScheme: UniversalScheme {
    public static let universalTable = UniversalTable(
        new: { Entries.new($0, $1) }, open: { Entries.open($0, $1) }, load: { Entries.load($0, $1) }, dup: { Entries.dup($0, $1) },
        close: { Entries.close($0, $1) }, read: { Entries.read($0, $1) }, object: { Entries.object($0, $1) },
        retain: { Entries.retain($0, $1) }, release: { Entries.release($0, $1) },
        transfer: { Entries.transfer($0, $1) }, adopt: { Entries.adopt($0, $1) },
        returning: { Entries.returning($0, $1) }, enterScope: { Entries.enterScope($0, $1) },
        exitScope: { Entries.exitScope($0, $1) })
}
