/// `numeric`: extension-style arithmetic, the seed talk's `HPy_Add` example. Each round is one
/// extension call: it makes two numbers from C values (`HPyLong_FromLong`,
/// `HPyFloat_FromDouble`), converts both back (`HPyLong_AsLong`: a read each), adds them
/// (`HPy_Add`: a third number), duplicates the sum `--dup-depth` times, compares it with the
/// first (`HPy_RichCompare`: two reads; the result is `True` or `False`, immortal, and not
/// modelled), and closes everything. `--read-fraction` adds reads of the sum.
///
/// Each operand is an int drawn from `[-value-range, value-range]` (share `--int-fraction`), a
/// float `k / 4` with `k` drawn from that range (share `--float-fraction`), or another object
/// that no tag holds (a big int, a string; the rest). The sum is an int when both operands are,
/// another object when either is, else a float. The stream does the arithmetic when it is
/// generated; the timed loop does what the handles cost.
///
/// How a number becomes a handle belongs to the scheme (`Number`): an immediate where it tags
/// one; otherwise a cached small int (-5...256, pool objects `0..<Number.cachedIntCount`, made
/// immortal by the main thread, as CPython caches them) or a new object from the thread's
/// region, counted and freed like any other.
public struct NumericWorkload: Workload {
    public static let name = "numeric"
    public static let summary = "numbers made from C values, added, compared and converted back (tagged immediates or objects)"
    public static let sharesObjects = false
    public static let intFraction = DeclaredOption<Double>(
        "int_fraction", default: 0.9, help: "numeric: share of numbers that are ints small enough for a tag",
        check: OptionCheck.fraction)
    public static let floatFraction = DeclaredOption<Double>(
        "float_fraction", default: 0.05, help: "numeric: share of numbers that are floats (the rest are other objects)",
        check: OptionCheck.fraction)
    /// The widest range a number's 32-bit operand field holds, with room for the sum.
    public static let valueRangeLimit = 1 << 30
    public static let valueRange = DeclaredOption<Int>(
        "value_range", default: 1000, help: "numeric: ints are drawn from [-N, N] (floats are k/4 for such k)",
        check: { (0...NumericWorkload.valueRangeLimit).contains($0) ? nil : "must be in [0, \(NumericWorkload.valueRangeLimit)], got \($0)" })
    public static let declaredOptions = [
        intFraction.declaration, floatFraction.declaration, valueRange.declaration, CommonOptions.dupDepth.declaration,
        CommonOptions.readFraction.declaration,
    ]

    /// The options as this workload reads them.
    struct Parameters {
        var intFraction: Double
        var floatFraction: Double
        var valueRange: Int
        var dupDepth: Int
        var readFraction: Double
    }

    let options: Parameters

    /// About this many handle operations per pass.
    static let passLength = 4096

    public init(options values: OptionValues) throws {
        options = Parameters(
            intFraction: values[Self.intFraction], floatFraction: values[Self.floatFraction], valueRange: values[Self.valueRange],
            dupDepth: values[CommonOptions.dupDepth], readFraction: values[CommonOptions.readFraction])
        if options.intFraction + options.floatFraction > 1 {
            throw ConfigurationError(
                option: Self.floatFraction.name,
                "\(options.floatFraction) with --int-fraction \(options.intFraction) sums above 1")
        }
    }

    public func poolSize(threads: Int) -> Int { Number.cachedIntCount }
    /// Boxed numbers alive at once: what a lazy `handle-local` table keeps until its flush
    /// (`keptBetweenFlushes`), and room to spare. A round makes three numbers in at least 10
    /// handle operations, so a pass boxes at most `3 × passLength / 10` of them, one round more
    /// for the round crossing its end: 17 × 1,230 + 512 objects, about 1.4 MB a thread.
    public func regionSize(threads: Int) -> Int {
        let boxedPerPass = 3 * (NumericWorkload.passLength / 10 + 1)
        return HandleLocalScheme.keptBetweenFlushes(birthsPerPass: boxedPerPass) + 512
    }

    public func mainProgram(threads: Int, seed: UInt64) -> ThreadProgram {
        let cached = (0..<Number.cachedIntCount).flatMap { index -> [Operation] in
            [.new(object: index, into: 0, flags: .immortal), .close(0)]
        }
        return ThreadProgram(registers: 1, setup: cached)
    }

    /// One operand, drawn by kind.
    func operand(using generator: inout SplitMix64) -> Number {
        let draw = Double(generator.next() >> 11) / Double(1 << 53)
        let span = UInt64(2 * options.valueRange + 1)
        let k = Int32(Int(generator.next() % span) - options.valueRange)
        if draw < options.intFraction { return .int(k) }
        if draw < options.intFraction + options.floatFraction { return .float(Float(k) / 4) }
        return .other
    }

    static func sum(_ a: Number, _ b: Number) -> Number {
        switch (a.kind, b.kind) {
        case (.other, _), (_, .other): .other
        case (.int, .int): .int(Int32(a.intValue + b.intValue))
        default: .float(Float(a.doubleValue + b.doubleValue))
        }
    }

    public func workerProgram(thread: Int, threads: Int, seed: UInt64) -> ThreadProgram {
        var generator = SplitMix64.forThread(thread, seed: seed)
        let depth = options.dupDepth
        let sumRegister = 2
        let extraReadsPerRound = options.readFraction >= 1
            ? 1 : options.readFraction * Double(10 + 2 * depth) / (1 - options.readFraction)
        var readCarry = 0.0
        var pass: [Operation] = []
        var handleOperations = 0
        while handleOperations < NumericWorkload.passLength {
            let a = operand(using: &generator)
            let b = operand(using: &generator)
            var round: [Operation] = [
                .enter, .number(a, into: 0), .number(b, into: 1), .read(0), .read(1),
                .number(NumericWorkload.sum(a, b), into: sumRegister),
            ]
            round += (0..<depth).map { .dup(sumRegister, into: 3 + $0) }
            round += [.read(sumRegister), .read(0)]
            readCarry += extraReadsPerRound
            while readCarry >= 1 {
                round.append(.read(sumRegister))
                readCarry -= 1
            }
            round += (0..<depth).reversed().map { .close(3 + $0) }
            round += [.close(sumRegister), .close(1), .close(0), .exit]
            handleOperations += round.reduce(0) { $0 + $1.handleOperations }
            pass += round
        }
        return ThreadProgram(registers: 3 + depth, pass: pass)
    }
}
