/// `call`: extension calls as HPy code makes them. The caller (the interpreter) keeps the
/// `--args` argument objects alive in fields of its own for the whole run. Each outermost call
/// enters a scope and opens a handle to each argument (HPy's trampoline, PyPy's `using`), which
/// the callee reads but never closes (a nested call reads the same handles, borrowed); it creates
/// `--temps` new objects, duplicates each `--dup-depth` times, stores the first `--stores` of
/// them into the thread's fields (replacing what the previous call stored there), makes the
/// nested call when `--call-depth` asks for one (closing the handle it returns), closes its
/// other temporaries, closes the argument handles, returns the last temporary and exits; the
/// caller closes the returned handle. So every call pays for its arguments' handles inside the
/// timed loop, as extension code does.
/// Every scheme sees the same scope events; schemes without scopes ignore them.
/// The `--immortal-fraction` applies to the arguments, the longest-lived objects.
public struct CallWorkload: Workload {
    public static let name = "call"
    public static let summary = "HPy-style calls: borrowed args, temporaries, stores into fields, a returned handle"
    public static let sharesObjects = false
    public static let args = DeclaredOption<Int>("args", default: 2, help: "call: borrowed argument handles", check: OptionCheck.atLeast(0))
    public static let temps = DeclaredOption<Int>("temps", default: 2, help: "call: temporaries made per call", check: OptionCheck.atLeast(1))
    public static let stores = DeclaredOption<Int>(
        "stores", default: 1, help: "call: temporaries stored into fields per call, at most --temps", check: OptionCheck.atLeast(0))
    public static let callDepth = DeclaredOption<Int>("call_depth", default: 1, help: "call: nested calls", check: OptionCheck.atLeast(1))
    public static let declaredOptions = [
        args.declaration, temps.declaration, stores.declaration, callDepth.declaration, CommonOptions.dupDepth.declaration,
        CommonOptions.immortalFraction.declaration,
    ]

    /// The options as this workload reads them.
    struct Parameters {
        var args: Int
        var temps: Int
        var stores: Int
        var callDepth: Int
        var dupDepth: Int
        var immortalFraction: Double
    }

    let options: Parameters

    static let passLength = 4096

    public init(options values: OptionValues) throws {
        options = Parameters(
            args: values[Self.args], temps: values[Self.temps], stores: values[Self.stores], callDepth: values[Self.callDepth],
            dupDepth: values[CommonOptions.dupDepth], immortalFraction: values[CommonOptions.immortalFraction])
        if options.stores > options.temps {
            throw ConfigurationError(option: Self.stores.name, "must be at most --temps (\(options.temps)), got \(options.stores)")
        }
    }

    public func poolSize(threads: Int) -> Int { threads * options.args }

    /// Room for every object a thread's region holds at once: the temporaries a lazy
    /// `handle-local` table keeps until its flush (`keptBetweenFlushes`; every other scheme frees
    /// a temporary by its call's end), besides the call's own and the ones its fields keep. At the
    /// defaults 17 passes of 546 temporaries: about 9,300 objects, 600 KB a thread at the 64-byte
    /// stride.
    public func regionSize(threads: Int) -> Int {
        let temporariesPerPass = callsPerPass * options.callDepth * options.temps
        return HandleLocalScheme.keptBetweenFlushes(birthsPerPass: temporariesPerPass) + options.callDepth * (options.temps + options.stores) + 4
    }

    /// The outermost calls of one pass: as many whole calls (each with the close of the handle it
    /// returns) as fit in `passLength` handle operations.
    var callsPerPass: Int {
        let oneCall = call(level: 0, firstArgument: 0) + [.close(temporary(level: 0, options.temps - 1))]
        return max(1, CallWorkload.passLength / oneCall.reduce(0) { $0 + $1.handleOperations })
    }

    public func mainProgram(threads: Int, seed: UInt64) -> ThreadProgram { ThreadProgram() }

    func temporary(level: Int, _ index: Int) -> Int { options.args + level * options.temps + index }

    /// The field where the caller keeps argument `index`: after the fields the calls store into.
    func argumentField(_ index: Int) -> Slot { .field(options.callDepth * options.stores + index) }

    /// One call at `level`; the outermost opens the arguments (pool objects from `firstArgument`).
    func call(level: Int, firstArgument: Int) -> [Operation] {
        let temps = options.temps
        var operations: [Operation] = [.enter]
        if level == 0 { operations += (0..<options.args).map { .open(object: firstArgument + $0, into: $0) } }
        operations += (0..<options.args).map { .read($0) }
        operations += (0..<temps).map { .create(into: temporary(level: level, $0)) }
        for index in 0..<temps {
            operations += Array(repeating: .dupClose(temporary(level: level, index)), count: options.dupDepth)
        }
        operations += (0..<options.stores).map { .store(temporary(level: level, $0), into: .field(level * options.stores + $0)) }
        if level + 1 < options.callDepth {
            operations += call(level: level + 1, firstArgument: firstArgument)
            operations.append(.close(temporary(level: level + 1, temps - 1)))
        }
        operations += (0..<(temps - 1)).map { .close(temporary(level: level, $0)) }
        if level == 0 { operations += (0..<options.args).map { .close($0) } }
        operations += [.ret(temporary(level: level, temps - 1)), .exit]
        return operations
    }

    public func workerProgram(thread: Int, threads: Int, seed: UInt64) -> ThreadProgram {
        let immortalArgs = Int((Double(options.args) * options.immortalFraction).rounded())
        let firstArgument = thread * options.args
        let oneCall = call(level: 0, firstArgument: firstArgument) + [.close(temporary(level: 0, options.temps - 1))]
        let calls = callsPerPass
        let fields = options.callDepth * options.stores + options.args
        return ThreadProgram(
            registers: options.args + options.callDepth * options.temps,
            fields: fields,
            setup: (0..<options.args).flatMap { index -> [Operation] in
                [.new(object: firstArgument + index, into: 0, flags: index < immortalArgs ? .immortal : []),
                 .store(0, into: argumentField(index)), .close(0)]
            },
            pass: Array((0..<calls).map { _ in oneCall }.joined()),
            teardown: (0..<fields).map { .clear(.field($0)) }
        )
    }
}
