/// `shared-hot`: a few objects made by the main thread (think of a type object or a module's
/// dict); in every pass (one extension call) each worker opens a handle to each, dups and closes
/// handles to them, and closes the opened handles at the call's exit. Maximal contention. The
/// main thread keeps the objects alive meanwhile and releases them after the workers are done.
/// `--shared-kind class` makes them deferred objects (a class, a module), which 3.13t makes
/// immortal and 3.14t gives a unique id, while every handle operation on them stays biased;
/// `ext-type` makes them extension types, mortal and biased in 3.13t, with a unique id in 3.14t.
public struct SharedHotWorkload: Workload {
    public static let name = "shared-hot"
    public static let sharesObjects = true
    public static let objects = DeclaredOption<Int>(
        "objects", default: 4, help: "shared-hot: objects in total, made by the main thread", check: OptionCheck.atLeast(1))
    public static let declaredOptions = [
        objects.declaration, CommonOptions.dupDepth.declaration, CommonOptions.readFraction.declaration,
        CommonOptions.immortalFraction.declaration, CommonOptions.sharedKind.declaration,
    ]
    public static let summary = "every thread dups and closes handles to the same few objects: maximal contention"

    public let objects: Int
    var rounds: DupRounds
    let immortalObjects: Int
    let sharedKind: SharedKind

    public init(options: OptionValues) throws {
        objects = options[Self.objects]
        rounds = try DupRounds(heldCount: objects, options: options)
        rounds.openedObjects = Array(0..<objects)
        immortalObjects = DupRounds.immortalCount(of: objects, fraction: options[CommonOptions.immortalFraction])
        sharedKind = options[CommonOptions.sharedKind]
    }

    public func poolSize(threads: Int) -> Int { objects }

    public func mainProgram(threads: Int, seed: UInt64) -> ThreadProgram {
        ThreadProgram(
            registers: objects,
            setup: (0..<objects).map {
                .new(object: $0, into: $0, flags: $0 < immortalObjects ? sharedKind.flags.union(.immortal) : sharedKind.flags)
            },
            teardown: (0..<objects).map { .close($0) }
        )
    }

    public func workerProgram(thread: Int, threads: Int, seed: UInt64) -> ThreadProgram {
        var generator = SplitMix64.forThread(thread, seed: seed)
        return ThreadProgram(
            registers: rounds.registers,
            pass: rounds.pass(using: &generator)
        )
    }
}
