/// A reference-count trace of a real Python program, recorded by `refscale trace record` from
/// an instrumented CPython 3.11 (Tools/cpython-trace). The byte format is `TraceFile`'s,
/// documented in Experiments/traces/FORMAT.md.
///
/// Invariants (checked by `TraceFile.decode`, kept by `RawTraceDump.convert`):
/// - an object is one lifetime of one address: a birth starts a new object, a death ends it,
///   and an address first met at an increment or decrement is an object alive before the
///   trace began, whose count then is its `firstCount`;
/// - objects are numbered in the order the trace first meets them, every type index names an
///   entry of `types`, and every event names an object of `objects`;
/// - each thread's events are in the order the thread performed them; its `segments` say where
///   each run of its events falls in the one order of the whole program (CPython 3.11 counts
///   only under its GIL, so that order is total): together the segments of all threads cover
///   event numbers `0 ..< eventCount` exactly once.
public struct Trace: Equatable, Sendable {
    public var header: TraceHeader
    /// Type names (`tp_name`), each once.
    public var types: [String]
    public var objects: [TraceObject]
    public var threads: [TraceThread]

    public init(header: TraceHeader, types: [String], objects: [TraceObject], threads: [TraceThread]) {
        self.header = header
        self.types = types
        self.objects = objects
        self.threads = threads
    }

    public var eventCount: Int { threads.reduce(0) { $0 + $1.events.count } }
}

public struct TraceHeader: Equatable, Sendable {
    /// `sys.version` of the interpreter that ran the program.
    public var interpreter: String
    /// The program as given to `trace record`, and its arguments.
    public var program: String
    public var arguments: [String]

    public init(interpreter: String, program: String, arguments: [String]) {
        self.interpreter = interpreter
        self.program = program
        self.arguments = arguments
    }
}

public struct TraceObject: Equatable, Sendable {
    public var typeIndex: Int
    /// The count before the object's first event: 0 for an object born in the trace.
    public var firstCount: Int
    /// CPython 3.12 or later would make the object immortal (None, True, False, small ints,
    /// statically allocated strings, interned strings, the empty tuple, built-in static types).
    public var immortalIn312: Bool

    public init(typeIndex: Int, firstCount: Int, immortalIn312: Bool) {
        self.typeIndex = typeIndex
        self.firstCount = firstCount
        self.immortalIn312 = immortalIn312
    }
}

public struct TraceThread: Equatable, Sendable {
    public var events: [TraceEvent]
    public var segments: [TraceSegment]

    public init(events: [TraceEvent], segments: [TraceSegment]) {
        self.events = events
        self.segments = segments
    }
}

/// A run of one thread's consecutive events: they are events `start ..< start + count` of the
/// whole program's order.
public struct TraceSegment: Equatable, Sendable {
    public var start: Int
    public var count: Int

    public init(start: Int, count: Int) {
        self.start = start
        self.count = count
    }
}

public struct TraceEvent: Equatable, Sendable {
    public var kind: Kind
    public var site: Site
    public var object: UInt32

    public init(_ kind: Kind, _ site: Site, object: UInt32) {
        self.kind = kind
        self.site = site
        self.object = object
    }

    /// The hooks of the patch: `_Py_NewReference`, `Py_INCREF`, `Py_DECREF` (and the
    /// interpreter's specialised decrements, `_Py_DECREF_SPECIALIZED`, `_Py_DECREF_NO_DEALLOC`),
    /// `_Py_Dealloc` (and a specialised decrement reaching 0).
    public enum Kind: UInt8, CaseIterable, Sendable {
        case birth = 0, incref, decref, death

        public var name: String {
            switch self {
            case .birth: "birth"
            case .incref: "incref"
            case .decref: "decref"
            case .death: "death"
            }
        }
    }

    /// Where the code that counted lives: the interpreter's own image (libpython and the
    /// modules built into it) or an extension module, a shared object of its own. Births and
    /// deaths are always reached through the interpreter's functions.
    public enum Site: UInt8, CaseIterable, Sendable {
        case interpreter = 0, extensionModule

        public var name: String {
            switch self {
            case .interpreter: "interpreter"
            case .extensionModule: "extension"
            }
        }
    }
}

/// A trace that cannot be read: one line naming the problem.
public struct TraceFormatError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
