/// Which objects `perthread` gives a unique id and a deferred count. CPython 3.14 gives them to
/// heap types, code objects and the globals and builtins of functions: `type`.
public enum UniqueIDPolicy: String, CaseIterable, Sendable, OptionValueConvertible {
    /// Heap types and code, as 3.14: the shared objects of kind `class` and `ext-type`, and a
    /// replayed trace's classes and code (`ObjectFlags.shared` with `.deferred`); not a trace's
    /// functions and modules, which 3.14 defers without an id.
    case type
    /// Every mortal object the workload made with `ObjectFlags.shared`, whatever its kind.
    case shared
    /// Every mortal object the workload made by index; objects threads create and recycle
    /// during the run (`call`, `handoff`, `churn`) get none, as short-lived objects in CPython.
    case all
    /// None: every object is counted as `biased` counts it, and type references too.
    case none
}
