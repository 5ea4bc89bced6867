/// A row read back from a CSV file: every field of its file's header, as text, since files from
/// other machines, versions and tools may hold columns this version does not know.
public struct CSVRow: Sendable {
    public private(set) var values: [String: String]

    public init(values: [String: String]) { self.values = values }

    public subscript(column: String) -> String { values[column] ?? "" }

    /// `valid` as refscale writes it (`true`) or as pandas and spreadsheets write it back (`True`,
    /// `TRUE`).
    public var isValid: Bool { self["valid"].lowercased() == "true" }
}
