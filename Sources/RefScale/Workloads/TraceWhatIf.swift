/// A change to some objects of a trace before it is replayed (`--what-if`): the question "what
/// would making these objects immortal, or deferred, buy?".
///
/// Spellings:
///     none                  no change
///     immortal:topN         the N objects with the most increments and decrements among those
///                           more than one traced thread counts, made immortal (PEP 683)
///     immortal:types        every object of a type-like type (`typeLikeTypes`), made immortal, as
///                           CPython 3.13 does once a second thread starts (gh-117783)
///     immortal:ID,ID,...    the objects with those numbers (as `trace info` and `trace attribute`
///                           print them); a bare list means the same
///     deferred:topN, deferred:types, deferred:ID,...
///                           the interpreter's own increments and decrements of those objects are
///                           not performed, as CPython 3.14's deferred counting leaves the stack's
///                           references to such objects uncounted (`_PyObject_SetDeferredRefcount`,
///                           `PyStackRef_FromPyObjectNew`); extension events still count
///
/// The ranking of `topN` depends on the trace alone, so the changed stream is the same for every
/// scheme.
public struct TraceWhatIf: Sendable, Equatable {
    public enum Change: String, Sendable { case immortal, deferred }
    public enum Selection: Sendable, Equatable {
        case top(Int)
        case types
        case objects([Int])
    }

    public var change: Change
    public var selection: Selection?

    public static let none = TraceWhatIf(change: .immortal, selection: nil)

    /// Types, functions, modules and code: the objects CPython 3.13 immortalises and 3.14 defers.
    public static let typeLikeTypes: Set<String> = ["type", "function", "module", "code"]

    /// The objects chosen and how they change, one flag per object of the trace.
    public struct Resolved: Sendable, Equatable {
        public var immortal: [Bool]
        public var deferred: [Bool]
        public var chosen: [Int]

        public static func unchanged(objects: Int) -> Resolved {
            Resolved(immortal: Array(repeating: false, count: objects), deferred: Array(repeating: false, count: objects), chosen: [])
        }
    }

    public init(change: Change, selection: Selection?) {
        self.change = change
        self.selection = selection
    }

    public init(parsing text: String) throws(ConfigurationError) {
        if text == "none" {
            self = .none
            return
        }
        var change = Change.immortal
        var rest = Substring(text)
        if let colon = text.firstIndex(of: ":") {
            guard let named = Change(rawValue: String(text[..<colon])) else {
                throw ConfigurationError(option: "what_if", "takes none, immortal:... or deferred:..., got '\(text)'")
            }
            change = named
            rest = text[text.index(after: colon)...]
        }
        if rest == "types" {
            self.init(change: change, selection: .types)
        } else if rest.hasPrefix("top"), let count = Int(rest.dropFirst(3)), count >= 1 {
            self.init(change: change, selection: .top(count))
        } else {
            let ids = rest.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
            guard !ids.isEmpty, ids.allSatisfy({ $0 != nil && $0! >= 0 }) else {
                throw ConfigurationError(option: "what_if", "takes none, immortal:topN, immortal:types, deferred:types or object numbers separated by commas, got '\(text)'")
            }
            self.init(change: change, selection: .objects(ids.map { $0! }))
        }
    }

    /// The objects of `trace` this change names; throws when it names objects the trace lacks.
    public func resolve(in trace: Trace) throws(ConfigurationError) -> Resolved {
        var resolved = Resolved.unchanged(objects: trace.objects.count)
        guard let selection else { return resolved }
        let chosen: [Int]
        switch selection {
        case .objects(let ids):
            if let missing = ids.first(where: { $0 >= trace.objects.count }) {
                throw ConfigurationError(option: "what_if", "names object \(missing), but the trace has objects 0 to \(trace.objects.count - 1)")
            }
            chosen = ids
        case .types:
            chosen = trace.objects.indices.filter { Self.typeLikeTypes.contains(trace.types[trace.objects[$0].typeIndex]) }
        case .top(let count):
            let ranked = Self.mostSharedObjects(trace)
            guard ranked.count >= count else {
                throw ConfigurationError(option: "what_if", "asks for the top \(count) objects more than one thread counts; the trace has \(ranked.count)")
            }
            chosen = Array(ranked.prefix(count))
        }
        for object in chosen {
            switch change {
            case .immortal: resolved.immortal[object] = true
            case .deferred: resolved.deferred[object] = true
            }
        }
        resolved.chosen = chosen
        return resolved
    }

    /// The mortal objects more than one traced thread counts, most increments and decrements
    /// first (ties: the lower number first).
    public static func mostSharedObjects(_ trace: Trace) -> [Int] {
        let count = trace.objects.count
        var operations = [Int](repeating: 0, count: count)
        var firstThread = [Int](repeating: -1, count: count)
        var shared = [Bool](repeating: false, count: count)
        for (thread, events) in trace.threads.map(\.events).enumerated() {
            for event in events {
                let object = Int(event.object)
                if event.kind == .incref || event.kind == .decref { operations[object] += 1 }
                if firstThread[object] < 0 { firstThread[object] = thread } else if firstThread[object] != thread { shared[object] = true }
            }
        }
        return (0 ..< count).filter { shared[$0] && !trace.objects[$0].immortalIn312 }
            .sorted { (operations[$0], $1) > (operations[$1], $0) }
    }
}
