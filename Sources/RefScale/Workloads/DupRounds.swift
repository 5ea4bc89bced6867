/// The timed pass shared by `private` and `shared-hot`: rounds on handles the thread already
/// holds. A round picks one held handle, duplicates it `dupDepth` times, reads, and closes the
/// duplicates in reverse order. The order of operation kinds is the same in every round, so the
/// branch predictor learns it and what is measured is the counting, not mispredictions; the
/// object each round uses is drawn from the thread's generator. A round of depth 1 with no read
/// is one `dupClose` entry.
///
/// Every pass is one scope (one simulated extension call): it opens with `.enter` and ends with
/// `.exit`, so a scheme with call-scoped handles (`arena`) resets its handles once per pass.
/// Schemes without scopes see the two entries as no-ops. With `openedObjects`, the pass opens
/// its held handles at its entry (pool object `openedObjects[i]` into register `i`) and closes
/// them before its exit, as an extension call is handed its handles on every call; without, the
/// held handles are the thread's from its set-up.
struct DupRounds {
    /// Registers `0..<heldCount` hold the thread's long-lived handles; duplicates go above them.
    var heldCount: Int
    var dupDepth: Int
    var readFraction: Double
    /// The pool objects the pass opens into registers `0..<heldCount`; empty: none.
    var openedObjects: [Int] = []

    /// About this many operations per pass: long enough that the per-pass bookkeeping is lost
    /// in the noise, short enough to stay in the L1 and L2 caches.
    static let passLength = 4096

    var registers: Int { heldCount + dupDepth }

    init(heldCount: Int, options: OptionValues) throws {
        self.heldCount = heldCount
        dupDepth = options[CommonOptions.dupDepth]
        readFraction = options[CommonOptions.readFraction]
        try DupRounds.checkSomethingToDo(options)
    }

    /// A depth of 0 with reads below 1 makes rounds of no operation.
    static func checkSomethingToDo(_ options: OptionValues) throws {
        if options[CommonOptions.dupDepth] == 0 && options[CommonOptions.readFraction] < 1 {
            throw ConfigurationError(option: CommonOptions.dupDepth.name, "0 leaves nothing to do unless --read-fraction is 1")
        }
    }

    func pass(using generator: inout SplitMix64) -> [Operation] {
        var operations: [Operation] = [.enter]
        var handleOperations = 0
        func append(_ operation: Operation) {
            operations.append(operation)
            handleOperations += operation.handleOperations
        }
        for (register, object) in openedObjects.enumerated() { append(.open(object: object, into: register)) }
        // Reads per round, as a fraction carried from round to round: reads / all ops = readFraction.
        let readsPerRound = readFraction >= 1 ? 1 : readFraction * Double(2 * dupDepth) / (1 - readFraction)
        var readCarry = 0.0
        while handleOperations < DupRounds.passLength {
            let held = heldCount == 1 ? 0 : Int(generator.next() % UInt64(heldCount))
            readCarry += readsPerRound
            if dupDepth == 1 && readCarry < 1 {
                append(.dupClose(held))
                continue
            }
            for depth in 0..<dupDepth {
                append(.dup(held, into: heldCount + depth))
            }
            let readTarget = dupDepth > 0 ? heldCount + dupDepth - 1 : held
            while readCarry >= 1 {
                append(.read(readTarget))
                readCarry -= 1
            }
            for depth in (0..<dupDepth).reversed() {
                append(.close(heldCount + depth))
            }
        }
        for register in openedObjects.indices { append(.close(register)) }
        operations.append(.exit)
        return operations
    }

    /// The number of objects among `count` that are immortal: the first ones.
    static func immortalCount(of count: Int, fraction: Double) -> Int {
        Int((Double(count) * fraction).rounded())
    }
}
