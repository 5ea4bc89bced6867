/// `mixed`: each thread reaches `--objects` objects: a `--shared-fraction` of them made by the
/// main thread and kept in globals (every thread reaches those), the rest made by the thread and
/// kept in its own fields. A round draws an object by popularity (Zipf's s, `--zipf`; the same
/// popularity order for every thread, drawn from the seed), loads a handle from where the object
/// is kept, duplicates it `--dup-depth` times, reads, and closes everything. The most popular
/// `--immortal-fraction` of the objects are immortal. `--shared-kind` is the kind of the
/// objects in globals (a module's functions and classes are `class`).
public struct MixedWorkload: Workload {
    public static let name = "mixed"
    public static let summary = "objects by popularity (Zipf), some shared through globals, some private in fields"
    public static let sharesObjects = true
    public static let objects = DeclaredOption<Int>(
        "objects", default: 1000, help: "mixed: objects each thread reaches", check: OptionCheck.atLeast(1))
    public static let sharedFraction = DeclaredOption<Double>(
        "shared_fraction", default: 0.1, help: "mixed: share of objects every thread reaches", check: OptionCheck.fraction)
    public static let zipf = DeclaredOption<Double>(
        "zipf", default: 0, help: "mixed: popularity skew, Zipf's s >= 0 (0: uniform)", check: OptionCheck.atLeast(0.0))
    public static let declaredOptions = [
        objects.declaration, sharedFraction.declaration, zipf.declaration, CommonOptions.immortalFraction.declaration,
        CommonOptions.dupDepth.declaration, CommonOptions.readFraction.declaration, CommonOptions.sharedKind.declaration,
    ]

    /// The options as this workload reads them.
    struct Parameters {
        var objects: Int
        var sharedFraction: Double
        var zipf: Double
        var immortalFraction: Double
        var dupDepth: Int
        var readFraction: Double
        var sharedKind: SharedKind
    }

    public let objects: Int
    let sharedObjects: Int
    let options: Parameters

    /// Handle operations per pass: long enough to draw the popular objects many times.
    static let passLength = 1 << 15

    public init(options values: OptionValues) throws {
        try DupRounds.checkSomethingToDo(values)
        options = Parameters(
            objects: values[Self.objects], sharedFraction: values[Self.sharedFraction], zipf: values[Self.zipf],
            immortalFraction: values[CommonOptions.immortalFraction], dupDepth: values[CommonOptions.dupDepth],
            readFraction: values[CommonOptions.readFraction], sharedKind: values[CommonOptions.sharedKind])
        objects = options.objects
        sharedObjects = Int((Double(objects) * options.sharedFraction).rounded())
    }

    var privateObjects: Int { objects - sharedObjects }

    public func poolSize(threads: Int) -> Int { sharedObjects + threads * privateObjects }
    public func globals(threads: Int) -> Int { sharedObjects }

    /// Popularity rank → object name: names below `sharedObjects` are globals, the others fields.
    /// Immortality goes by rank, so the immortal objects are the most used ones.
    func popularityOrder(seed: UInt64) -> [Int] {
        var generator = SplitMix64(seed: seed ^ 0x5EED_0F_C0FFEE)
        return (0..<objects).shuffled(using: &generator)
    }

    func immortalNames(seed: UInt64) -> Set<Int> {
        let immortalRanks = Int((Double(objects) * options.immortalFraction).rounded())
        return Set(popularityOrder(seed: seed).prefix(immortalRanks))
    }

    func slot(ofName name: Int) -> Slot {
        name < sharedObjects ? .global(name) : .field(name - sharedObjects)
    }

    public func mainProgram(threads: Int, seed: UInt64) -> ThreadProgram {
        let immortal = immortalNames(seed: seed)
        var setup: [Operation] = []
        for name in 0..<sharedObjects {
            setup += [
                .new(object: name, into: 0, flags: immortal.contains(name) ? options.sharedKind.flags.union(.immortal) : options.sharedKind.flags),
                .store(0, into: .global(name)), .close(0),
            ]
        }
        return ThreadProgram(registers: 1, setup: setup, teardown: (0..<sharedObjects).map { .clear(.global($0)) })
    }

    public func workerProgram(thread: Int, threads: Int, seed: UInt64) -> ThreadProgram {
        let immortal = immortalNames(seed: seed)
        let first = sharedObjects + thread * privateObjects
        var setup: [Operation] = []
        for index in 0..<privateObjects {
            let name = sharedObjects + index
            setup += [
                .new(object: first + index, into: 0, flags: immortal.contains(name) ? .immortal : []),
                .store(0, into: .field(index)), .close(0),
            ]
        }
        let order = popularityOrder(seed: seed)
        let sampler = ZipfSampler(count: objects, exponent: options.zipf)
        var generator = SplitMix64.forThread(thread, seed: seed)
        var pass: [Operation] = []
        var handleOperations = 0
        let depth = options.dupDepth
        let readsPerRound = options.readFraction >= 1 ? 1 : options.readFraction * Double(2 + 2 * depth) / (1 - options.readFraction)
        var readCarry = 0.0
        while handleOperations < MixedWorkload.passLength {
            var round: [Operation] = [.load(slot(ofName: order[sampler.next(using: &generator)]), into: 0)]
            round += (0..<depth).map { .dup(0, into: 1 + $0) }
            readCarry += readsPerRound
            while readCarry >= 1 {
                round.append(.read(depth))
                readCarry -= 1
            }
            round += (0...depth).reversed().map { .close($0) }
            handleOperations += round.reduce(0) { $0 + $1.handleOperations }
            pass += round
        }
        return ThreadProgram(
            registers: 1 + depth, fields: privateObjects, setup: setup, pass: [.enter] + pass + [.exit],
            teardown: (0..<privateObjects).map { .clear(.field($0)) })
    }
}
