import Glibc

/// Writes rows to a CSV file that `pandas.read_csv` loads as it is. Every check of the file is
/// made when the writer is created, before any run: a file refscale may not write, a directory,
/// a missing directory, or a file whose header is not refscale's is refused there, and a refused
/// file is never touched. Each row is written with one `write` as its run ends, so an
/// interrupted sweep keeps every finished row (`InterruptNotice` says where).
///
/// Two ways to write:
/// - `init(path:)` (`run --csv`) appends to the file asked for, creating it with the first row;
///   a file whose last line lacks its line break gets one before the first row, so no row is
///   ever glued onto another.
/// - `init(newFileIn:name:)` (`sweep`) makes a new file that did not exist, named `NAME.csv`,
///   else `NAME-2.csv`, `NAME-3.csv`, ...: it is created (exclusively) at once, so two sweeps
///   started together never share one; `discardIfEmpty()` removes it when no row was written.
public final class CSVWriter {
    public let path: String
    private let columns: [String]
    private var descriptor: Int32 = -1
    /// Whether this writer made the file (and may remove it while it is empty).
    private let createdHere: Bool
    public private(set) var rowsWritten = 0

    /// Appends to `path`; checks the file, or for a new file its directory, without creating it.
    public init(path: String, columns: [String] = ColumnCatalogue.names) throws {
        self.path = path
        self.columns = columns
        createdHere = false
        guard !path.isEmpty, !path.hasSuffix("/") else {
            throw HarnessError("--csv '\(path)': name a CSV file, not \(path.isEmpty ? "nothing" : "a directory")")
        }
        var status = stat()
        if stat(path, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFREG else {
                let what = status.st_mode & S_IFMT == S_IFDIR ? "a directory" : "not a regular file"
                throw HarnessError("--csv \(path): is \(what); name a CSV file")
            }
            let header = CSVWriter.line(columns)
            guard let existing = readFile(path) else {
                throw HarnessError("--csv \(path): cannot read it: \(String(cString: strerror(errno)))")
            }
            let firstLine = existing.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            guard existing.isEmpty || firstLine + "\n" == header else {
                throw HarnessError("--csv \(path): its header is not refscale's (\(columns.count) columns from scheme to timestamp); write to a new file")
            }
            // Opening for appending changes nothing, and proves the file can be written.
            descriptor = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
            guard descriptor >= 0 else {
                throw HarnessError("--csv \(path): cannot write to it: \(String(cString: strerror(errno)))")
            }
        } else {
            try CSVWriter.checkWritableDirectory(CSVWriter.directory(of: path), for: "--csv \(path)")
        }
    }

    /// A new file in `directory`, which must exist: `name.csv`, or the first of `name-2.csv`,
    /// `name-3.csv`, ... that does not exist yet.
    public init(newFileIn directory: String, name: String, columns: [String] = ColumnCatalogue.names) throws {
        self.columns = columns
        createdHere = true
        var suffix = 1
        while true {
            let candidate = "\(directory)/\(name)\(suffix == 1 ? "" : "-\(suffix)").csv"
            let opened = open(candidate, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if opened >= 0 {
                path = candidate
                descriptor = opened
                return
            }
            guard errno == EEXIST, suffix < 10_000 else {
                throw HarnessError("\(candidate): cannot create it: \(String(cString: strerror(errno)))")
            }
            suffix += 1
        }
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    public func append(_ record: RunRecord) throws {
        let values = record.csvValues
        var text = CSVWriter.line(columns.map { values[$0] ?? "" })
        if rowsWritten == 0 {
            if descriptor < 0 {
                descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
                guard descriptor >= 0 else { throw HarnessError("\(path): cannot open: \(String(cString: strerror(errno)))") }
            }
            var status = stat()
            if fstat(descriptor, &status) == 0 && status.st_size == 0 {
                text = CSVWriter.line(columns) + text
            } else if !CSVWriter.endsWithLineBreak(path) {
                text = "\n" + text
            }
        }
        let written = text.utf8CString.withUnsafeBufferPointer { write(descriptor, $0.baseAddress, $0.count - 1) }
        guard written == text.utf8.count else { throw HarnessError("\(path): write failed: \(String(cString: strerror(errno)))") }
        rowsWritten += 1
        InterruptNotice.rowWritten()
    }

    /// Removes the file this writer created when no row was written to it.
    public func discardIfEmpty() {
        guard createdHere, rowsWritten == 0 else { return }
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
        unlink(path)
    }

    static func line(_ fields: [String]) -> String {
        fields.map(quote).joined(separator: ",") + "\n"
    }

    /// A field quoted when it holds a comma, a quote, a line break (a CRLF pair is one `Character`,
    /// so the scalars are looked at), or a byte-order mark, which a reader would drop at the start
    /// of a file.
    static func quote(_ field: String) -> String {
        guard field.unicodeScalars.contains(where: { ",\"\n\r\u{FEFF}".unicodeScalars.contains($0) }) else { return field }
        return "\"" + field.replacingAll("\"", with: "\"\"") + "\""
    }

    /// Whether the file's last byte is a line break (true for an empty file).
    static func endsWithLineBreak(_ path: String) -> Bool {
        let file = open(path, O_RDONLY | O_CLOEXEC)
        guard file >= 0 else { return true }
        defer { close(file) }
        let size = lseek(file, 0, SEEK_END)
        guard size > 0 else { return true }
        var last: UInt8 = 0
        return pread(file, &last, 1, size - 1) == 1 && last == UInt8(ascii: "\n")
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let directory = String(path[..<slash])
        return directory.isEmpty ? "/" : directory
    }

    /// Throws unless `directory` exists, is a directory, and a file can be created in it: a
    /// probe file is made there and removed at once.
    public static func checkWritableDirectory(_ directory: String, for subject: String) throws {
        var status = stat()
        guard stat(directory, &status) == 0 else {
            throw HarnessError("\(subject): directory \(directory) does not exist")
        }
        guard status.st_mode & S_IFMT == S_IFDIR else {
            throw HarnessError("\(subject): \(directory) is not a directory")
        }
        var template = Array("\(directory)/.refscale-probe-XXXXXX".utf8CString)
        let probe = mkstemp(&template)
        guard probe >= 0 else {
            throw HarnessError("\(subject): cannot create files in \(directory): \(String(cString: strerror(errno)))")
        }
        close(probe)
        unlink(template)
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var result = ""
        for character in self { if character == target { result += replacement } else { result.append(character) } }
        return result
    }
}
