import Glibc

/// Reads CSV files back into rows: RFC 4180, the inverse of `CSVWriter.quote`. A field is quoted
/// when it holds a comma, a quote or a line break, and a quote inside it is doubled; records end
/// with LF or CRLF. Files from several machines or refscale versions may be read together: each
/// row keeps every column of its own file's header.
public enum CSVReader {
    /// The columns every refscale CSV file has (DESIGN.md, Output); a file without one of them is
    /// not refscale's.
    public static let requiredColumns = ["scheme", "workload", "threads", "rep", "ops", "elapsed_s", "ops_per_s", "ns_per_op", "valid"]

    /// The rows of a refscale CSV file. Throws a one-line `HarnessError` naming the file when it
    /// is missing, empty, not refscale's, or malformed.
    public static func rows(path: String) throws -> [CSVRow] {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw HarnessError("\(path): \(errno == ENOENT ? "no such file" : String(cString: strerror(errno)))")
        }
        guard status.st_mode & S_IFMT != S_IFDIR else { throw HarnessError("\(path): is a directory, not a CSV file") }
        guard let text = readFile(path) else { throw HarnessError("\(path): cannot open: \(String(cString: strerror(errno)))") }
        return try rows(text: text, source: path)
    }

    /// The rows of CSV text; `source` names it in errors.
    public static func rows(text: String, source: String) throws -> [CSVRow] {
        let records = try self.records(text, source: source)
        guard let header = records.first, header.fields.contains(where: { !$0.isEmpty }) else {
            throw HarnessError("\(source): empty file, expected refscale's CSV header")
        }
        let missing = requiredColumns.filter { !header.fields.contains($0) }
        guard missing.isEmpty else {
            throw HarnessError("\(source): not a refscale CSV file: missing column(s) \(missing.joined(separator: ", "))")
        }
        let body = records.dropFirst().filter { $0.fields != [""] }
        guard !body.isEmpty else { throw HarnessError("\(source): no rows below the header") }
        return try body.map { record in
            guard record.fields.count == header.fields.count else {
                throw HarnessError("\(source):\(record.line): \(record.fields.count) fields, the header has \(header.fields.count)")
            }
            let row = CSVRow(values: Dictionary(zip(header.fields, record.fields), uniquingKeysWith: { first, _ in first }))
            guard let threads = Int(row["threads"]), threads >= 1 else {
                throw HarnessError("\(source):\(record.line): threads is not a positive integer: '\(row["threads"])'")
            }
            guard row["ops_per_s"].isEmpty || Double(row["ops_per_s"]) != nil else {
                throw HarnessError("\(source):\(record.line): ops_per_s is not a number: '\(row["ops_per_s"])'")
            }
            return row
        }
    }

    /// One record and the line it starts on (1-based).
    public struct Record: Equatable, Sendable {
        public var fields: [String]
        public var line: Int
    }

    /// Splits text into records. A blank line is a record with one empty field; a missing line
    /// break at the end is allowed. Throws on a quote that is never closed or a stray quote.
    public static func records(_ text: String, source: String = "input") throws -> [Record] {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), newline = UInt8(ascii: "\n"), carriageReturn = UInt8(ascii: "\r")
        var records: [Record] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var line = 1
        var recordLine = 1
        var inQuotes = false
        var wasQuoted = false
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }  // a byte-order mark
        var index = 0

        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            wasQuoted = false
        }
        func endRecord() {
            endField()
            records.append(Record(fields: fields, line: recordLine))
            fields.removeAll(keepingCapacity: true)
        }

        while index < bytes.count {
            let byte = bytes[index]
            if inQuotes {
                if byte == quote {
                    if index + 1 < bytes.count && bytes[index + 1] == quote {
                        field.append(quote)
                        index += 1
                    } else {
                        inQuotes = false
                    }
                } else {
                    if byte == newline { line += 1 }
                    field.append(byte)
                }
            } else if byte == quote {
                guard field.isEmpty && !wasQuoted else {
                    throw HarnessError("\(source):\(line): a quote inside a field that does not start with one")
                }
                inQuotes = true
                wasQuoted = true
            } else if byte == comma {
                endField()
            } else if byte == newline || (byte == carriageReturn && index + 1 < bytes.count && bytes[index + 1] == newline) {
                if byte == carriageReturn { index += 1 }
                endRecord()
                line += 1
                recordLine = line
            } else {
                guard !wasQuoted else {
                    throw HarnessError("\(source):\(line): text after the closing quote of a field")
                }
                field.append(byte)
            }
            index += 1
        }
        guard !inQuotes else { throw HarnessError("\(source):\(recordLine): a quoted field is never closed") }
        if !field.isEmpty || !fields.isEmpty || wasQuoted { endRecord() }
        return records
    }
}
