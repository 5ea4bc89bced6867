/// A parameterised generator of each thread's operations. The stream depends only on the
/// workload, its options, the seed and the thread's index, never on the scheme, so every scheme
/// is measured on identical work. Streams are generated before the timed interval.
/// Workloads without calls of their own make each timed pass one scope (an `enter` first, an
/// `exit` last), so call-scoped schemes have scopes to work in everywhere.
public protocol Workload: Sendable {
    static var name: String { get }
    static var summary: String { get }
    /// Whether two threads touch one object; schemes that are not thread-safe refuse these.
    static var sharesObjects: Bool { get }
    /// The options that change what this workload does.
    static var usedOptions: Set<WorkloadOptionName> { get }

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
    /// The run's mailboxes for handles and for contexts (`publishHandle`, `publishContext`): only
    /// the streams of `stress` use them.
    func mailboxes(threads: Int) -> Int
    /// The main thread's part: objects it makes before the workers start and releases after.
    func mainProgram(threads: Int, seed: UInt64) -> ThreadProgram
    func workerProgram(thread: Int, threads: Int, seed: UInt64) -> ThreadProgram
    /// Throws when the workload cannot run on this many threads.
    func check(threads: Int) throws
}

extension Workload {
    public func regionSize(threads: Int) -> Int { 0 }
    public func globals(threads: Int) -> Int { 0 }
    public func channels(threads: Int) -> Int { 0 }
    public func mailboxes(threads: Int) -> Int { 0 }
    public func check(threads: Int) throws {}
}

/// Options of the workloads; each workload reads the ones it uses (`usedOptions`).
public struct WorkloadOptions: Sendable, Equatable {
    /// Objects per thread (`private`), in total (`shared-hot`), reached by each thread (`mixed`),
    /// or alive per thread (`churn`); nil takes the workload's default.
    public var objects: Int?
    /// Duplicates of a handle held at once before they are closed.
    public var dupDepth = 1
    /// The share of operations that read the payload.
    public var readFraction = 0.0
    /// The share of objects that are immortal.
    public var immortalFraction = 0.0
    /// `mixed`: the share of objects every thread reaches.
    public var sharedFraction = 0.1
    /// `mixed`: popularity skew, Zipf's s (0 = uniform).
    public var zipf = 0.0
    /// `call`: borrowed argument handles, temporaries made, temporaries stored in fields, nesting.
    public var args = 2
    public var temps = 2
    public var stores = 1
    public var callDepth = 1
    /// `handoff`: producer and consumer threads in each group.
    public var producers = 1
    public var consumers = 1
    /// `churn`: the share of objects dropped by another thread.
    public var remoteFree = 0.5
    /// What the workload's shared objects are: `data` (lists, dicts, instances) or `type` (types,
    /// functions, modules, code), which CPython 3.13t and 3.14t count differently.
    public var sharedKind: SharedKind = .data

    public init() {}

    /// The value of an option as the CSV writes it.
    public func value(of option: WorkloadOptionName) -> String {
        switch option {
        case .objects: objects.map(String.init) ?? ""
        case .dupDepth: String(dupDepth)
        case .readFraction: String(readFraction)
        case .immortalFraction: String(immortalFraction)
        case .sharedFraction: String(sharedFraction)
        case .zipf: String(zipf)
        case .args: String(args)
        case .temps: String(temps)
        case .stores: String(stores)
        case .callDepth: String(callDepth)
        case .producers: String(producers)
        case .consumers: String(consumers)
        case .remoteFree: String(remoteFree)
        case .sharedKind: sharedKind.rawValue
        }
    }

    /// Sets an option from its spelling (the command line); throws when it is not one.
    public mutating func set(_ option: WorkloadOptionName, text: String) throws {
        guard option == .sharedKind else {
            guard let number = Double(text) else { throw ConfigurationError(option: option, "must be a number, got '\(text)'") }
            return try set(option, to: number)
        }
        guard let kind = SharedKind(rawValue: text) else {
            throw ConfigurationError(option: option, "must be one of \(SharedKind.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
        }
        sharedKind = kind
    }

    /// Sets an option from a number (experiment files); throws when the number does not fit.
    public mutating func set(_ option: WorkloadOptionName, to number: Double) throws {
        func integer() throws -> Int {
            guard number == number.rounded(), abs(number) < 1e15 else { throw ConfigurationError(option: option, "must be an integer, got \(number)") }
            return Int(number)
        }
        switch option {
        case .objects: objects = try integer()
        case .dupDepth: dupDepth = try integer()
        case .readFraction: readFraction = number
        case .immortalFraction: immortalFraction = number
        case .sharedFraction: sharedFraction = number
        case .zipf: zipf = number
        case .args: args = try integer()
        case .temps: temps = try integer()
        case .stores: stores = try integer()
        case .callDepth: callDepth = try integer()
        case .producers: producers = try integer()
        case .consumers: consumers = try integer()
        case .remoteFree: remoteFree = number
        case .sharedKind: throw ConfigurationError(option: option, "must be one of \(SharedKind.allCases.map(\.rawValue).joined(separator: ", ")), got \(number)")
        }
    }
}

/// What a workload's shared objects are (DESIGN.md, "Object kinds").
public enum SharedKind: String, CaseIterable, Sendable {
    /// Lists, dicts, instances: counted as every object is.
    case data
    /// Types, functions, modules, code objects: immortal once a second thread runs in CPython
    /// 3.13t (`biased`); given a unique id and a deferred count in 3.14t (`perthread`).
    case type

    /// The flags a shared object of this kind is made with.
    public var flags: ObjectFlags { self == .type ? [.shared, .typeKind] : .shared }
}

/// The workload options by the name the CSV file and experiment files use; the command line
/// spells them with dashes.
public enum WorkloadOptionName: String, CaseIterable, Sendable {
    case objects
    case dupDepth = "dup_depth"
    case readFraction = "read_fraction"
    case immortalFraction = "immortal_fraction"
    case sharedFraction = "shared_fraction"
    case zipf
    case args, temps, stores
    case callDepth = "call_depth"
    case producers, consumers
    case remoteFree = "remote_free"
    case sharedKind = "shared_kind"

    public var flag: String { "--" + rawValue.replacingAll("_", with: "-") }
}

/// A problem with an option's value, named by the option when there is one, so the command line
/// and experiment files can each say where it is.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var option: String?
    public var problem: String
    public var description: String { option.map { "--\($0.replacingAll("_", with: "-")) \(problem)" } ?? problem }

    public init(_ description: String) {
        option = nil
        problem = description
    }

    public init(option: WorkloadOptionName, _ problem: String) {
        self.option = option.rawValue
        self.problem = problem
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}

extension WorkloadOptions {
    /// Checks every option's range (whether or not the workload uses it).
    func validated() throws -> WorkloadOptions {
        if let objects, objects < 1 { throw ConfigurationError(option: .objects, "must be at least 1, got \(objects)") }
        let atLeast: [(WorkloadOptionName, Int, Int)] = [
            (.dupDepth, dupDepth, 0), (.args, args, 0), (.temps, temps, 1), (.stores, stores, 0),
            (.callDepth, callDepth, 1), (.producers, producers, 1), (.consumers, consumers, 1),
        ]
        for (option, value, minimum) in atLeast where value < minimum {
            throw ConfigurationError(option: option, "must be at least \(minimum), got \(value)")
        }
        let fractions: [(WorkloadOptionName, Double)] = [
            (.readFraction, readFraction), (.immortalFraction, immortalFraction),
            (.sharedFraction, sharedFraction), (.remoteFree, remoteFree),
        ]
        for (option, value) in fractions where !(0...1).contains(value) {
            throw ConfigurationError(option: option, "must be in [0, 1], got \(value)")
        }
        guard zipf >= 0, zipf.isFinite else { throw ConfigurationError(option: .zipf, "must be >= 0, got \(zipf)") }
        if stores > temps { throw ConfigurationError(option: .stores, "must be at most --temps (\(temps)), got \(stores)") }
        return self
    }
}
