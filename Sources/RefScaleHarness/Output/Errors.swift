/// A failure of the harness or the environment (a file, a failed run): exit code 1.
public struct HarnessError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Bad input from the command line or an experiment: reported in one line with a usage exit code.
public struct UsageError: Error, CustomStringConvertible, Sendable {
    public var description: String
    /// A combination a sweep leaves out rather than refuses (a scheme that cannot run a
    /// workload, a thread count a workload cannot use).
    public var skippable: Bool

    public init(_ description: String, skippable: Bool = false) {
        self.description = description
        self.skippable = skippable
    }
}
