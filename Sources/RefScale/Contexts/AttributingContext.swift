import Synchronization

/// `attribute`: scheme `S` called directly, with what each operation did to the thread's
/// counters — atomic read-modify-writes, CAS retries, merge-queue pushes, table misses and
/// fallbacks, lock handoffs — charged to the object the operation named (`refscale trace
/// attribute`). A separate specialisation of the hot loop: the `direct` loop is untouched.
///
/// Invariants:
/// - an object is named by its pool index, which `ObjectPool` keeps as its payload (index + 1)
///   from birth to free; the payload is read before the operation, which may free the object.
///   A payload that names no pool object (`cpython` keeps a `PyObject*` there) is charged to
///   no object;
/// - what runs outside any one operation — safe points, scope exits, thread exit (merges of
///   queued objects, table flushes, lock releases) — is charged to no object;
/// - each thread charges its own array, with no sharing; `threadExit` adds it to the run's
///   total under a lock, once.
/// The charging costs time, so rates measured under this context are not comparable to the
/// `direct` context's; its counts are.
public struct AttributingContext<S: CountingScheme>: CountingScheme {
    public typealias Shared = AttributionShared<S.Shared>

    public static var name: String { S.name }
    public static var summary: String { S.summary }
    public static var reportedCounters: Set<CounterKind> { S.reportedCounters }
    public static var isThreadSafe: Bool { S.isThreadSafe }
    public static var declaredOptions: [OptionDeclaration] { S.declaredOptions }
    public static var pythonVersion: String? { S.pythonVersion }
    public static func failure(of shared: Shared) -> String? { S.failure(of: shared.inner) }

    var inner: S
    let run: AttributionShared<S.Shared>
    var costs: [ObjectCost] = []
    var unattributed = ObjectCost()

    public static func makeShared(options: SchemeOptions, threads: Int) throws -> Shared {
        AttributionShared(inner: try S.makeShared(options: options, threads: threads))
    }

    public init(shared: Shared, threadID: Int) {
        inner = S(shared: shared.inner, threadID: threadID)
        run = shared
    }

    @inline(__always)
    static func index(of object: ObjectRef) -> Int { Int(truncatingIfNeeded: object.payload) &- 1 }

    @inline(__always)
    mutating func charge(_ index: Int, since before: SchemeCounters) {
        let cost = ObjectCost(operation: before, inner.counters)
        if index >= 0 && index < AttributionShared<S.Shared>.indexLimit {
            if index >= costs.count { costs += Array(repeating: ObjectCost(), count: max(index + 1 - costs.count, costs.count)) }
            costs[index] += cost
        } else {
            unattributed += cost
        }
    }

    public mutating func new(_ object: ObjectRef) -> Handle {
        let index = Self.index(of: object), before = inner.counters
        defer { charge(index, since: before) }
        return inner.new(object)
    }

    public mutating func open(_ object: ObjectRef) -> Handle {
        let index = Self.index(of: object), before = inner.counters
        defer { charge(index, since: before) }
        return inner.open(object)
    }

    public mutating func dup(_ handle: Handle) -> Handle {
        let index = Self.index(of: inner.object(of: handle)), before = inner.counters
        defer { charge(index, since: before) }
        return inner.dup(handle)
    }

    public mutating func close(_ handle: Handle) {
        let index = Self.index(of: inner.object(of: handle)), before = inner.counters
        inner.close(handle)
        charge(index, since: before)
    }

    public func read(_ handle: Handle) -> UInt64 { inner.read(handle) }

    public mutating func retain(_ object: ObjectRef) {
        let index = Self.index(of: object), before = inner.counters
        inner.retain(object)
        charge(index, since: before)
    }

    public mutating func release(_ object: ObjectRef) {
        let index = Self.index(of: object), before = inner.counters
        inner.release(object)
        charge(index, since: before)
    }

    public mutating func transfer(_ handle: Handle) -> ObjectRef {
        let index = Self.index(of: inner.object(of: handle)), before = inner.counters
        defer { charge(index, since: before) }
        return inner.transfer(handle)
    }

    public mutating func adopt(_ object: ObjectRef) -> Handle {
        let index = Self.index(of: object), before = inner.counters
        defer { charge(index, since: before) }
        return inner.adopt(object)
    }

    public mutating func returning(_ handle: Handle) -> Handle { unattributedWork { $0.returning(handle) } }
    public mutating func enterScope() { unattributedWork { $0.enterScope() } }
    public mutating func exitScope() { unattributedWork { $0.exitScope() } }
    public mutating func safePoint() { unattributedWork { $0.safePoint() } }
    public mutating func settle() { unattributedWork { $0.settle() } }
    public mutating func suspend() { unattributedWork { $0.suspend() } }
    public mutating func resume() { unattributedWork { $0.resume() } }

    public mutating func threadExit() {
        unattributedWork { $0.threadExit() }
        run.add(costs, unattributed: unattributed)
    }

    mutating func unattributedWork<R>(_ work: (inout S) -> R) -> R {
        let before = inner.counters
        defer { unattributed += ObjectCost(operation: before, inner.counters) }
        return work(&inner)
    }

    public mutating func escapeUnconverted(_ handle: Handle, to route: EscapeRoute) { inner.escapeUnconverted(handle, to: route) }

    public var counters: SchemeCounters { inner.counters }
    public func object(of handle: Handle) -> ObjectRef { inner.object(of: handle) }
    public static func referenceCount(of object: ObjectRef) -> Int? { S.referenceCount(of: object) }
    public static func attribution(of shared: Shared) -> ObjectAttribution? { shared.total() }
}

/// What operations on one object cost, in the counters' units.
public struct ObjectCost: Sendable, Equatable {
    public var operations = 0
    public var atomicRMW = 0
    public var casRetries = 0
    public var queued = 0
    /// Table misses and fallbacks: the handle operations a thread's table did not serve.
    public var tableMisses = 0
    public var lockHandoffs = 0

    public init() {}

    /// One operation, from the thread's counters before and after it.
    init(operation before: SchemeCounters, _ after: SchemeCounters) {
        operations = 1
        atomicRMW = after.atomicRMW &- before.atomicRMW
        casRetries = after.casRetries &- before.casRetries
        queued = after.queued &- before.queued
        tableMisses = (after.tableMisses &- before.tableMisses) &+ (after.fallbacks &- before.fallbacks)
        lockHandoffs = after.lockHandoffs &- before.lockHandoffs
    }

    /// Operations that write memory other threads share: atomic read-modify-writes (each CAS
    /// attempt one) and lock handoffs. `trace attribute` ranks objects by it.
    public var sharedWrites: Int { atomicRMW + lockHandoffs }

    public static func + (left: ObjectCost, right: ObjectCost) -> ObjectCost {
        var sum = left
        sum += right
        return sum
    }

    public static func += (total: inout ObjectCost, cost: ObjectCost) {
        total.operations &+= cost.operations
        total.atomicRMW &+= cost.atomicRMW
        total.casRetries &+= cost.casRetries
        total.queued &+= cost.queued
        total.tableMisses &+= cost.tableMisses
        total.lockHandoffs &+= cost.lockHandoffs
    }
}

/// The costs of a run, by pool index, and what no one object was charged.
public struct ObjectAttribution: Sendable {
    public var byPoolIndex: [ObjectCost]
    public var unattributed: ObjectCost
}

/// The run's attribution: every thread's costs, added as each thread exits.
public final class AttributionShared<Inner: AnyObject>: @unchecked Sendable {
    /// Pool indices beyond this are not charged to an object (a payload that is not an index).
    static var indexLimit: Int { 1 << 26 }

    let inner: Inner
    private let totals = LockedValue(ObjectAttribution(byPoolIndex: [], unattributed: ObjectCost()))

    init(inner: Inner) { self.inner = inner }

    func add(_ costs: [ObjectCost], unattributed: ObjectCost) {
        totals.withLock { total in
            if total.byPoolIndex.count < costs.count {
                total.byPoolIndex += Array(repeating: ObjectCost(), count: costs.count - total.byPoolIndex.count)
            }
            for (index, cost) in costs.enumerated() { total.byPoolIndex[index] += cost }
            total.unattributed += unattributed
        }
    }

    func total() -> ObjectAttribution { totals.withLock { $0 } }
}
