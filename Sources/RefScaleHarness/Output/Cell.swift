import RefScale

/// One field of a row, typed until a writer formats it.
public enum Cell: Sendable, Equatable {
    case blank
    case text(String)
    case integer(Int)
    /// A number, rounded to `decimals` places when written (nil: every digit).
    case number(Double, decimals: Int?)
    case flag(Bool)

    /// The field as the CSV file and the tables write it: `true`/`false`, numbers without
    /// grouping, a number that is not finite as a blank.
    public var text: String {
        switch self {
        case .blank: ""
        case .text(let text): text
        case .integer(let value): String(value)
        case .flag(let value): String(value)
        case .number(let value, let decimals):
            if let decimals { Cell.rounded(value, decimals: decimals) } else { value.isFinite ? String(value) : "" }
        }
    }

    public var number: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .number(let value, _): value
        default: nil
        }
    }

    init(_ value: OptionValue) {
        switch value {
        case .integer(let integer): self = .integer(integer)
        case .number(let number): self = .number(number, decimals: nil)
        case .word(let word): self = .text(word)
        }
    }

    static func rounded(_ value: Double, decimals: Int) -> String {
        guard value.isFinite, abs(value) < 1e15 else { return value.isFinite ? String(value) : "" }
        if decimals == 0 { return String(Int64(value.rounded())) }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        return String((value * scale).rounded() / scale)
    }
}
