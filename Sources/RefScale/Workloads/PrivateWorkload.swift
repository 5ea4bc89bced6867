/// `private`: each thread works on its own objects only, which it makes itself before the
/// timed interval and releases after it. The uncontended cost of each scheme.
public struct PrivateWorkload: Workload {
    public static let name = "private"
    public static let sharesObjects = false
    public static let objects = DeclaredOption<Int>("objects", default: 1, help: "private: objects per thread", check: OptionCheck.atLeast(1))
    public static let declaredOptions = [
        objects.declaration, CommonOptions.dupDepth.declaration, CommonOptions.readFraction.declaration,
        CommonOptions.immortalFraction.declaration,
    ]
    public static let summary = "each thread dups and closes handles to its own objects: the uncontended cost"

    public let objects: Int
    let rounds: DupRounds
    let immortalPerThread: Int

    public init(options: OptionValues) throws {
        objects = options[Self.objects]
        rounds = try DupRounds(heldCount: objects, options: options)
        immortalPerThread = DupRounds.immortalCount(of: objects, fraction: options[CommonOptions.immortalFraction])
    }

    public func poolSize(threads: Int) -> Int { threads * objects }

    public func mainProgram(threads: Int, seed: UInt64) -> ThreadProgram { ThreadProgram() }

    public func workerProgram(thread: Int, threads: Int, seed: UInt64) -> ThreadProgram {
        var generator = SplitMix64.forThread(thread, seed: seed)
        let first = thread * objects
        return ThreadProgram(
            registers: rounds.registers,
            setup: (0..<objects).map { .new(object: first + $0, into: $0, flags: $0 < immortalPerThread ? .immortal : []) },
            pass: rounds.pass(using: &generator),
            teardown: (0..<objects).map { .close($0) }
        )
    }
}
