import Testing
@testable import RefScale

/// `handle-local`'s tag bits (`HandleTags`): immediates that are never counted, and a tag field
/// that never overlaps the index field.
@Suite struct HandleTagsTests {
    struct Width: CustomTestStringConvertible, Sendable {
        var index: HandleIndex
        var tagBits: Int
        var testDescription: String { "\(index.rawValue) with \(tagBits) tag bit(s)" }
    }

    /// Every width that keeps at least one slot.
    static let widths = HandleIndex.allCases.flatMap { index in
        (1...2).map { Width(index: index, tagBits: $0) }.filter { HandleTags.slotCount($0.index, tagBits: $0.tagBits) >= 1 }
    }

    static func scheme(_ width: Width) throws -> (HandleLocalScheme, ObjectPool) {
        var options = SchemeOptions()
        options[HandleLocalScheme.handleIndex] = width.index
        options[HandleLocalScheme.tagBits] = width.tagBits
        options.objectAlignment = width.index.requiredAlignment
        let shared = try HandleLocalScheme.makeShared(options: options, threads: 1)
        return (HandleLocalScheme(shared: shared, threadID: 1), ObjectPool(count: 4, alignment: options.objectAlignment))
    }

    @Test func tagBitsLeaveTheSlotsTheIssueNames() {
        #expect(HandleTags.slotCount(.low3, tagBits: 1) == 3)
        #expect(HandleTags.slotCount(.low4, tagBits: 1) == 7)
        #expect(HandleTags.slotCount(.low3HPy, tagBits: 2) == 0)
        #expect(HandleTags.slotCount(.high16, tagBits: 1) == 32767)
    }

    @Test func tagBitsThatLeaveNoSlotAreRefused() {
        var options = SchemeOptions()
        options[HandleLocalScheme.handleIndex] = .low3HPy
        options[HandleLocalScheme.tagBits] = 2
        #expect(throws: ConfigurationError.self) { try HandleLocalScheme.makeShared(options: options, threads: 1) }
        #expect(throws: ConfigurationError.self) { try HandleLocalScheme.tagBits.declaration.parse("3") }
    }

    /// An int made while objects come and go in the table: it gets no slot, costs no atomic, no
    /// table event and no free, and reads back its value after every operation a handle can see.
    @Test(arguments: widths)
    func taggedIntIsNeverCountedAndSurvivesEveryOperation(width: Width) throws {
        var (scheme, pool) = try Self.scheme(width)
        defer { pool.deallocate() }
        let number = Number.int(-123_456)
        let object = pool.bear(0, flags: [])
        let objectHandle = scheme.new(object)
        let before = scheme.counters
        let header = headerWords(object)

        let tagged = scheme.immediate(number)
        #expect(tagged != .null)
        #expect(scheme.read(tagged) == number.bits)
        scheme.enterScope()
        let duplicates = (0..<5).map { _ in scheme.dup(tagged) }
        #expect(duplicates.allSatisfy { $0 == tagged })
        duplicates.forEach { scheme.close($0) }
        scheme.close(tagged)
        #expect(scheme.read(tagged) == number.bits, "a close of an immediate ended it")
        let returned = scheme.returning(tagged)
        scheme.exitScope()
        scheme.safePoint()
        scheme.flush()
        #expect(scheme.read(returned) == number.bits)
        #expect(scheme.counters == before, "an immediate was counted")
        #expect(headerWords(object) == header, "an immediate wrote an object's header")

        scheme.close(objectHandle)
        scheme.threadExit()
        #expect(object.timesFreed == 1)
        #expect(pool.validateLifetimes() == nil)
    }

    @Test func twoTagBitsHoldAFloatAndOneDoesNot() throws {
        let number = Number.float(-2.75)
        var (two, twoPool) = try Self.scheme(Width(index: .low4, tagBits: 2))
        var (one, onePool) = try Self.scheme(Width(index: .low4, tagBits: 1))
        defer {
            two.threadExit()
            one.threadExit()
            twoPool.deallocate()
            onePool.deallocate()
        }
        let tagged = two.immediate(number)
        #expect(tagged != .null)
        #expect(two.read(tagged) == number.bits)
        #expect(one.immediate(number) == .null)
        #expect(two.immediate(.other) == .null)
    }

    /// Over random aligned addresses, slots and values: an object handle's tag field is 0 and it
    /// names its object and slot; an immediate's tag field is not 0 and it reads back its value;
    /// the tag field and the index field share no bit.
    @Test(arguments: widths)
    func tagBitsNeverCollideWithIndexBits(width: Width) throws {
        let (scheme, pool) = try Self.scheme(width)
        defer {
            var ended = scheme
            ended.threadExit()
            pool.deallocate()
        }
        let tags = scheme.tags
        #expect(tags.mask & scheme.table.indexMask == 0)
        #expect(tags.mask != 0)
        var generator = SplitMix64(seed: 0x7A6_B175)
        let slots = UInt64(HandleTags.slotCount(width.index, tagBits: width.tagBits))
        let alignment = UInt64(width.index.requiredAlignment)
        for _ in 0..<1000 {
            let address = (generator.next() & (1 << 47 - 1)) / alignment * alignment | alignment
            let object = ObjectRef(address: UnsafeMutableRawPointer(bitPattern: UInt(address))!)
            let slot = Int(generator.next() % (slots + 1))
            let objectHandle = scheme.table.handle(object, slot: slot)
            #expect(!tags.isImmediate(objectHandle))
            #expect(scheme.object(of: objectHandle) == object)
            #expect(scheme.table.slot(of: objectHandle) == slot)

            let value = Int32(truncatingIfNeeded: generator.next())
            let number: Number = generator.next() & 1 == 0 ? .int(value) : .float(Float(value) / 4)
            let immediate = tags.immediate(number)
            if immediate == .null {
                #expect(number.kind == .float && width.tagBits < 2 || width.index == .high16 && number.kind == .float)
                continue
            }
            #expect(tags.isImmediate(immediate))
            #expect(immediate.bits & tags.mask != 0)
            #expect(tags.value(of: immediate) == number.bits)
            if width.index == .low3HPy { #expect(immediate.bits & 1 == 0, "HPy's own tag bit was used") }
        }
    }
}
