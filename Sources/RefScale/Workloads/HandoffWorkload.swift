/// `handoff`: objects born in one thread, used and dropped in another. Threads form groups of
/// `--producers` + `--consumers`; in each group a bounded queue joins every producer to every
/// consumer. A producer creates an object, uses it (`--dup-depth` duplicates, reads) and sends
/// it; a consumer receives it, uses it and closes it. Each pass moves `itemsPerPair` objects
/// through every queue of the group, in both the producer's and the consumer's stream.
/// This is what exercises the biased merge queue, the table flush and conversion to a
/// non-local reference. `--shared-kind class|ext-type`: the objects are instances of a heap
/// type the main thread makes (pool object 0), whose reference the runtime takes at each
/// allocation and drops at each deallocation; with `data`, of a static type, which no release
/// counts.
public struct HandoffWorkload: Workload {
    public static let name = "handoff"
    public static let summary = "producers create objects, consumers receive, use and drop them"
    public static let sharesObjects = true
    public static let producers = DeclaredOption<Int>(
        "producers", default: 1, help: "handoff: producer threads per group", check: OptionCheck.atLeast(1))
    public static let consumers = DeclaredOption<Int>(
        "consumers", default: 1, help: "handoff: consumer threads per group", check: OptionCheck.atLeast(1))
    public static let declaredOptions = [
        producers.declaration, consumers.declaration, CommonOptions.dupDepth.declaration, CommonOptions.readFraction.declaration,
        CommonOptions.sharedKind.declaration,
    ]

    /// The options as this workload reads them.
    struct Parameters {
        var producers: Int
        var consumers: Int
        var dupDepth: Int
        var readFraction: Double
        var sharedKind: SharedKind
    }

    let options: Parameters

    static let itemsPerPair = 32
    static let channelCapacity = 256

    public init(options values: OptionValues) throws {
        options = Parameters(
            producers: values[Self.producers], consumers: values[Self.consumers], dupDepth: values[CommonOptions.dupDepth],
            readFraction: values[CommonOptions.readFraction], sharedKind: values[CommonOptions.sharedKind])
    }

    var groupSize: Int { options.producers + options.consumers }

    public func check(threads: Int) throws {
        guard threads % groupSize == 0 else {
            throw ConfigurationError("handoff needs a multiple of producers + consumers (\(groupSize)) threads, got \(threads)")
        }
    }

    public func poolSize(threads: Int) -> Int { hasType ? 1 : 0 }

    /// The instances' heap type, pool object 0, when the shared kind is `class` or `ext-type`.
    var hasType: Bool { options.sharedKind.isHeapType }
    /// In flight per producer: a full queue per consumer, what consumers dropped and the producer
    /// has not yet taken back (biased merges at its next safe point), and a pass.
    public func regionSize(threads: Int) -> Int { (3 * HandoffWorkload.channelCapacity + HandoffWorkload.itemsPerPair) * options.consumers + 64 }
    public func channels(threads: Int) -> Int { threads / groupSize * options.producers * options.consumers }
    public func mainProgram(threads: Int, seed: UInt64) -> ThreadProgram {
        guard hasType else { return ThreadProgram() }
        return ThreadProgram(registers: 1, setup: [.new(object: 0, into: 0, flags: options.sharedKind.flags)], teardown: [.close(0)])
    }

    func channel(group: Int, producer: Int, consumer: Int) -> Int {
        (group * options.producers + producer) * options.consumers + consumer
    }

    /// Duplicates and reads of register 0, in a fixed order.
    func use(reads: inout Double) -> [Operation] {
        var operations = Array(repeating: Operation.dupClose(0), count: options.dupDepth)
        reads += options.readFraction >= 1 ? 1 : options.readFraction * Double(2 * options.dupDepth + 2) / (1 - options.readFraction)
        while reads >= 1 {
            operations.append(.read(0))
            reads -= 1
        }
        return operations
    }

    public func workerProgram(thread: Int, threads: Int, seed: UInt64) -> ThreadProgram {
        let group = thread / groupSize
        let role = thread % groupSize
        var reads = 0.0
        var pass: [Operation] = []
        if role < options.producers {
            let channels = (0..<options.consumers).map { channel(group: group, producer: role, consumer: $0) }
            for _ in 0..<HandoffWorkload.itemsPerPair {
                for channel in channels {
                    pass += [.create(into: 0, type: hasType ? 0 : nil)] + use(reads: &reads) + [.send(0, to: channel)]
                }
            }
            return ThreadProgram(registers: 1, pass: [.enter] + pass + [.exit], teardown: channels.map { .finishSending(to: $0) })
        }
        let channels = (0..<options.producers).map { channel(group: group, producer: $0, consumer: role - options.producers) }
        for _ in 0..<HandoffWorkload.itemsPerPair {
            for channel in channels {
                pass += [.receive(from: channel, into: 0)] + use(reads: &reads) + [.close(0)]
            }
        }
        return ThreadProgram(registers: 1, pass: [.enter] + pass + [.exit], teardown: channels.map { .drain($0) })
    }
}
