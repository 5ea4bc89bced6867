/// The building block of `handle-local`, the seed talk's proposal (a handle is `address | i`, the
/// low bits `i` index a thread-local reference-count table; DESIGN.md, `handle-local`). No
/// runtime ships it, so no runtime function is modelled; the slot choice follows the design's
/// "eviction by use (clock or LRU)". The table is one thread's (object, count) slots, the lookup
/// that finds an object's slot, the choice of a slot to fill (a free one, else a slot whose count
/// is 0, chosen by a clock over use counts), and the list of slots waiting for the next flush. It counts no
/// shared reference and touches no object: what a slot holds, and when it is given back, is the
/// scheme's (`HandleLocalScheme`), so another policy or a tagging variant reuses the table as it is.
///
/// Memory: slots `1...slotCount` of `slotBytes` (32) bytes each, after slot 0, which no handle
/// names (index 0 means "no slot") and which holds the table's own words instead:
///
///     slot s (s >= 1)                          slot 0
///      0  object   address, `emptySlot`,        0  safe points left before the next flush
///                  or `tombstone`
///      8  count    the thread's open handles    -
///                  with index s
///     16  uses     opens since filled,          16  the clock hand (a scanned table)
///                  saturating at `maxUses`
///     24  extra    bits 0..<62: shared           24  slots in the pending list
///                  references the slot holds
///                  beyond its first; bit 63:
///                  noted in the pending list
///
/// A handle's index bits, masked and rotated, are its slot's byte offset (`offset(of:)`): one AND
/// and one rotate, whatever the width.
///
/// Lookup:
/// - A scanned table (`slotCount <= scanLimit`: low3-hpy, low3, low4) is searched slot by slot.
/// - A hashed table (high16) is open-addressed by object address with linear probing over slots
///   1...slotCount; an object's slot is its index, so a live entry is never moved. Its home slot
///   is a multiply-shift of the address hash onto 1...slotCount (no division). A vacated slot
///   becomes a tombstone (lookups probe past it), or empty when the next slot is empty, and the
///   tombstones before it become empty too. Probes stop after `maxProbe` slots.
///
/// Eviction (GCLOCK, a clock over use counts): a slot is filled with `uses` 0 and each open that
/// finds it adds 1, up to `maxUses`. To make room, the hand sweeps the slots (a hashed table: the
/// probe window) and passes over those whose count is not 0; a slot of count 0 with uses left
/// loses one and is passed over, the first with none is evicted. So an object must be opened again
/// to keep its slot against newcomers, and the most often opened objects (a type, a constant, a
/// popular global) stay: on a Zipf-skewed stream the opens served exceed those of plain LRU, which
/// evicts a hot object after a run of one-off ones.
///
/// Invariants:
/// - One thread owns the table; nothing in it is atomic and no other thread reads it.
/// - An object sits in at most one slot.
/// - Every occupied slot whose count is 0 has its pending bit set and is in the pending list,
///   which holds each slot at most once: at most `slotCount` entries, so it never overflows and a
///   flush visits only the slots it lists.
struct LocalReferenceTable {
    /// The object word of a slot that holds nothing and, in a hashed table, ends every probe.
    static let emptySlot: UInt = 0
    /// The object word of a vacated slot of a hashed table, which lookups probe past. Addresses
    /// are at least 8-byte aligned, so 1 is never an object.
    static let tombstone: UInt = 1
    /// Tables with more slots than this are searched by hash instead of by a scan.
    static let scanLimit = 64
    /// The longest probe sequence of a hashed table.
    static let maxProbe = 64
    static let slotBytes = 32
    /// The most uses a slot accumulates: how many sweeps of the hand a hot slot survives idle.
    static let maxUses: UInt = 3
    static let slotShift: UInt64 = 5
    /// Bit 63 of a slot's `extra` word: the slot is in the pending list.
    static let pendingBit: UInt64 = 1 << 63
    /// The rest of the `extra` word: shared references held beyond the slot's first.
    static let extraMask: UInt64 = ~pendingBit

    let base: UnsafeMutableRawPointer
    let slotCount: Int
    let isHashed: Bool
    /// The handle's index bits, in place, and the position of their lowest bit.
    let indexMask: UInt64
    let indexShift: UInt64
    /// The right rotation that turns the masked index bits into the slot's byte offset
    /// (`index * slotBytes`): `indexShift - slotShift`, modulo 64.
    let offsetRotation: UInt64
    /// The pending list: slot indices, `pendingCount` of them.
    let pending: UnsafeMutablePointer<Int32>

    /// A table of `slotCount` slots (a power of two minus one) whose index sits in a handle's bits
    /// from `indexShift` up.
    init(slotCount: Int, indexShift: Int) {
        precondition(slotCount > 0 && (slotCount + 1) & slotCount == 0, "slot count must be 2^k - 1, got \(slotCount)")
        self.slotCount = slotCount
        self.indexShift = UInt64(indexShift)
        indexMask = UInt64(slotCount) << UInt64(indexShift)
        offsetRotation = (UInt64(indexShift) &- LocalReferenceTable.slotShift) & 63
        isHashed = slotCount > LocalReferenceTable.scanLimit
        let bytes = (slotCount + 1) * LocalReferenceTable.slotBytes
        base = .allocate(byteCount: bytes, alignment: 128)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        pending = .allocate(capacity: slotCount)
    }

    func deallocate() {
        base.deallocate()
        pending.deallocate()
    }

    // MARK: Words

    @inline(__always)
    func word(_ slot: Int, _ byte: Int) -> UnsafeMutablePointer<UInt> {
        (base + slot &* LocalReferenceTable.slotBytes + byte).assumingMemoryBound(to: UInt.self)
    }

    @inline(__always)
    func objectWord(_ slot: Int) -> UnsafeMutablePointer<UInt> { word(slot, 0) }

    /// The slot's count at a byte offset (`offset(of:)`), as a word in memory: a plain load and
    /// store, never folded by the optimiser.
    @inline(__always)
    func countWord(atOffset offset: Int) -> UnsafeMutablePointer<Int> {
        (base + offset + 8).assumingMemoryBound(to: Int.self)
    }

    @inline(__always)
    func countWord(_ slot: Int) -> UnsafeMutablePointer<Int> { countWord(atOffset: slot &* LocalReferenceTable.slotBytes) }

    @inline(__always)
    func count(_ slot: Int) -> Int { countWord(slot).pointee }

    @inline(__always)
    func extraWord(_ slot: Int) -> UnsafeMutablePointer<UInt64> {
        (base + slot &* LocalReferenceTable.slotBytes + 24).assumingMemoryBound(to: UInt64.self)
    }

    /// Shared references the slot holds beyond its first.
    @inline(__always)
    func extraReferences(_ slot: Int) -> Int { Int(truncatingIfNeeded: extraWord(slot).pointee & LocalReferenceTable.extraMask) }

    @inline(__always)
    func addExtraReferences(_ slot: Int, _ delta: Int) {
        extraWord(slot).pointee = extraWord(slot).pointee &+ UInt64(bitPattern: Int64(delta))
    }

    var hand: UnsafeMutablePointer<UInt> { word(0, 16) }
    /// The owner's count of safe points until its next flush (the scheme's policy; kept here so
    /// the scheme's own state is never written outside its table).
    var safePointCountdown: UnsafeMutablePointer<Int> { base.assumingMemoryBound(to: Int.self) }
    var pendingCount: UnsafeMutablePointer<Int> { (base + 24).assumingMemoryBound(to: Int.self) }

    /// Whether the slot holds an object.
    @inline(__always)
    func isOccupied(_ slot: Int) -> Bool { objectWord(slot).pointee > LocalReferenceTable.tombstone }

    func occupant(of slot: Int) -> ObjectRef {
        ObjectRef(address: UnsafeMutableRawPointer(bitPattern: objectWord(slot).pointee)!)
    }

    // MARK: Handles

    /// The byte offset of the handle's slot, 0 for index 0.
    @inline(__always)
    func offset(of handle: Handle) -> Int {
        let index = handle.bits & indexMask
        return Int(truncatingIfNeeded: index &>> offsetRotation | index &<< (64 &- offsetRotation))
    }

    @inline(__always)
    func slot(of handle: Handle) -> Int { offset(of: handle) &>> Int(LocalReferenceTable.slotShift) }

    @inline(__always)
    func handle(_ object: ObjectRef, slot: Int) -> Handle {
        Handle(bits: Handle(object).bits | UInt64(truncatingIfNeeded: slot) << indexShift)
    }

    // MARK: Lookup

    /// The slot holding `address`, or 0.
    @inline(__always)
    func find(_ address: UInt) -> Int { isHashed ? probe(for: address) : scan(for: address) }

    func scan(for address: UInt) -> Int {
        var slot = 1
        while slot <= slotCount {
            if objectWord(slot).pointee == address { return slot }
            slot &+= 1
        }
        return 0
    }

    /// The first slot of `address`'s probe sequence: the top 32 bits of a Fibonacci hash,
    /// multiplied onto 0..<slotCount and shifted back (Lemire's reduction: no division).
    @inline(__always)
    func homeSlot(of address: UInt) -> Int {
        let hash = (UInt64(address) &>> 3) &* 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: ((hash &>> 32) &* UInt64(slotCount)) &>> 32) &+ 1
    }

    @inline(__always)
    func slot(after slot: Int) -> Int { slot == slotCount ? 1 : slot &+ 1 }

    @inline(__always)
    func slot(before slot: Int) -> Int { slot == 1 ? slotCount : slot &- 1 }

    /// Probes from the home slot past tombstones and other objects; stops at an empty slot or
    /// after `maxProbe` slots.
    func probe(for address: UInt) -> Int {
        var slot = homeSlot(of: address)
        for _ in 0..<LocalReferenceTable.maxProbe {
            let word = objectWord(slot).pointee
            if word == address { return slot }
            if word == LocalReferenceTable.emptySlot { return 0 }
            slot = self.slot(after: slot)
        }
        return 0
    }

    /// The slot to fill with `address` (which is in no slot): a free one if there is one, else the
    /// slot of count 0 the clock evicts, which the caller empties first; 0 when every candidate is
    /// in use. A hashed table looks in `address`'s probe window only.
    func slotToFill(for address: UInt) -> Int {
        let first = isHashed ? homeSlot(of: address) : 1
        let candidates = isHashed ? LocalReferenceTable.maxProbe : slotCount
        var slot = first
        for _ in 0..<candidates {
            if objectWord(slot).pointee <= LocalReferenceTable.tombstone { return slot }
            slot = self.slot(after: slot)
        }
        // The sweep: a hashed table's from the window's start, a scanned table's from its hand.
        var position = isHashed ? 0 : Int(truncatingIfNeeded: hand.pointee)
        var candidate = isHashed ? first : position &+ 1
        for _ in 0..<(candidates &* Int(LocalReferenceTable.maxUses &+ 1)) {
            let current = candidate
            position &+= 1
            if position == candidates {
                position = 0
                candidate = first
            } else {
                candidate = self.slot(after: candidate)
            }
            guard count(current) == 0 else { continue }
            let uses = word(current, 16)
            if uses.pointee == 0 {
                if !isHashed { hand.pointee = UInt(position) }
                return current
            }
            uses.pointee &-= 1
        }
        return 0
    }

    // MARK: Changes

    /// Counts an open that found the slot.
    @inline(__always)
    func touch(_ slot: Int) {
        let uses = word(slot, 16)
        if uses.pointee < LocalReferenceTable.maxUses { uses.pointee &+= 1 }
    }

    /// Puts `object` in a free slot with count 1 and one shared reference.
    func fill(_ slot: Int, with object: ObjectRef) {
        objectWord(slot).pointee = UInt(bitPattern: object.address)
        countWord(slot).pointee = 1
        extraWord(slot).pointee &= LocalReferenceTable.pendingBit
        word(slot, 16).pointee = 0
    }

    /// Empties an occupied slot. In a hashed table it becomes a tombstone, unless the next slot
    /// is empty: then no live entry's probe path crosses it, and it and the tombstones before it
    /// become empty.
    func vacate(_ slot: Int) {
        extraWord(slot).pointee &= LocalReferenceTable.pendingBit
        guard isHashed else {
            objectWord(slot).pointee = LocalReferenceTable.emptySlot
            return
        }
        if objectWord(self.slot(after: slot)).pointee != LocalReferenceTable.emptySlot {
            objectWord(slot).pointee = LocalReferenceTable.tombstone
            return
        }
        var current = slot
        repeat {
            objectWord(current).pointee = LocalReferenceTable.emptySlot
            current = self.slot(before: current)
        } while objectWord(current).pointee == LocalReferenceTable.tombstone
    }

    /// Notes a slot whose count reached 0 for the next flush, once; returns the slots listed.
    func notePending(_ slot: Int) -> Int {
        let extra = extraWord(slot)
        let listed = pendingCount.pointee
        guard extra.pointee & LocalReferenceTable.pendingBit == 0 else { return listed }
        extra.pointee |= LocalReferenceTable.pendingBit
        pending[listed] = Int32(truncatingIfNeeded: slot)
        pendingCount.pointee = listed &+ 1
        return listed &+ 1
    }

    /// Empties the pending list, calling `release` for each listed slot that still holds an
    /// object with count 0. Visits the listed slots only.
    func flushPending(_ release: (Int) -> Void) {
        let listed = pendingCount.pointee
        pendingCount.pointee = 0
        for index in 0..<listed {
            let slot = Int(pending[index])
            extraWord(slot).pointee &= LocalReferenceTable.extraMask
            if isOccupied(slot) && count(slot) == 0 { release(slot) }
        }
    }
}
