import Synchronization

/// `noop`: the same operation stream with every counting step removed; its ns/op is the
/// harness's own cost, against which every other figure is read.
///
/// Invariants:
/// - `dup`, `open` and `read` write nothing to the object; `read` still loads the payload.
/// - Only the handle made by `new` owns the object: it carries the tag bit 0 (objects are at
///   least 8-byte aligned, so the bit is free) and closing it frees the object. Every other
///   handle is a plain address whose close does nothing. So lifetimes stay exact without a count.
/// - Immortal objects are never freed: `new` gives them a plain, non-owning handle.
public struct NoopScheme: CountingScheme {
    public static let name = "noop"
    public static let summary = "no counting at all: the harness's own cost per operation"
    public static let reportedCounters: Set<CounterKind> = [.frees]
    public static let isThreadSafe = true
    /// Only the stream's own `new` owns an object: an extension that keeps an object in a list
    /// or a field and closes its handle would free it.
    public static let refusesExtensionObjects: String? = "frees an object when the handle `new` made is closed, whatever else keeps it: an extension's containers and fields would hold freed objects"

    static let owningTag: UInt64 = 1

    public var counters = SchemeCounters()

    public static func makeShared(options: SchemeOptions, threads: Int) -> NoSharedState { NoSharedState() }

    public init(shared: NoSharedState, threadID: Int) {}

    @inline(__always)
    public mutating func new(_ object: ObjectRef) -> Handle {
        if object.isImmortal { return Handle(object) }
        return Handle(bits: Handle(object).bits | NoopScheme.owningTag)
    }

    @inline(__always)
    public mutating func open(_ object: ObjectRef) -> Handle { Handle(object) }

    @inline(__always)
    public mutating func dup(_ handle: Handle) -> Handle { Handle(bits: handle.bits & ~NoopScheme.owningTag) }

    @inline(__always)
    public mutating func close(_ handle: Handle) {
        if handle.bits & NoopScheme.owningTag != 0 {
            ObjectPool.free(ObjectRef(handle, clearing: NoopScheme.owningTag))
            counters.frees += 1
        }
    }

    @inline(__always)
    public func read(_ handle: Handle) -> UInt64 { ObjectRef(handle, clearing: NoopScheme.owningTag).payload }

    @inline(__always)
    public func object(of handle: Handle) -> ObjectRef { ObjectRef(handle, clearing: NoopScheme.owningTag) }

    /// Nothing is counted; a reference kept elsewhere does not own the object.
    public mutating func retain(_ object: ObjectRef) {}
    public mutating func release(_ object: ObjectRef) {}
    /// An owning handle stays owning across threads: whoever ends it frees the object.
    public mutating func transfer(_ handle: Handle) -> ObjectRef { ObjectRef(address: UnsafeMutableRawPointer(bitPattern: UInt(handle.bits))!) }
    public mutating func adopt(_ object: ObjectRef) -> Handle { Handle(bits: UInt64(UInt(bitPattern: object.address))) }

    public mutating func safePoint() {}
    public mutating func threadExit() {}

    public static func referenceCount(of object: ObjectRef) -> Int? { nil }
}

extension NoopScheme: UniversalScheme {
    public static let universalTable = UniversalTable(
        new: { Entries.new($0, $1) }, open: { Entries.open($0, $1) }, load: { Entries.load($0, $1) }, dup: { Entries.dup($0, $1) },
        close: { Entries.close($0, $1) }, read: { Entries.read($0, $1) }, object: { Entries.object($0, $1) },
        retain: { Entries.retain($0, $1) }, release: { Entries.release($0, $1) },
        transfer: { Entries.transfer($0, $1) }, adopt: { Entries.adopt($0, $1) },
        returning: { Entries.returning($0, $1) }, enterScope: { Entries.enterScope($0, $1) },
        exitScope: { Entries.exitScope($0, $1) })
}
