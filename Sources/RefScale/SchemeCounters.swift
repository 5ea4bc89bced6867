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
    /// `perthread`: stop-the-world pauses in which the per-thread counts were merged, and their
    /// total time in nanoseconds (from the stop's request to the restart).
    case mergePauses = "merge_pauses"
    case mergePauseNanoseconds = "merge_pause_ns"
    /// `biased`, `perthread`: acquisitions of a merge-queue bucket's `PyMutex` that found it held,
    /// and the times a waiter parked (after 40 yields, Python/lock.c).
    case mutexContended = "mutex_contended"
    case mutexParks = "mutex_parks"
    /// `biased`, `perthread`: eval-breaker checks that found the merge bit and merged the queue
    /// (`_Py_brc_merge_refcounts`); `merge_passes / queued` is the merges per queued object.
    case mergePasses = "merge_passes"
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
    public var mergePauses = 0
    public var mergePauseNanoseconds = 0
    public var mutexContended = 0
    public var mutexParks = 0
    public var mergePasses = 0

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
        case .mergePauses: mergePauses
        case .mergePauseNanoseconds: mergePauseNanoseconds
        case .mutexContended: mutexContended
        case .mutexParks: mutexParks
        case .mergePasses: mergePasses
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
        sum.mergePauses = a.mergePauses + b.mergePauses
        sum.mergePauseNanoseconds = a.mergePauseNanoseconds + b.mergePauseNanoseconds
        sum.mutexContended = a.mutexContended + b.mutexContended
        sum.mutexParks = a.mutexParks + b.mutexParks
        sum.mergePasses = a.mergePasses + b.mergePasses
        return sum
    }
}
