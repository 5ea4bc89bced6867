/// The breaches of the handle contract the debug context finds: DESIGN.md's seven, by the names
/// the command line uses (`stress --inject`), and one more for values no context ever made.
public enum ViolationKind: String, CaseIterable, Sendable, Comparable {
    /// 1. A local handle used in a thread other than the one that made it.
    case wrongThread = "wrong-thread"
    /// 2. A handle used after it was closed (while its record waits in the closed queue).
    case useAfterClose = "use-after-close"
    /// 3. A handle closed twice.
    case doubleClose = "double-close"
    /// 4. A handle still open when its scope exits (or its thread does).
    case leak
    /// 5. A local handle that escapes its scope: used after the scope exited, or kept in a
    /// field, a global or a channel as it is, with no conversion to a non-local reference.
    case escape
    /// 6. A borrowed handle (one the scope did not make: an argument) closed, or returned without
    /// a `dup`.
    case closeBorrowed = "close-borrowed"
    /// 7. A context called by a thread other than the one it belongs to.
    case wrongContext = "wrong-context"
    /// Not one of DESIGN.md's seven: a value that no context of the run made (null, garbage).
    case invalidHandle = "invalid-handle"

    /// The kinds `stress` can inject: all but `invalidHandle`.
    public static let injectable: [ViolationKind] = allCases.filter { $0 != .invalidHandle }

    var code: UInt8 { UInt8(ViolationKind.allCases.firstIndex(of: self)!) }
    init(code: UInt8) { self = ViolationKind.allCases[Int(code)] }

    public static func < (a: ViolationKind, b: ViolationKind) -> Bool { a.code < b.code }

    /// Parses `all`, `none` or a comma-separated list of injectable kinds.
    public static func parseList(_ text: String) throws -> [ViolationKind] {
        switch text {
        case "all": return injectable
        case "none": return []
        default:
            let names = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingWhitespace }
            return try names.map { name in
                guard let kind = ViolationKind(rawValue: name), kind != .invalidHandle else {
                    throw ConfigurationError("unknown violation kind '\(name)'; valid: all, none, \(injectable.map(\.rawValue).joined(separator: ", "))")
                }
                return kind
            }
        }
    }
}

extension Substring {
    var trimmingWhitespace: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}

/// What the debug context does when it finds a violation.
public enum ViolationPolicy: String, CaseIterable, Sendable {
    /// Print the report on stderr and stop the program at once (exit status 1), as HPy's debug
    /// mode does.
    case abort
    /// Count and keep the report; the violating operation is neutralised (see `DebugContext`).
    case collect
}

/// Options of the debug context; the other contexts ignore them.
public struct DebugOptions: Sendable, Equatable {
    /// Closed handles whose records wait before they are reused: a use after close is caught
    /// while the handle's record has not been reused, at least for the next `closedQueue` closes.
    public var closedQueue = 1024
    public var onViolation = ViolationPolicy.abort
    /// Capture the stack where each handle is opened, and add it and the stack of the violating
    /// call to each report, so a leak report says where the leaked handle was made.
    public var backtraces = false

    public static let maximumClosedQueue = 1 << 20

    public init() {}

    public func validate() throws {
        guard closedQueue >= 1 && closedQueue <= DebugOptions.maximumClosedQueue else {
            throw ConfigurationError("--closed-queue must be between 1 and \(DebugOptions.maximumClosedQueue), got \(closedQueue)")
        }
    }
}

/// The operation a report is about.
enum DebugOperation: UInt8 {
    case new, open, dup, close, read, object, retain, release, transfer, adopt, returning, enterScope, exitScope
    case storeIntoField, storeIntoGlobal, send, threadExit, load

    var verb: String {
        switch self {
        case .new: "new"
        case .open: "open"
        case .dup: "dup"
        case .close: "close"
        case .read: "read"
        case .object: "store (field conversion)"
        case .retain: "retain"
        case .release: "release"
        case .transfer: "send"
        case .adopt: "receive"
        case .returning: "return"
        case .enterScope: "enter"
        case .exitScope: "exit"
        case .storeIntoField: "store of the handle itself into a field"
        case .storeIntoGlobal: "store of the handle itself into a global"
        case .send: "send of the handle itself"
        case .threadExit: "thread exit"
        case .load: "load"
        }
    }
}

/// Where an extension keeps or sends a handle as it is (`CountingScheme.escapeUnconverted`).
public enum EscapeRoute: Sendable {
    case field, global, channel

    var operation: DebugOperation {
        switch self {
        case .field: .storeIntoField
        case .global: .storeIntoGlobal
        case .channel: .send
        }
    }
}

/// One violation as the debug context found it.
public struct ViolationReport: Sendable, CustomStringConvertible {
    public var kind: ViolationKind
    /// The thread that made the call (its run thread ID: 1 the main thread, workers from 2).
    public var thread: Int
    /// The handle's bits (0 for a report about a context).
    public var handle: UInt64
    /// The index of the violating call in the thread's stream: the calls the thread made through
    /// its debug context before it, counting from 0.
    public var operationIndex: Int
    /// Where the handle was opened (the opening call's index in its owner's stream), -1 if unknown.
    public var openedAt: Int
    /// Where the handle was closed, -1 if it was not.
    public var closedAt: Int
    /// The thread the handle, or the context, belongs to.
    public var owner: Int
    /// The scope depth of the call, and the depth the handle was made at (-1 if unknown).
    public var depth: Int
    public var handleDepth: Int
    var operation: DebugOperation
    /// The symbolised stack of the call, with `--backtraces`.
    public var backtrace: [String]?
    /// The symbolised stack of the call that opened the handle, with `--backtraces`: where a
    /// leaked (or otherwise misused) handle was made.
    public var openingBacktrace: [String]?
    /// The extension function the thread called last (`--workload hpy`): the one that made the
    /// call, or, for a leak at a scope's exit, the one whose scope it was.
    public var extensionFunction: String?

    public var operationName: String { operation.verb }

    public var description: String {
        let handleText = "handle 0x" + String(handle, radix: 16)
        let opened = openedAt >= 0 ? "opened at op \(openedAt)" : "opened where unknown"
        let call = "at op \(operationIndex) (\(operation.verb))"
        let what: String
        switch kind {
        case .wrongThread:
            what = "thread \(thread) used \(handleText) \(call); it belongs to thread \(owner), which \(opened)"
        case .useAfterClose:
            let closed = closedAt >= 0 ? "closed at op \(closedAt)" : "closed, and its record left the closed queue"
            what = "thread \(thread) used \(handleText) \(call); it was \(opened) and \(closed)"
        case .doubleClose:
            let closed = closedAt >= 0 ? "already closed at op \(closedAt)" : "already closed (its record left the closed queue)"
            what = "thread \(thread) closed \(handleText) \(call); it was \(opened) and \(closed)"
        case .leak:
            let place = operation == .threadExit ? "when the thread exited" : "at the exit of its scope (depth \(handleDepth))"
            what = "thread \(thread) left \(handleText) open \(place), \(call); it was \(opened)"
        case .escape:
            switch operation {
            case .storeIntoField, .storeIntoGlobal, .send:
                what = "thread \(thread) let \(handleText) escape \(call) without conversion to a non-local reference; it was \(opened) at depth \(handleDepth)"
            default:
                let exited = closedAt >= 0 ? "its scope exited at op \(closedAt)" : "its scope exited"
                what = "thread \(thread) used \(handleText) \(call) after \(exited); it was \(opened) at depth \(handleDepth)"
            }
        case .closeBorrowed:
            let action = operation == .returning ? "returned borrowed \(handleText) without dup" : "closed borrowed \(handleText)"
            what = "thread \(thread) \(action) \(call) in scope depth \(depth); it was made by an outer scope (depth \(handleDepth)), \(opened)"
        case .wrongContext:
            what = "thread \(thread) called the context of thread \(owner) \(call)"
        case .invalidHandle:
            what = "thread \(thread) used \(handleText) \(call), which no context of this run made"
        }
        return "\(kind.rawValue): \(what)" + (extensionFunction.map { " [extension function \($0)]" } ?? "")
    }

    /// The report with its stack, one line each.
    public var fullText: String {
        var lines = [description] + (backtrace ?? []).map { "    " + $0 }
        if let openingBacktrace, !openingBacktrace.isEmpty {
            lines += ["  the handle was opened at:"] + openingBacktrace.map { "    " + $0 }
        }
        return lines.joined(separator: "\n")
    }
}

/// What the debug contexts of a run found: counts by kind, the reports, and how many calls they
/// checked.
public struct ContractSummary: Sendable {
    public var counts: [ViolationKind: Int] = [:]
    /// Every report kept, thread by thread in the order found (each thread keeps its first
    /// `DebugRecords.reportLimit`).
    public var reports: [ViolationReport] = []
    public var checkedOperations = 0

    public init() {}

    public var total: Int { counts.values.reduce(0, +) }

    /// `kind=count` for each kind found, in DESIGN.md's order, separated by semicolons.
    public var countsText: String {
        counts.keys.sorted().filter { counts[$0]! > 0 }.map { "\($0.rawValue)=\(counts[$0]!)" }.joined(separator: ";")
    }
}
