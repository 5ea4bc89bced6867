/// A row read back from a CSV file: every field of its file's header, as text, since files from
/// other machines, versions and tools may hold columns this version does not know.
public struct CSVRow: Sendable {
    public private(set) var values: [String: String]

    public init(values: [String: String]) { self.values = values }

    public subscript(column: String) -> String { values[column] ?? "" }

    /// A boolean column as refscale writes it (`true`, `false`) or as pandas and spreadsheets
    /// write it back (`True`, `TRUE`, `False`, `FALSE`); nil when it is blank or anything else.
    public func flag(_ column: String) -> Bool? {
        switch self[column].lowercased() {
        case "true": true
        case "false": false
        default: nil
        }
    }

    public var isValid: Bool { flag("valid") == true }

    /// Why the row is left out of every median; nil for a valid row.
    public var leftOutReason: String? {
        switch flag("valid") {
        case true?: nil
        case false?: self["validation_error"].isEmpty ? "valid is false (no validation_error given)" : self["validation_error"]
        case nil: "valid is '\(self["valid"])', neither true nor false"
        }
    }
}
