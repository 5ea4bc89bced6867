import Testing
@testable import RefScale

/// Two threads taking turns: thread 0 runs events 0..<3 and 6..<7, thread 1 events 3..<6.
/// Object distances cover both the one-byte form (|d| <= 15) and the varint form.
private func sampleTrace() -> Trace {
    Trace(
        header: TraceHeader(interpreter: "3.11.2 (main) [GCC 12.2.0]", program: "Experiments/traces/x.py", arguments: ["--threads", "2", "é"]),
        types: ["dict", "int", "Point"],
        objects: [
            TraceObject(typeIndex: 0, firstCount: 3, immortalIn312: false),
            TraceObject(typeIndex: 1, firstCount: 1_000_000, immortalIn312: true),
        ] + (2 ..< 40).map { TraceObject(typeIndex: 2, firstCount: $0 == 39 ? 0 : 1, immortalIn312: false) },
        threads: [
            TraceThread(events: [
                TraceEvent(.incref, .interpreter, object: 0),
                TraceEvent(.incref, .extensionModule, object: 1),
                TraceEvent(.birth, .interpreter, object: 39),
                TraceEvent(.death, .interpreter, object: 39),
            ], segments: [TraceSegment(start: 0, count: 3), TraceSegment(start: 6, count: 1)]),
            TraceThread(events: [
                TraceEvent(.decref, .extensionModule, object: 20),
                TraceEvent(.decref, .interpreter, object: 1),
                TraceEvent(.incref, .interpreter, object: 38),
            ], segments: [TraceSegment(start: 3, count: 3)]),
        ])
}

@Suite struct TraceFileTests {
    @Test func encodeThenDecodeGivesBackTheSameTrace() throws {
        let trace = sampleTrace()
        #expect(try TraceFile.decode(TraceFile.encode(trace)) == trace)
    }

    @Test func anEventNearItsThreadsPreviousObjectTakesOneByte() throws {
        var trace = sampleTrace()
        let before = TraceFile.encode(trace).count
        trace.threads[1].events.append(TraceEvent(.incref, .interpreter, object: 30))
        trace.threads[1].segments[0].count += 1
        trace.threads[0].segments[1].start += 1
        #expect(TraceFile.encode(trace).count == before + 1)
        #expect(try TraceFile.decode(TraceFile.encode(trace)) == trace)
    }

    @Test func programOrderFollowsTheSegments() {
        var order: [(Int, UInt32)] = []
        sampleTrace().forEachInProgramOrder { thread, event in order.append((thread, event.object)) }
        #expect(order.map(\.0) == [0, 0, 0, 1, 1, 1, 0])
        #expect(order.map(\.1) == [0, 1, 39, 20, 1, 38, 39])
    }

    @Test func wrongMagicIsRefused() {
        var bytes = TraceFile.encode(sampleTrace())
        bytes[0] = UInt8(ascii: "X")
        #expect(throws: TraceFormatError.self) { try TraceFile.decode(bytes) }
        #expect(throws: TraceFormatError.self) { try TraceFile.decode(Array("not a trace at all".utf8)) }
    }

    @Test func everyTruncationIsRefusedWithOneLine() {
        let bytes = TraceFile.encode(sampleTrace())
        for length in 0 ..< bytes.count {
            do {
                _ = try TraceFile.decode(Array(bytes[0 ..< length]))
                Issue.record("a trace cut to \(length) of \(bytes.count) bytes was accepted")
            } catch {
                #expect(!error.description.contains("\n"))
            }
        }
    }

    @Test func anotherVersionIsRefusedNamingIt() {
        var bytes = TraceFile.encode(sampleTrace())
        bytes[TraceFile.magic.count] = 9
        do {
            _ = try TraceFile.decode(bytes)
            Issue.record("version 9 was accepted")
        } catch {
            #expect(error.description.contains("version 9"))
        }
    }

    @Test func trailingBytesAreRefused() {
        #expect(throws: TraceFormatError.self) { try TraceFile.decode(TraceFile.encode(sampleTrace()) + [0]) }
    }

    @Test func segmentsThatDoNotCoverTheOrderAreRefused() {
        var trace = sampleTrace()
        trace.threads[0].segments[1].start = 7
        #expect(throws: TraceFormatError.self) { try TraceFile.decode(TraceFile.encode(trace)) }
    }

    @Test func summaryReplaysCountsInProgramOrder() {
        let summary = TraceSummary(sampleTrace())
        #expect(summary.eventCount(.incref, .extensionModule) == 1)
        #expect(summary.eventCount(.decref, .extensionModule) == 1)
        #expect(summary.operations == 5)
        // Object 1 (immortal in 3.12) is counted by both threads: once up, once down.
        #expect(summary.operationsOnImmortalIn312 == 2)
        #expect(summary.objectsCountedByMoreThanOneThread == 1)
        #expect(summary.mostShared.map(\.object) == [1])
        #expect(summary.mostShared.first?.operationsPerThread == [1, 1])
        #expect(summary.mostShared.first?.maxCount == 1_000_001)
        // Highest counts: object 39 reaches 1, object 0 reaches 4, objects 2...38 stay at 1
        // except 20 (1, then 0) and 38 (2); object 1, immortal in 3.12, is left out.
        #expect(summary.objectsByMaxCount == [37, 1, 1, 0, 0, 0])
        #expect(summary.operationsByMaxCount == [1, 1, 1, 0, 0, 0])
    }
}

@Suite struct RawTraceDumpTests {
    /// A dump as the recorder writes it: thread 0 meets an old object and makes a new one at
    /// address 0x200; thread 1 frees it; thread 0 makes another at the same address.
    private func rawDump(version: String = "3.11.2") -> [UInt8] {
        var writer = _TraceByteWriter()
        writer.bytes = Array("RSRAW001".utf8)
        writer.fixed(UInt32(2))
        writer.fixed(UInt32(1))
        writer.fixed(UInt64(5))
        writer.fixed(UInt32(version.utf8.count))
        writer.bytes += Array(version.utf8)
        writer.fixed(UInt64(0x900))
        writer.fixed(UInt32(4))
        writer.bytes += Array("list".utf8)
        func record(_ address: UInt64, count: UInt32, kind: UInt8, site: UInt8 = 0, immortal: UInt8 = 0) {
            writer.fixed(address)
            writer.fixed(UInt64(kind == 4 ? 0 : 0x900))
            writer.fixed(count)
            writer.bytes += [kind, site, immortal, 0]
        }
        writer.fixed(UInt64(5))
        record(0, count: 0, kind: 4)
        record(0x100, count: 7, kind: 1, site: 1, immortal: 1)
        record(0x200, count: 1, kind: 0)
        record(4, count: 0, kind: 4)
        record(0x200, count: 1, kind: 0)
        writer.fixed(UInt64(3))
        record(2, count: 0, kind: 4)
        record(0x200, count: 1, kind: 2)
        record(0x200, count: 0, kind: 3)
        return writer.bytes
    }

    @Test func addressesBecomeOneObjectPerLifetimeInProgramOrder() throws {
        let trace = try RawTraceDump.convert(rawDump(), program: "p.py", arguments: ["--threads", "2"])
        #expect(trace.types == ["list"])
        #expect(trace.objects == [
            TraceObject(typeIndex: 0, firstCount: 7, immortalIn312: true),
            TraceObject(typeIndex: 0, firstCount: 0, immortalIn312: false),
            TraceObject(typeIndex: 0, firstCount: 0, immortalIn312: false),
        ])
        #expect(trace.threads[0].events == [
            TraceEvent(.incref, .extensionModule, object: 0),
            TraceEvent(.birth, .interpreter, object: 1),
            TraceEvent(.birth, .interpreter, object: 2),
        ])
        #expect(trace.threads[1].events == [TraceEvent(.decref, .interpreter, object: 1), TraceEvent(.death, .interpreter, object: 1)])
        #expect(trace.threads[0].segments == [TraceSegment(start: 0, count: 2), TraceSegment(start: 4, count: 1)])
        #expect(try TraceFile.decode(TraceFile.encode(trace)) == trace)
    }

    @Test func aDumpWithAGapInTheOrderIsRefused() {
        var bytes = rawDump()
        // The second thread's segment claims to start at event 3, leaving event 2 to no one.
        let secondThreadSegment = bytes.count - 3 * 24
        bytes[secondThreadSegment] = 3
        do {
            _ = try RawTraceDump.convert(bytes, program: "p.py", arguments: [])
            Issue.record("a dump with a gap in its order was accepted")
        } catch {
            #expect(error.description.contains("gap in the program order at event 2"))
        }
    }
}
