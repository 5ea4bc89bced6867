/// Which objects `perthread` gives a unique id (CPython 3.14 gives them to heap types and code
/// objects: the objects every thread touches).
public enum UniqueIDPolicy: String, CaseIterable, Sendable, OptionValueConvertible {
    /// Objects the workload made with `ObjectFlags.shared`.
    case shared
    /// Every mortal object the workload made by index; objects threads create and recycle
    /// during the run (`call`, `handoff`, `churn`) get none, as short-lived objects in CPython.
    case all
    /// None: every object is counted as `biased` counts it.
    case none
}
