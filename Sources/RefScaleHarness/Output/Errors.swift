/// A failure of the harness or the environment (a file, a failed run): exit code 1.
public struct HarnessError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description.onOneLine }
}

/// Bad input from the command line or an experiment: reported in one line with a usage exit code.
public struct UsageError: Error, CustomStringConvertible, Sendable {
    public var description: String
    /// A combination a sweep leaves out rather than refuses (a scheme that cannot run a
    /// workload, a thread count a workload cannot use).
    public var skippable: Bool

    public init(_ description: String, skippable: Bool = false) {
        self.description = description.onOneLine
        self.skippable = skippable
    }
}

extension String {
    /// The text with its line breaks written as `\n` and `\r`: a message quoting input (a file
    /// name, a field, a word) stays one line whatever the input holds.
    var onOneLine: String {
        guard contains(where: \.isNewline) else { return self }
        var result = ""
        for scalar in unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case _ where Character(scalar).isNewline: result += "\\u{\(String(scalar.value, radix: 16))}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
