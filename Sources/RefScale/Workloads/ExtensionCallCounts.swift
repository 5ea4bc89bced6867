/// What a run's extension calls did, by kind, summed over every worker's calls (set-up and
/// teardown left out, warm-up and timed interval together): the counts a user divides by
/// `calls` to read what one call of the function costs in handle operations.
public struct ExtensionCallCounts: Sendable, Equatable {
    public var calls = 0
    /// `HPy_Dup` and `HPy_Close`, the trampoline's close of the returned handle among the closes.
    public var dups = 0
    public var closes = 0
    /// Handles opened on objects that exist: items, attributes, fields' and globals' loads.
    public var opens = 0
    /// Objects the calls made (`HPy_New`, ints, floats, tuples, lists ...), each with a new handle.
    public var objectsMade = 0
    public var fieldStores = 0
    public var fieldLoads = 0
    public var globalStores = 0
    public var globalLoads = 0
    /// Non-local references the calls took (a field, a global, a container's item) and ended. The
    /// ends include what a call's drain ends for objects freed elsewhere (a lazy table's flush in
    /// another thread frees an object whose items then wait for any thread's next call).
    public var referencesKept = 0
    public var referencesEnded = 0
    /// Handles the module's exec slots left open when the run made the module object, which the
    /// run closed on the module's behalf (a breach of the module's contract, not of the run's).
    /// A count over the run, not over the calls.
    public var execSlotLeaks = 0

    public init() {}

    /// A count over the calls; nil when no call was counted.
    public func perCall(_ count: Int) -> Double? { calls > 0 ? Double(count) / Double(calls) : nil }
}
