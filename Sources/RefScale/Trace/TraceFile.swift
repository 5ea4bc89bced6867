/// The trace file format, version 1 (Experiments/traces/FORMAT.md describes it byte by byte).
///
/// An event is one byte when it names an object within 15 of the thread's previous one:
/// bits 0-1 the kind, bit 2 the site, bits 3-7 the object as a distance from the previous
/// object of the same thread (0...30 meaning -15...15; 31 meaning a zigzag varint follows).
/// `decode` accepts only what `encode` can write: any other byte sequence is an error naming
/// the problem in one line.
public enum TraceFile {
    public static let magic: [UInt8] = Array("RSTRACE\u{0}".utf8)
    public static let version: UInt16 = 1

    static let smallDistanceBias = 15
    static let largeDistanceCode: UInt8 = 31
    static let immortalFlag: UInt8 = 1

    public static func encode(_ trace: Trace) -> [UInt8] {
        var writer = _TraceByteWriter()
        writer.bytes = magic
        writer.fixed(version)
        writer.text(trace.header.interpreter)
        writer.text(trace.header.program)
        writer.varint(trace.header.arguments.count)
        trace.header.arguments.forEach { writer.text($0) }
        writer.varint(trace.threads.count)
        writer.varint(trace.eventCount)
        writer.varint(trace.types.count)
        trace.types.forEach { writer.text($0) }
        writer.varint(trace.objects.count)
        for object in trace.objects {
            writer.varint(object.typeIndex)
            writer.varint(object.firstCount)
            writer.bytes.append(object.immortalIn312 ? immortalFlag : 0)
        }
        for thread in trace.threads {
            writer.varint(thread.events.count)
            writer.varint(thread.segments.count)
            var previousEnd = 0
            for segment in thread.segments {
                writer.varint(segment.start - previousEnd)
                writer.varint(segment.count)
                previousEnd = segment.start + segment.count
            }
            var events = _TraceByteWriter()
            var previous = 0
            for event in thread.events {
                let distance = Int(event.object) - previous
                previous = Int(event.object)
                let kindAndSite = event.kind.rawValue | event.site.rawValue << 2
                if abs(distance) <= smallDistanceBias {
                    events.bytes.append(kindAndSite | UInt8(distance + smallDistanceBias) << 3)
                } else {
                    events.bytes.append(kindAndSite | largeDistanceCode << 3)
                    events.varint(UInt64(bitPattern: Int64(distance) << 1 ^ Int64(distance) >> 63))
                }
            }
            writer.varint(events.bytes.count)
            writer.bytes.append(contentsOf: events.bytes)
        }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(TraceFormatError) -> Trace {
        var reader = _TraceByteReader(bytes)
        guard bytes.count >= magic.count, Array(bytes[0 ..< magic.count]) == magic else {
            throw TraceFormatError("not a refscale trace (its first bytes are not the trace magic)")
        }
        reader.offset = magic.count
        let fileVersion = try reader.fixed(UInt16.self)
        guard fileVersion == version else {
            throw TraceFormatError("trace format version \(fileVersion) is not one this refscale reads (it reads version \(version))")
        }
        let interpreter = try reader.text()
        let program = try reader.text()
        let argumentCount = try reader.count(atMost: bytes.count, "argument count")
        var arguments: [String] = []
        for _ in 0 ..< argumentCount { arguments.append(try reader.text()) }
        let header = TraceHeader(interpreter: interpreter, program: program, arguments: arguments)
        let threadCount = try reader.count(atMost: bytes.count, "thread count")
        let eventCount = try reader.count(atMost: bytes.count, "event count")

        reader.section = "type table"
        let typeCount = try reader.count(atMost: bytes.count, "type count")
        var types: [String] = []
        types.reserveCapacity(typeCount)
        for _ in 0 ..< typeCount { types.append(try reader.text()) }

        reader.section = "object table"
        let objectCount = try reader.count(atMost: bytes.count, "object count")
        var objects: [TraceObject] = []
        objects.reserveCapacity(objectCount)
        for _ in 0 ..< objectCount {
            let typeIndex = try reader.varint()
            guard typeIndex < UInt64(typeCount) else {
                throw TraceFormatError("malformed trace: object \(objects.count) names type \(typeIndex) of \(typeCount)")
            }
            let firstCount = try reader.count(atMost: Int(UInt32.max), "first count")
            let flags = try reader.byte()
            guard flags & ~immortalFlag == 0 else {
                throw TraceFormatError("malformed trace: object \(objects.count) has unknown flags \(flags)")
            }
            objects.append(TraceObject(typeIndex: Int(typeIndex), firstCount: firstCount, immortalIn312: flags == immortalFlag))
        }

        var threads: [TraceThread] = []
        for threadIndex in 0 ..< threadCount {
            reader.section = "events of thread \(threadIndex)"
            threads.append(try decodeThread(&reader, objectCount: objectCount, eventLimit: eventCount))
        }
        guard reader.isAtEnd else {
            throw TraceFormatError("malformed trace: \(bytes.count - reader.offset) bytes follow the last thread's events")
        }
        let trace = Trace(header: header, types: types, objects: objects, threads: threads)
        try checkSegmentsCoverTheOrder(trace, eventCount: eventCount)
        return trace
    }

    private static func decodeThread(
        _ reader: inout _TraceByteReader, objectCount: Int, eventLimit: Int
    ) throws(TraceFormatError) -> TraceThread {
        let events = try reader.count(atMost: eventLimit, "event count")
        let segmentCount = try reader.count(atMost: events, "segment count")
        var segments: [TraceSegment] = []
        segments.reserveCapacity(segmentCount)
        var previousEnd = 0
        for _ in 0 ..< segmentCount {
            let start = previousEnd + (try reader.count(atMost: eventLimit, "segment start"))
            let count = try reader.count(atMost: eventLimit, "segment length")
            guard count > 0, start + count <= eventLimit else {
                throw TraceFormatError("malformed trace: a segment of \(reader.section) lies outside events 0..<\(eventLimit)")
            }
            segments.append(TraceSegment(start: start, count: count))
            previousEnd = start + count
        }
        guard segments.reduce(0, { $0 + $1.count }) == events else {
            throw TraceFormatError("malformed trace: the segments of \(reader.section) do not add up to its \(events) events")
        }
        let byteLength = try reader.count(atMost: reader.bytes.count, "byte length")
        let end = reader.offset + byteLength
        guard end <= reader.bytes.count else { throw reader.truncated() }
        var decoded: [TraceEvent] = []
        decoded.reserveCapacity(events)
        var previous = 0
        for _ in 0 ..< events {
            guard reader.offset < end else {
                throw TraceFormatError("malformed trace: \(reader.section) end before their \(events) events")
            }
            let byte = try reader.byte()
            let code = byte >> 3
            let distance: Int
            if code == largeDistanceCode {
                guard reader.offset < end else { throw TraceFormatError("malformed trace: \(reader.section) end inside an event") }
                let zigzag = try reader.varint()
                distance = Int(Int64(bitPattern: zigzag >> 1) ^ -Int64(bitPattern: zigzag & 1))
            } else {
                distance = Int(code) - smallDistanceBias
            }
            let (object, overflow) = previous.addingReportingOverflow(distance)
            guard !overflow, object >= 0, object < objectCount else {
                throw TraceFormatError("malformed trace: event \(decoded.count) of \(reader.section) names object \(object) of \(objectCount)")
            }
            previous = object
            let kind = TraceEvent.Kind(rawValue: byte & 3)!
            let site = TraceEvent.Site(rawValue: (byte >> 2) & 1)!
            decoded.append(TraceEvent(kind, site, object: UInt32(object)))
        }
        guard reader.offset == end else {
            throw TraceFormatError("malformed trace: \(reader.section) hold \(end - reader.offset) bytes past their last event")
        }
        return TraceThread(events: decoded, segments: segments)
    }

    private static func checkSegmentsCoverTheOrder(_ trace: Trace, eventCount: Int) throws(TraceFormatError) {
        guard trace.eventCount == eventCount else {
            throw TraceFormatError("malformed trace: the threads hold \(trace.eventCount) events, the header says \(eventCount)")
        }
        let segments = trace.threads.flatMap(\.segments).sorted { $0.start < $1.start }
        var next = 0
        for segment in segments {
            guard segment.start == next else {
                throw TraceFormatError("malformed trace: the threads' segments do not cover event \(min(next, segment.start)) exactly once")
            }
            next += segment.count
        }
    }
}

extension Trace {
    /// Calls `body` with each event, as (thread, event), in the one order of the whole program.
    public func forEachInProgramOrder(_ body: (Int, TraceEvent) -> Void) {
        var runs: [(segment: TraceSegment, thread: Int, first: Int)] = []
        for (threadIndex, thread) in threads.enumerated() {
            var first = 0
            for segment in thread.segments {
                runs.append((segment, threadIndex, first))
                first += segment.count
            }
        }
        runs.sort { $0.segment.start < $1.segment.start }
        for run in runs {
            let events = threads[run.thread].events
            for index in run.first ..< run.first + run.segment.count { body(run.thread, events[index]) }
        }
    }
}
