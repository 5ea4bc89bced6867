/// Where `handle-local` keeps the table index in a handle.
public enum HandleIndex: String, CaseIterable, Sendable, OptionValueConvertible {
    /// Bits 1 and 2 of an 8-byte-aligned address, bit 0 left to HPy's own tag: 3 slots. HPy's
    /// `hpy/universal/src/handles.h` (`_py2h`) makes a universal handle `PyObject* + 1`, so bit 0
    /// is set on universal handles and clear on debug handles (`DebugHandle*`). A choice: the
    /// model leaves bit 0 clear in every handle (reserving it costs the slots, which is what the
    /// width measures; setting it would add one OR and one AND per handle).
    case low3HPy = "low3-hpy"
    /// The low 3 bits of an 8-byte-aligned address: 7 slots.
    case low3
    /// The low 4 bits of a 16-byte-aligned address: 15 slots.
    case low4
    /// Bits 48..63, which no x86-64 user address uses: 65535 slots, found on `open` by a hash
    /// lookup rather than a scan.
    case high16

    public var slotCount: Int {
        switch self {
        case .low3HPy: 3
        case .low3: 7
        case .low4: 15
        case .high16: 65535
        }
    }

    /// The position of the index's lowest bit in a handle.
    public var shift: Int {
        switch self {
        case .low3HPy: 1
        case .low3, .low4: 0
        case .high16: 48
        }
    }

    /// The mask of the handle's index bits, in place.
    public var mask: UInt64 { UInt64(slotCount) << UInt64(shift) }
    /// The object alignment the index needs: the low bits it uses must be zero in every address.
    public var requiredAlignment: Int {
        switch self {
        case .low3HPy, .low3: 8
        case .low4: 16
        case .high16: 8
        }
    }
}

/// When `handle-local` gives back the thread's shared reference of a slot whose count is 0.
public enum ReleasePolicy: String, CaseIterable, Sendable, OptionValueConvertible {
    /// At once, when the count reaches 0.
    case eager
    /// At the next flush: a safe point, thread exit, or eviction of the slot (not scope exit).
    case lazy
}
