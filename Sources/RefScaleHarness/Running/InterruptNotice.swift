import Glibc
import Synchronization

/// What an interrupted `run --csv` or `sweep` says: on SIGINT or SIGTERM, one line on stderr
/// naming the CSV file and how many rows of finished runs it holds, then exit 128 + the signal,
/// as the shell reports a process killed by it. A file the command created and never wrote a row
/// to is removed, so no empty file is left behind.
///
/// The handler may run on any thread at any moment, so it only reads memory prepared before it
/// was installed and calls `write`, `unlink` and `_exit`, which are async-signal-safe.
public enum InterruptNotice {
    /// What the handler reads, prepared before it is installed.
    private struct Texts {
        /// The file, as a C string.
        var path: UnsafeMutablePointer<CChar>
        var removeWhenEmpty: Bool
        /// The buffer the message is assembled in.
        var message: UnsafeMutablePointer<UInt8>
        var messageCapacity: Int
        /// Whether stderr is a terminal, where a live progress line is cleared first.
        var clearsLine: Bool
    }

    private static let rows: UnsafeMutablePointer<Atomic<Int>> = {
        let rows = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: 1)
        rows.initialize(to: Atomic(0))
        return rows
    }()

    private static let texts: UnsafeMutablePointer<Texts> = {
        let texts = UnsafeMutablePointer<Texts>.allocate(capacity: 1)
        texts.initialize(to: Texts(path: strdup("")!, removeWhenEmpty: false, message: .allocate(capacity: 1), messageCapacity: 1, clearsLine: false))
        return texts
    }()

    /// From now on an interruption names `path`; `removeWhenEmpty`: the command created the file
    /// and it goes when no row was written. Called once per command, before its first run.
    public static func install(path: String, removeWhenEmpty: Bool) {
        let capacity = path.utf8.count + 256
        texts.pointee = Texts(
            path: strdup(path)!, removeWhenEmpty: removeWhenEmpty, message: .allocate(capacity: capacity), messageCapacity: capacity,
            clearsLine: isatty(STDERR_FILENO) != 0)
        rows.pointee.store(0, ordering: .sequentiallyConsistent)
        let handler: @convention(c) (Int32) -> Void = { signal in InterruptNotice.handle(signal) }
        Glibc.signal(SIGINT, handler)
        Glibc.signal(SIGTERM, handler)
    }

    /// A row was written to the file named.
    static func rowWritten() {
        rows.pointee.add(1, ordering: .sequentiallyConsistent)
    }

    private static func handle(_ signal: Int32) {
        let texts = self.texts.pointee
        let rows = self.rows.pointee.load(ordering: .sequentiallyConsistent)
        var message = SignalSafeText(buffer: texts.message, capacity: texts.messageCapacity)
        if texts.clearsLine { message.append("\r\u{1B}[K") }
        message.append("refscale: interrupted (")
        if signal == SIGINT { message.append("SIGINT") } else { message.append("SIGTERM") }
        if rows > 0 {
            message.append("); the ")
            message.append(rows)
            if rows == 1 { message.append(" row of the finished run is in ") } else { message.append(" rows of the finished runs are in ") }
            message.append(texts.path)
        } else if texts.removeWhenEmpty {
            unlink(texts.path)
            message.append(") before any run finished; removed the empty ")
            message.append(texts.path)
        } else {
            message.append(") before any run finished; nothing was written to ")
            message.append(texts.path)
        }
        message.append("\n")
        _ = write(STDERR_FILENO, texts.message, message.count)
        _exit(128 + signal)
    }

    /// Text assembled in a buffer allocated beforehand, with no allocation of its own.
    private struct SignalSafeText {
        let buffer: UnsafeMutablePointer<UInt8>
        let capacity: Int
        var count = 0

        mutating func append(_ byte: UInt8) {
            guard count < capacity else { return }
            buffer[count] = byte
            count += 1
        }

        mutating func append(_ text: StaticString) {
            text.withUTF8Buffer { for byte in $0 { append(byte) } }
        }

        mutating func append(_ text: UnsafeMutablePointer<CChar>) {
            var index = 0
            while text[index] != 0 {
                append(UInt8(bitPattern: text[index]))
                index += 1
            }
        }

        mutating func append(_ number: Int) {
            var divisor = 1
            while number / divisor >= 10 { divisor *= 10 }
            while divisor > 0 {
                append(UInt8(ascii: "0") + UInt8(number / divisor % 10))
                divisor /= 10
            }
        }
    }
}
