/// A parameterised generator of each thread's operations. The stream depends only on the
/// workload, its options, the seed and the thread's index, never on the scheme, so every scheme
/// is measured on identical work. Streams are generated before the timed interval.
public protocol Workload: Sendable {
    static var name: String { get }
    static var summary: String { get }
    /// Whether two threads touch one object; schemes that are not thread-safe refuse these.
    static var sharesObjects: Bool { get }

    init(options: WorkloadOptions) throws

    /// The `--objects` value in effect (per thread or in total, as the workload defines it).
    var objects: Int { get }

    /// How many pool objects born by index (`new`) a run with `threads` workers needs.
    func poolSize(threads: Int) -> Int
    /// How many objects each thread may have alive at once from `create` (its pool region).
    func regionSize(threads: Int) -> Int
    /// The run's global slots and channels.
    func globals(threads: Int) -> Int
    func channels(threads: Int) -> Int
    /// The main thread's part: objects it makes before the workers start and releases after.
    func mainProgram(threads: Int) -> ThreadProgram
    func workerProgram(thread: Int, threads: Int, seed: UInt64) -> ThreadProgram
}

extension Workload {
    public func regionSize(threads: Int) -> Int { 0 }
    public func globals(threads: Int) -> Int { 0 }
    public func channels(threads: Int) -> Int { 0 }
}

/// Options of the workloads; each workload reads the ones it uses.
public struct WorkloadOptions: Sendable, Equatable {
    /// Objects per thread (`private`) or in total (`shared-hot`); nil takes the workload's default.
    public var objects: Int?
    /// Handles held at once on one object before they are closed.
    public var dupDepth = 1
    /// The share of operations that read the payload.
    public var readFraction = 0.0
    /// The share of objects that are immortal.
    public var immortalFraction = 0.0

    public init() {}
}

public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension WorkloadOptions {
    func validated() throws -> WorkloadOptions {
        if let objects, objects < 1 { throw ConfigurationError("--objects must be at least 1, got \(objects)") }
        if dupDepth < 0 { throw ConfigurationError("--dup-depth must be >= 0, got \(dupDepth)") }
        for (name, value) in [("--read-fraction", readFraction), ("--immortal-fraction", immortalFraction)]
        where !(0...1).contains(value) {
            throw ConfigurationError("\(name) must be in [0, 1], got \(value)")
        }
        if dupDepth == 0 && readFraction < 1 {
            throw ConfigurationError("--dup-depth 0 leaves nothing to do unless --read-fraction is 1")
        }
        return self
    }
}
