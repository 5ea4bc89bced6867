/// `shared-hot`: a few objects made by the main thread (think of a type object or a module's
/// dict); in every pass (one extension call) each worker opens a handle to each, dups and closes
/// handles to them, and closes the opened handles at the call's exit. Maximal contention. The
/// main thread keeps the objects alive meanwhile and releases them after the workers are done.
public struct SharedHotWorkload: Workload {
    public static let name = "shared-hot"
    public static let sharesObjects = true
    public static let usedOptions: Set<WorkloadOptionName> = [.objects, .dupDepth, .readFraction, .immortalFraction]
    public static let summary = "every thread dups and closes handles to the same few objects: maximal contention"

    public let objects: Int
    var rounds: DupRounds
    let immortalObjects: Int

    public init(options: WorkloadOptions) throws {
        let options = try options.validated()
        objects = options.objects ?? 4
        rounds = try DupRounds(heldCount: objects, dupDepth: options.dupDepth, readFraction: options.readFraction)
        rounds.openedObjects = Array(0..<objects)
        immortalObjects = DupRounds.immortalCount(of: objects, fraction: options.immortalFraction)
    }

    public func poolSize(threads: Int) -> Int { objects }

    public func mainProgram(threads: Int, seed: UInt64) -> ThreadProgram {
        ThreadProgram(
            registers: objects,
            setup: (0..<objects).map { .new(object: $0, into: $0, flags: $0 < immortalObjects ? [.shared, .immortal] : .shared) },
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
