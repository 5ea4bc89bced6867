/// Options are declared by their owner: a scheme or a workload names each option it reads in its
/// own file, as a typed `DeclaredOption`, and lists them in its `options`. The command line, experiment
/// files, `refscale list` and the CSV writer read those declarations; nothing else lists options.
///
/// A value keeps its type from parsing to the CSV: an integer stays an `Int`, a number a `Double`,
/// a word one of the declared words.

/// A value an option takes.
public enum OptionValue: Hashable, Sendable, CustomStringConvertible {
    case integer(Int)
    case number(Double)
    case word(String)

    /// The value as the CSV file and the command line spell it.
    public var description: String {
        switch self {
        case .integer(let value): String(value)
        case .number(let value): String(value)
        case .word(let value): value
        }
    }
}

/// What values an option takes: the command line and experiment files parse by it.
public enum OptionForm: Sendable, Equatable {
    case integer
    case number
    case word([String])
    /// Any non-empty text: a path, a list the owner parses itself.
    case text

    var text: String {
        switch self {
        case .integer: "an integer"
        case .number: "a finite number"
        case .word(let words): "one of \(words.joined(separator: ", "))"
        case .text: "a non-empty text"
        }
    }
}

/// A Swift type an option's value may have.
public protocol OptionValueConvertible: Sendable, Equatable {
    init?(optionValue: OptionValue)
    var optionValue: OptionValue { get }
    static var form: OptionForm { get }
}

extension Int: OptionValueConvertible {
    public init?(optionValue: OptionValue) {
        guard case .integer(let value) = optionValue else { return nil }
        self = value
    }
    public var optionValue: OptionValue { .integer(self) }
    public static var form: OptionForm { .integer }
}

extension Double: OptionValueConvertible {
    public init?(optionValue: OptionValue) {
        switch optionValue {
        case .number(let value): self = value
        case .integer(let value): self = Double(value)
        case .word: return nil
        }
    }
    public var optionValue: OptionValue { .number(self) }
    public static var form: OptionForm { .number }
}

extension String: OptionValueConvertible {
    public init?(optionValue: OptionValue) {
        guard case .word(let text) = optionValue, !text.isEmpty else { return nil }
        self = text
    }
    public var optionValue: OptionValue { .word(self) }
    public static var form: OptionForm { .text }
}

/// Enumerations spelled by their raw values (`low3`, `lazy`).
extension OptionValueConvertible where Self: RawRepresentable & CaseIterable, RawValue == String {
    public init?(optionValue: OptionValue) {
        guard case .word(let word) = optionValue, let value = Self(rawValue: word) else { return nil }
        self = value
    }
    public var optionValue: OptionValue { .word(rawValue) }
    public static var form: OptionForm { .word(allCases.map(\.rawValue)) }
}

/// One option, declared by the scheme or workload that reads it. `name` is the CSV column and
/// the experiment-file key; the command line spells it `--name-with-dashes`.
public struct DeclaredOption<Value: OptionValueConvertible>: Sendable {
    public let name: String
    public let defaultValue: Value
    public let help: String
    let problem: @Sendable (Value) -> String?
    let refusalElsewhere: String?

    /// - Parameters:
    ///   - check: the problem with a value (`OptionCheck`), or nil when it is allowed.
    ///   - refusedElsewhere: why a run whose scheme or workload does not declare the option cannot
    ///     take it (bad input, not a note), for an option that would silently measure something
    ///     else; nil: such a run ignores it with a note.
    public init(
        _ name: String, default defaultValue: Value, help: String, check: @escaping @Sendable (Value) -> String? = { _ in nil },
        refusedElsewhere: String? = nil
    ) {
        self.name = name
        self.defaultValue = defaultValue
        self.help = help
        problem = check
        refusalElsewhere = refusedElsewhere
    }

    /// The option with its type erased, for the readers that handle every option alike.
    public var declaration: OptionDeclaration {
        let problem = self.problem
        return OptionDeclaration(
            name: name, form: Value.form, defaultValue: defaultValue.optionValue, help: help, refusalElsewhere: refusalElsewhere
        ) { value in
            guard let typed = Value(optionValue: value) else { return "must be \(Value.form.text), got '\(value)'" }
            return problem(typed)
        }
    }
}

/// Range checks for `DeclaredOption(check:)`; each returns the problem, or nil.
public enum OptionCheck {
    public static func atLeast(_ minimum: Int) -> @Sendable (Int) -> String? {
        { $0 >= minimum ? nil : "must be at least \(minimum), got \($0)" }
    }

    public static func atLeast(_ minimum: Double) -> @Sendable (Double) -> String? {
        { $0 >= minimum ? nil : "must be >= \(minimum), got \($0)" }
    }

    public static func above(_ minimum: Double) -> @Sendable (Double) -> String? {
        { $0 > minimum ? nil : "must be > \(minimum), got \($0)" }
    }

    public static let fraction: @Sendable (Double) -> String? = { (0...1).contains($0) ? nil : "must be in [0, 1], got \($0)" }
}

/// An option with its type erased: what the command line, experiment files, `list` and the CSV
/// read.
public struct OptionDeclaration: Sendable {
    public let name: String
    public let form: OptionForm
    public let defaultValue: OptionValue
    public let help: String
    /// Why a run whose scheme or workload does not declare the option refuses it; nil: ignored.
    public let refusalElsewhere: String?
    let problem: @Sendable (OptionValue) -> String?

    /// The command-line flag.
    public var flag: String { "--" + name.replacingAll("_", with: "-") }

    /// The value a command-line word gives, checked; throws the problem named by the flag.
    public func parse(_ text: String) throws -> OptionValue {
        let value: OptionValue? = switch form {
        case .integer: Int(text).map(OptionValue.integer)
        case .number: Double(text).flatMap { $0.isFinite ? .number($0) : nil }
        case .word(let words): words.contains(text) ? .word(text) : nil
        case .text: text.isEmpty ? nil : .word(text)
        }
        guard let value else { throw ConfigurationError(option: name, "must be \(form.text), got '\(text)'") }
        return try checked(value)
    }

    /// A value read from an experiment file (a number or a string), converted to the option's
    /// form and checked.
    public func checked(_ value: OptionValue) throws -> OptionValue {
        var converted = value
        switch (form, value) {
        case (.integer, .number(let number)):
            guard number == number.rounded(), abs(number) < 1e15 else {
                throw ConfigurationError(option: name, "must be an integer, got \(number)")
            }
            converted = .integer(Int(number))
        case (.number, .integer(let integer)): converted = .number(Double(integer))
        case (.number, .number(let number)) where !number.isFinite:
            throw ConfigurationError(option: name, "must be a finite number, got \(number)")
        default: break
        }
        if let problem = problem(converted) { throw ConfigurationError(option: name, problem) }
        return converted
    }

    /// One line for `list` and `--help`: the help and the default.
    public var helpLine: String { "\(help) (default \(defaultValue))" }
}

/// The options given for a run, by name; an option not given takes its declared default.
public struct OptionValues: Sendable, Equatable, Hashable {
    public private(set) var given: [String: OptionValue] = [:]

    public init() {}

    public subscript<Value>(option: DeclaredOption<Value>) -> Value {
        get { given[option.name].flatMap(Value.init(optionValue:)) ?? option.defaultValue }
        set { given[option.name] = newValue.optionValue }
    }

    /// The value in effect for a declared option.
    public func value(of declaration: OptionDeclaration) -> OptionValue {
        given[declaration.name] ?? declaration.defaultValue
    }

    /// Sets an option by name, unchecked: `OptionDeclaration.parse` and `checked` check values.
    public mutating func set(_ name: String, to value: OptionValue) { given[name] = value }

    /// Checks every value given for one of `declarations`; the values given for other options
    /// are left alone (they belong to another owner).
    public func validate(against declarations: [OptionDeclaration]) throws {
        for declaration in declarations {
            if let value = given[declaration.name] { _ = try declaration.checked(value) }
        }
    }

    /// What tells two option sets apart for an owner that reads `declarations`.
    public func key(for declarations: [OptionDeclaration]) -> [OptionValue] {
        declarations.map { value(of: $0) }
    }
}

/// A problem with an option's value, named by the option when there is one, so the command line
/// and experiment files can each say where it is.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var option: String?
    public var problem: String
    public var description: String { option.map { "--\($0.replacingAll("_", with: "-")) \(problem)" } ?? problem }

    public init(_ description: String) {
        option = nil
        problem = description
    }

    public init(option: String, _ problem: String) {
        self.option = option
        self.problem = problem
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}

extension OptionForm {
    /// The value's place in a usage line: `N`, `X`, or the words.
    public var placeholder: String {
        switch self {
        case .integer: "N"
        case .number: "X"
        case .word(let words): words.joined(separator: "|")
        case .text: "TEXT"
        }
    }
}
