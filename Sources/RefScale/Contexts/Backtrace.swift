import CRefScale
import Glibc

/// The calling thread's stack as readable lines, for `--backtraces`. backtrace(3) finds the
/// return addresses; frames in refscale's own executable are named from its ELF symbol table
/// (most Swift functions are local symbols, which backtrace_symbols and dladdr cannot see) and
/// demangled by the Swift runtime; other frames keep backtrace_symbols' text.
enum Backtrace {
    /// The stack of the caller, leaving out the innermost `skip` frames (this function's own too).
    static func symbolised(skip: Int) -> [String] {
        var count: Int32 = 0
        guard let lines = crefscale_backtrace_symbols(Int32(skip + 2), &count) else { return [] }
        defer { free(lines) }
        return (0..<Int(count)).map { index in
            let line = String(cString: lines[index]!)
            return symbolise(line) ?? line
        }
    }

    /// Return addresses of the calling thread's stack into `buffer` (backtrace(3)); how many.
    static func capture(_ buffer: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ size: Int32) -> Int32 {
        c_backtrace(buffer, size)
    }

    /// Return addresses (from `capture`) as readable lines.
    static func symbolised(frames: [UInt]) -> [String] {
        guard !frames.isEmpty else { return [] }
        var pointers = frames.map { UnsafeMutableRawPointer(bitPattern: $0) }
        guard let lines = c_backtrace_symbols(&pointers, Int32(pointers.count)) else { return [] }
        defer { free(lines) }
        return (0..<frames.count).map { index in
            let line = String(cString: lines[index]!)
            return symbolise(line) ?? line
        }
    }

    /// `path(+0xOFFSET) [0xADDRESS]` of a frame in this executable, named by the symbol table.
    static func symbolise(_ line: String) -> String? {
        guard let open = line.firstIndex(of: "("), let close = line[open...].firstIndex(of: ")") else { return nil }
        guard let executable, realPath(String(line[..<open])) == executable else { return nil }
        let inside = line[line.index(after: open)..<close]
        guard inside.hasPrefix("+0x"), let offset = UInt64(inside.dropFirst(3), radix: 16) else { return nil }
        guard let symbol = executableSymbols.symbol(containing: offset) else { return nil }
        return "\(demangle(symbol.name)) + \(offset - symbol.start)"
    }

    static func demangle(_ name: String) -> String {
        guard let demangled = name.withCString({ swift_demangle($0, strlen($0), nil, nil, 0) }) else { return name }
        defer { free(demangled) }
        return String(cString: demangled)
    }

    /// Read once, the first time a backtrace is asked for.
    static let executableSymbols = SymbolTable(path: "/proc/self/exe")
    static let executable = realPath("/proc/self/exe")

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

@_silgen_name("backtrace")
private func c_backtrace(_ buffer: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ size: Int32) -> Int32

@_silgen_name("backtrace_symbols")
private func c_backtrace_symbols(
    _ buffer: UnsafePointer<UnsafeMutableRawPointer?>, _ size: Int32
) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?

@_silgen_name("swift_demangle")
private func swift_demangle(
    _ mangledName: UnsafePointer<CChar>?, _ mangledNameLength: Int, _ outputBuffer: UnsafeMutablePointer<CChar>?,
    _ outputBufferSize: UnsafeMutablePointer<Int>?, _ flags: UInt32
) -> UnsafeMutablePointer<CChar>?

/// The function symbols of an ELF64 file's `.symtab`, sorted by address.
struct SymbolTable: Sendable {
    struct Symbol: Sendable {
        var start: UInt64
        var size: UInt64
        var name: String
    }

    let symbols: [Symbol]

    init(path: String) {
        symbols = SymbolTable.read(path: path) ?? []
    }

    func symbol(containing address: UInt64) -> Symbol? {
        var low = 0
        var high = symbols.count
        while low < high {
            let middle = (low + high) / 2
            if symbols[middle].start <= address { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else { return nil }
        let symbol = symbols[low - 1]
        return address < symbol.start + max(symbol.size, 1) ? symbol : nil
    }

    static func read(path: String) -> [Symbol]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        fseek(file, 0, SEEK_END)
        let size = ftell(file)
        fseek(file, 0, SEEK_SET)
        guard size > 64 else { return nil }
        var bytes = [UInt8](repeating: 0, count: size)
        guard fread(&bytes, 1, size, file) == size else { return nil }
        return bytes.withUnsafeBytes { parse($0) }
    }

    /// ELF64 little-endian: section headers from `e_shoff`; the SHT_SYMTAB section's entries
    /// (24 bytes: name, info, other, section, value, size) name strings in the section `sh_link`.
    static func parse(_ image: UnsafeRawBufferPointer) -> [Symbol]? {
        func word<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            T(littleEndian: image.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        guard image.count > 64, image[0] == 0x7F, image[1] == 0x45, image[4] == 2 else { return nil }
        let sectionsAt = Int(word(0x28, UInt64.self))
        let sectionSize = Int(word(0x3A, UInt16.self))
        let sectionCount = Int(word(0x3C, UInt16.self))
        func section(_ index: Int) -> (type: UInt32, offset: Int, size: Int, link: Int) {
            let at = sectionsAt + index * sectionSize
            return (word(at + 4, UInt32.self), Int(word(at + 24, UInt64.self)), Int(word(at + 32, UInt64.self)), Int(word(at + 40, UInt32.self)))
        }
        guard sectionsAt + sectionCount * sectionSize <= image.count,
              let symtab = (0..<sectionCount).map(section).first(where: { $0.type == 2 }) else { return nil }
        let strings = section(symtab.link)
        var symbols: [Symbol] = []
        for at in stride(from: symtab.offset, to: symtab.offset + symtab.size, by: 24) where image[at + 4] & 0xF == 2 {
            let value = word(at + 8, UInt64.self)
            guard value != 0 else { continue }
            let nameAt = strings.offset + Int(word(at, UInt32.self))
            guard nameAt < image.count, let end = image[nameAt...].firstIndex(of: 0) else { continue }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: image[nameAt..<end]), as: UTF8.self)
            symbols.append(Symbol(start: value, size: word(at + 16, UInt64.self), name: name))
        }
        return symbols.sorted { $0.start < $1.start }
    }
}
