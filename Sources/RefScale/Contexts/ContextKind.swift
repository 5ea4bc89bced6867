/// How the kernel reaches a scheme's operations: the context of DESIGN.md ("Contexts and the
/// debug mode"). Each is a `CountingScheme` of its own — the scheme itself, `UniversalContext<S>`
/// or `DebugContext<S>` — so the runner and the kernel never ask which one they run.
public enum ContextKind: String, CaseIterable, Sendable {
    /// Calls resolved at compile time: the scheme's code is inlined into the hot loop.
    case direct
    /// Calls through a table of function pointers each thread builds once, as HPy's universal ABI.
    case universal
    /// The universal table with every entry wrapped by the handle contract's checks, as HPy's
    /// debug mode.
    case debug
    /// The scheme called directly, each operation's counter changes charged to the object it
    /// named (`refscale trace attribute`): a specialisation of its own.
    case attribute
    /// The universal table with every entry wrapped to count and time its calls, as HPy's trace
    /// mode.
    case trace

    public var summary: String {
        switch self {
        case .direct: "handle operations resolved at compile time"
        case .universal: "one indirect call per operation through a per-thread function table (HPy universal ABI)"
        case .debug: "the universal table with each entry wrapped by the handle contract's checks (HPy debug mode)"
        case .attribute: "direct calls, each operation's atomics, retries, queue pushes, misses and lock handoffs charged to its object"
        case .trace: "the universal table with each entry wrapped to count and time its calls (HPy trace mode)"
        }
    }

    public static func named(_ name: String) throws -> ContextKind {
        guard let kind = ContextKind(rawValue: name) else {
            throw ConfigurationError("unknown context '\(name)'; valid contexts: \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return kind
    }
}
