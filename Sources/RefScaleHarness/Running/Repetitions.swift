/// How many repetitions of each configuration to run: a fixed number, or `auto`: until the
/// median's 95% interval (`Statistics.medianInterval`) has a half-width within `target` of the
/// median, or `cap` repetitions have run.
public enum RepetitionPlan: Equatable, Sendable {
    case fixed(Int)
    case auto(target: Double, cap: Int)

    public static let defaultCount = 3
    /// `--ci-target`'s default: 2% of the median.
    public static let defaultTarget = 0.02
    /// `--reps auto` stops here if the target is not reached.
    public static let autoCap = 30

    /// The plan from `--reps` (every value given, in order) and `--ci-target`. Throws a usage error
    /// for a count below 1, a word other than `auto`, `auto` beside a count, or a target outside (0, 1).
    public static func parse(_ reps: [String], ciTarget: Double?) throws -> (plan: RepetitionPlan, note: String?) {
        if let ciTarget, !(ciTarget > 0 && ciTarget < 1) {
            throw UsageError("--ci-target must be above 0 and below 1 (a fraction of the median), got \(ciTarget)")
        }
        let isAuto = reps.contains("auto")
        if isAuto {
            if let number = reps.first(where: { $0 != "auto" }) {
                throw UsageError("--reps auto cannot be combined with --reps \(number): give one or the other")
            }
            return (.auto(target: ciTarget ?? defaultTarget, cap: autoCap), nil)
        }
        var count = defaultCount
        if let last = reps.last {
            guard let value = Int(last), value >= 1 else {
                throw UsageError("--reps must be a positive integer or auto, got '\(last)'")
            }
            count = value
        }
        return (.fixed(count), ciTarget == nil ? nil : "--ci-target applies to --reps auto only; ignored")
    }

    /// The repetitions to request up front (auto adds more as it goes).
    public var initialCount: Int {
        switch self {
        case .fixed(let count): count
        case .auto: 1
        }
    }
}

/// Why `--reps auto` stopped repeating a configuration (the `reps_stop` column).
public enum RepetitionStop: String, Sendable {
    /// The interval's half-width reached the target.
    case target
    /// The cap was reached first.
    case cap
}

extension RepetitionPlan {
    /// Whether the repetitions so far stop an `auto` plan, and why; nil: go on (or a fixed plan).
    /// Only valid rows count; the interval must reach its 95% coverage (6 valid rows or more).
    func stop(after records: [RunRecord]) -> (stop: RepetitionStop, halfWidth: Double?)? {
        guard case .auto(let target, let cap) = self else { return nil }
        let values = records.filter(\.isValid).map(\.operationsPerSecond)
        var halfWidth: Double?
        if let median = Statistics.median(values), let interval = Statistics.medianInterval(values),
           interval.coverage >= Statistics.confidence {
            halfWidth = interval.relativeHalfWidth(around: median)
            if halfWidth! <= target { return (.target, halfWidth) }
        }
        return records.count >= cap ? (.cap, halfWidth) : nil
    }
}
