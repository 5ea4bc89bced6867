import CHPyContext

/// `hpy`: real extension code. Loads a module built for HPy 0.9's universal ABI (`--module`,
/// with no CPython: its `HPyInit_<name>` entry and module definition), and every worker calls
/// one of its functions (`--function`, a module function or `Type.method`) on its own arguments
/// (`--hpy-args`) again and again, through refscale's own `HPyContext`
/// (`Sources/CHPyContext`): each `HPy_Dup` and `HPy_Close` the module makes is the scheme's dup
/// and close, each `HPyField`, `HPyGlobal`, container item and module attribute a non-local
/// reference of the scheme, each object it makes a pool object.
///
/// Invariants:
/// - The main thread makes the run's builtins (None, True, False, the builtin types: pool
///   objects `0..<Builtin.count`, immortal), the module object (its exec slots run: the module's
///   types are made) and keeps it in global 0; then it makes one call of its own on its own
///   arguments, before any worker starts, so a function that fails (an unimplemented context
///   function, arguments of the wrong type) stops the run with exit 64 and its message.
/// - Each worker keeps `self` (the module, or a new instance of the method's type) in field 0
///   and its arguments in fields 1...n. A call is one scope: its handles to `self` and the
///   arguments are loaded from the fields at its entry and closed at its exit, the function is
///   called with them, and the handle it returns is closed.
/// - What a call did is counted by kind in its thread's context; the handle operations it made
///   are the operations of the run. A worker's counts from the end of its set-up to the start of
///   its teardown are added to the run's (`extensionCalls`), read outside the timed loop. After the run, as for every workload, every object's count
///   is back and every object was freed exactly once.
public struct HPyWorkload: Workload {
    public static let name = "hpy"
    public static let summary = "a function of an HPy universal-ABI module called by every worker through refscale's HPyContext"
    public static let sharesObjects = true
    public static let runsExtensionCode = true
    public static let module = DeclaredOption<String>(
        "module", default: "", help: "hpy: the module file, built for HPy 0.9's universal ABI (NAME.hpy0.so)")
    public static let function = DeclaredOption<String>(
        "function", default: "", help: "hpy: the function called: a module function, or Type.method")
    public static let arguments = DeclaredOption<String>(
        "hpy_args", default: "none", help: "hpy: the arguments, comma-separated: ints, floats, str:TEXT, list:N (ints 0..N-1), true, false, new:Type (an instance of the module's type), type:Type (the type itself), tuple:N (ints 0..N-1; tuple: is empty), dict:N (keys str k0..kN-1 to ints 0..N-1; dict: is empty), and last, for a type called, kw:NAME=VALUE;... (its keywords); none for no argument")
    public static let callsPerPass = DeclaredOption<Int>(
        "calls", default: 64, help: "hpy: calls of the function in one pass", check: { (1...1_000_000).contains($0) ? nil : "must be in [1, 1000000], got \($0)" })
    public static let declaredOptions = [module.declaration, function.declaration, arguments.declaration, callsPerPass.declaration]

    /// The index of the run's module in `HPyPlans` (loaded once per module, function and
    /// arguments in a process).
    let plan: Int
    let argumentCount: Int
    let calls: Int

    public init(options values: OptionValues) throws {
        let path = values[Self.module]
        let function = values[Self.function]
        guard !path.isEmpty else { throw ConfigurationError(option: Self.module.name, "is required by --workload hpy") }
        guard !function.isEmpty else { throw ConfigurationError(option: Self.function.name, "is required by --workload hpy") }
        let text = values[Self.arguments]
        let arguments = text == "none" ? [] : text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        if let bad = arguments.first(where: { chpy_argument_valid($0) == 0 }) {
            throw ConfigurationError(
                option: Self.arguments.name, "'\(bad)' is none of: an int, a float, str:TEXT, list:N (N at most 100000), true, false, new:Type, type:Type, tuple:N, dict:N, kw:NAME=VALUE;...")
        }
        plan = try HPyPlans.plan(path: path, function: function, arguments: arguments)
        argumentCount = arguments.count
        calls = values[Self.callsPerPass]
    }

    public func poolSize(threads: Int) -> Int { Builtin.count }
    /// Objects one thread may have alive at once: what a call makes and what a lazy table keeps.
    public func regionSize(threads: Int) -> Int { 1 << 17 }
    public func globals(threads: Int) -> Int { 1 }

    public func mainProgram(threads: Int, seed: UInt64) -> ThreadProgram {
        ThreadProgram(setup: [.hpy(.mainSetup, plan: plan)], teardown: [.clear(.global(0)), .hpy(.mainTeardown, plan: plan), .hpy(.settle, plan: plan)])
    }

    public func workerProgram(thread: Int, threads: Int, seed: UInt64) -> ThreadProgram {
        let held = 0...argumentCount
        let call: [Operation] = [.enter] + held.map { .load(.field($0), into: $0) } + [.hpy(.call, plan: plan)]
            + held.reversed().map { .close($0) } + [.exit]
        return ThreadProgram(
            registers: argumentCount + 1, fields: argumentCount + 1, setup: [.hpy(.workerSetup, plan: plan)],
            pass: Array(repeating: call, count: calls).flatMap { $0 },
            teardown: held.map { .clear(.field($0)) } + [.hpy(.workerTeardown, plan: plan)])
    }

    public func setupFailure() -> String? { chpy_run_failure().map { String(cString: $0) } }

    /// The workers' calls, counted between each worker's set-up and teardown (`chpy_calls_begin`).
    public func extensionCalls() -> ExtensionCallCounts? {
        let counts = chpy_run_call_counts()
        var calls = ExtensionCallCounts()
        calls.calls = Int(counts.calls)
        calls.dups = Int(counts.dup)
        calls.closes = Int(counts.close)
        calls.opens = Int(counts.open)
        calls.objectsMade = Int(counts.new_object)
        calls.fieldStores = Int(counts.field_store)
        calls.fieldLoads = Int(counts.field_load)
        calls.globalStores = Int(counts.global_store)
        calls.globalLoads = Int(counts.global_load)
        calls.referencesKept = Int(counts.retain)
        calls.referencesEnded = Int(counts.release)
        calls.execSlotLeaks = Int(chpy_run_exec_slot_leaks())
        return calls
    }

    public func validate(afterWorkers run: WorkersFinished) -> String? {
        chpy_run_failure().map { "a call failed: " + String(cString: $0) }
    }
}

/// The objects every module reaches, made by the main thread as pool objects `0..<count`.
enum Builtin: Int, CaseIterable {
    case none, trueObject, falseObject, exception
    case typeType, objectType, noneType, boolType, intType, floatType, strType, tupleType, listType, moduleType, dictType

    static let count = allCases.count

    /// The type of each builtin object (the pool index of its type object).
    var type: Builtin {
        switch self {
        case .none: .noneType
        case .trueObject, .falseObject: .boolType
        default: .typeType
        }
    }
}
