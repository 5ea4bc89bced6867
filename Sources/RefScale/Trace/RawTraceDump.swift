/// Turns the recorder's raw dump (Tools/cpython-trace/refscale_trace.c, which states its byte
/// layout) into a `Trace`.
///
/// The recorder keeps one buffer per thread of 24-byte records holding object addresses; a
/// SEGMENT record marks where a thread took over from another. Rebuilding the program's one
/// order from those marks lets addresses become objects: a birth starts a new object at its
/// address, a death ends it, and an address met first at an increment or decrement is an
/// object alive before recording began, with the count the record saw.
public enum RawTraceDump {
    static let magic: [UInt8] = Array("RSRAW001".utf8)
    static let recordSize = 24
    static let segmentKind: UInt8 = 4

    private struct Record {
        var address: UInt64
        var type: UInt64
        var count: UInt32
        var kind: UInt8
        var site: UInt8
        var immortal: UInt8
    }

    public static func convert(_ bytes: [UInt8], program: String, arguments: [String]) throws(TraceFormatError) -> Trace {
        var reader = _TraceByteReader(bytes)
        guard bytes.count >= magic.count, Array(bytes[0 ..< magic.count]) == magic else {
            throw TraceFormatError("the recorder's dump is not one this refscale reads (wrong magic)")
        }
        reader.offset = magic.count
        reader.section = "recorder's dump header"
        let threadCount = Int(try reader.fixed(UInt32.self))
        let typeCount = Int(try reader.fixed(UInt32.self))
        let eventCount = try reader.fixed(UInt64.self)
        let versionLength = Int(try reader.fixed(UInt32.self))
        let interpreter = String(decoding: try reader.take(versionLength), as: UTF8.self)

        reader.section = "recorder's type table"
        var typeIndex: [UInt64: Int] = [:]
        var types: [String] = []
        for _ in 0 ..< typeCount {
            let address = try reader.fixed(UInt64.self)
            let length = Int(try reader.fixed(UInt32.self))
            typeIndex[address] = types.count
            types.append(String(decoding: try reader.take(length), as: UTF8.self))
        }

        // Each thread's records, and the runs of them between SEGMENT records.
        var threadRecords: [[Record]] = []
        var runs: [(start: UInt64, thread: Int, first: Int, count: Int)] = []
        for thread in 0 ..< threadCount {
            reader.section = "recorder's events of thread \(thread)"
            let recordCount = try reader.fixed(UInt64.self)
            guard recordCount <= UInt64((bytes.count - reader.offset) / recordSize) else { throw reader.truncated() }
            var records: [Record] = []
            records.reserveCapacity(Int(recordCount))
            for _ in 0 ..< Int(recordCount) {
                let address = try reader.fixed(UInt64.self)
                let type = try reader.fixed(UInt64.self)
                let count = try reader.fixed(UInt32.self)
                let kind = try reader.byte()
                let site = try reader.byte()
                let immortal = try reader.byte()
                _ = try reader.byte()
                if kind == segmentKind {
                    runs.append((address, thread, records.count, 0))
                    continue
                }
                guard kind <= TraceEvent.Kind.death.rawValue, site <= 1, runs.last?.thread == thread else {
                    throw TraceFormatError("the recorder's dump has a bad record in thread \(thread)")
                }
                runs[runs.count - 1].count += 1
                records.append(Record(address: address, type: type, count: count, kind: kind, site: site, immortal: immortal))
            }
            threadRecords.append(records)
        }
        guard reader.isAtEnd else { throw TraceFormatError("the recorder's dump has bytes after its last thread") }
        runs.removeAll { $0.count == 0 }
        runs.sort { $0.start < $1.start }

        var objects: [TraceObject] = []
        var live: [UInt64: UInt32] = [:]
        var threads = (0 ..< threadCount).map { _ in TraceThread(events: [], segments: []) }
        for index in threads.indices { threads[index].events.reserveCapacity(threadRecords[index].count) }
        var programOrder = 0
        for run in runs {
            guard run.start == UInt64(programOrder) else {
                throw TraceFormatError("the recorder's dump has a gap in the program order at event \(programOrder)")
            }
            threads[run.thread].segments.append(TraceSegment(start: programOrder, count: run.count))
            for record in threadRecords[run.thread][run.first ..< run.first + run.count] {
                let kind = TraceEvent.Kind(rawValue: record.kind)!
                guard let type = typeIndex[record.type] else {
                    throw TraceFormatError("the recorder's dump names a type it does not list")
                }
                let object: UInt32
                if kind != .birth, let known = live[record.address] {
                    object = known
                } else {
                    object = UInt32(objects.count)
                    objects.append(TraceObject(typeIndex: type, firstCount: kind == .birth ? 0 : Int(record.count), immortalIn312: false))
                    live[record.address] = object
                }
                if record.immortal != 0 { objects[Int(object)].immortalIn312 = true }
                if kind == .death { live[record.address] = nil }
                threads[run.thread].events.append(TraceEvent(kind, TraceEvent.Site(rawValue: record.site)!, object: object))
            }
            programOrder += run.count
        }
        guard UInt64(programOrder) == eventCount else {
            throw TraceFormatError("the recorder's dump holds \(programOrder) events, its header says \(eventCount)")
        }
        return Trace(header: TraceHeader(interpreter: interpreter, program: program, arguments: arguments),
                     types: types, objects: objects, threads: threads)
    }
}
