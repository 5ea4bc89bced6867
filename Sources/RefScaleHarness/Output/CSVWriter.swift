import Glibc

/// Appends rows to a CSV file that `pandas.read_csv` loads as it is. An existing file is appended
/// to only when its header is exactly refscale's; the file is created with the first row, and each
/// row is written with one `write` as its run ends, so an interrupted sweep keeps every finished
/// row and a refused file is never touched.
public final class CSVWriter {
    public let path: String
    private let columns: [String]
    private var descriptor: Int32 = -1

    /// Checks the file without creating it.
    public init(path: String, columns: [String] = ColumnCatalogue.names) throws {
        self.path = path
        self.columns = columns
        let header = CSVWriter.line(columns)
        if let existing = readFile(path) {
            let firstLine = existing.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            guard existing.isEmpty || firstLine + "\n" == header else {
                throw HarnessError("\(path): its header is not refscale's (\(columns.count) columns from scheme to timestamp); write to a new file")
            }
        } else {
            let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
            var status = stat()
            guard stat(directory.isEmpty ? "/" : directory, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
                throw HarnessError("\(path): directory \(directory) does not exist")
            }
        }
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    public func append(_ record: RunRecord) throws {
        let values = record.csvValues
        var text = CSVWriter.line(columns.map { values[$0] ?? "" })
        if descriptor < 0 {
            descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
            guard descriptor >= 0 else { throw HarnessError("\(path): cannot open: \(String(cString: strerror(errno)))") }
            var status = stat()
            if fstat(descriptor, &status) == 0 && status.st_size == 0 { text = CSVWriter.line(columns) + text }
        }
        let written = text.utf8CString.withUnsafeBufferPointer { write(descriptor, $0.baseAddress, $0.count - 1) }
        guard written == text.utf8.count else { throw HarnessError("\(path): write failed: \(String(cString: strerror(errno)))") }
    }

    static func line(_ fields: [String]) -> String {
        fields.map(quote).joined(separator: ",") + "\n"
    }

    static func quote(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return field }
        return "\"" + field.replacingAll("\"", with: "\"\"") + "\""
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var result = ""
        for character in self { if character == target { result += replacement } else { result.append(character) } }
        return result
    }
}
