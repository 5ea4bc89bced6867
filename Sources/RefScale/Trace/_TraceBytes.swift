/// Little-endian integers, LEB128 varints and length-prefixed UTF-8 text, as the trace format
/// and the recorder's raw dump store them. Reading past the end throws a truncation error
/// naming the section being read.
struct _TraceByteReader {
    let bytes: [UInt8]
    var offset = 0
    /// What is being read, for the error a truncation raises.
    var section = "header"

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }

    func truncated() -> TraceFormatError {
        TraceFormatError("truncated trace: the file ends inside the \(section) (at byte \(bytes.count))")
    }

    mutating func byte() throws(TraceFormatError) -> UInt8 {
        guard offset < bytes.count else { throw truncated() }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func take(_ count: Int) throws(TraceFormatError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - offset else { throw truncated() }
        defer { offset += count }
        return bytes[offset ..< offset + count]
    }

    mutating func fixed<T: FixedWidthInteger>(_: T.Type) throws(TraceFormatError) -> T {
        var value: T = 0
        for (shift, byte) in try take(MemoryLayout<T>.size).enumerated() {
            value |= T(truncatingIfNeeded: byte) << (shift * 8)
        }
        return value
    }

    mutating func varint() throws(TraceFormatError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try byte()
            guard shift < 64 else { throw TraceFormatError("malformed trace: a number in the \(section) is longer than 64 bits") }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    /// A varint that must fit `limit` (a count or an index), so nothing built from it overflows.
    mutating func count(atMost limit: Int, _ what: String) throws(TraceFormatError) -> Int {
        let value = try varint()
        guard value <= UInt64(limit) else {
            throw TraceFormatError("malformed trace: \(what) \(value) exceeds \(limit) in the \(section)")
        }
        return Int(value)
    }

    mutating func text() throws(TraceFormatError) -> String {
        let length = try count(atMost: bytes.count - offset, "text length")
        return String(decoding: try take(length), as: UTF8.self)
    }
}

struct _TraceByteWriter {
    var bytes: [UInt8] = []

    mutating func fixed<T: FixedWidthInteger>(_ value: T) {
        for shift in 0 ..< MemoryLayout<T>.size { bytes.append(UInt8(truncatingIfNeeded: value >> (shift * 8))) }
    }

    mutating func varint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    mutating func varint(_ value: Int) {
        precondition(value >= 0, "a trace count cannot be negative")
        varint(UInt64(value))
    }

    mutating func text(_ value: String) {
        let utf8 = Array(value.utf8)
        varint(utf8.count)
        bytes.append(contentsOf: utf8)
    }
}
