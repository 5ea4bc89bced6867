import CNuma
import CRefScale
import Glibc
import RefScale

/// Where workers run (`--pin`). A pinned worker pins itself before its set-up, so the objects it
/// makes are first touched on its CPU's node.
public enum Pinning: Sendable, Equatable, CustomStringConvertible {
    /// Wherever the kernel schedules them.
    case none
    /// Worker i on the i-th CPU the process may use, in ascending order: neighbours share
    /// caches and a node, as threads of one process usually do.
    case compact
    /// Round-robin over the NUMA nodes, then over the CPUs within each node: worker 0 on the
    /// first CPU of node 0, worker 1 on the first CPU of node 1, and so on.
    case scatter

    public static let names = ["none", "compact", "scatter"]

    /// The policy of a name; throws the valid names when it is none.
    public init(name: String) throws {
        switch name {
        case "none": self = .none
        case "compact": self = .compact
        case "scatter": self = .scatter
        default: throw UsageError("--pin must be one of \(Pinning.names.joined(separator: ", ")), got '\(name)'")
        }
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .compact: "compact"
        case .scatter: "scatter"
        }
    }

    /// The CPU of each of `workers` workers, nil for `none`. Workers beyond the CPUs wrap around.
    public func cpus(workers: Int, topology: NUMATopology = .current) -> [Int]? {
        let order: [Int]
        switch self {
        case .none: return nil
        case .compact:
            order = CPUSet(topology.nodes.flatMap(\.cpus.cpus)).cpus
        case .scatter:
            let perNode = topology.nodes.map(\.cpus.cpus).filter { !$0.isEmpty }
            let depth = perNode.map(\.count).max() ?? 0
            order = (0..<depth).flatMap { rank in perNode.compactMap { rank < $0.count ? $0[rank] : nil } }
        }
        precondition(!order.isEmpty, "no CPU to pin workers to")
        return (0..<workers).map { order[$0 % order.count] }
    }
}

/// Where object memory lives (`--placement`), through the pool's `PoolMemory` hook.
public enum Placement: Sendable, Equatable, CustomStringConvertible {
    /// Each page on the node of the thread that first touches it: a thread's objects on its
    /// node, the objects the main thread makes on the main thread's (the kernel's default policy).
    case local
    /// Every page bound to one node (`numa_alloc_onnode`): the objects stay where the main
    /// thread made them however far the workers are.
    case node(Int)
    /// Pages spread round-robin over every node (`numa_alloc_interleaved`).
    case interleave

    /// Parses `local`, `interleave` or `node<N>` and checks that node N exists.
    public init(name: String, topology: NUMATopology = .current) throws {
        switch name {
        case "local": self = .local
        case "interleave": self = .interleave
        case _ where name.hasPrefix("node") && name.count > 4 && name.dropFirst(4).allSatisfy({ $0.isASCII && $0.isNumber }):
            guard let id = Int(name.dropFirst(4)), topology.node(id) != nil else {
                throw UsageError("--placement \(name): there is no NUMA node \(name.dropFirst(4)) here (nodes: \(topology.nodes.map { String($0.id) }.joined(separator: ", ")))")
            }
            self = .node(id)
        default:
            throw UsageError("--placement must be local, interleave or node<N> (node0, node1, ...), got '\(name)'")
        }
    }

    public var description: String {
        switch self {
        case .local: "local"
        case .node(let id): "node\(id)"
        case .interleave: "interleave"
        }
    }

    /// Whether the policy needs libnuma to mean anything (first touch works without it).
    var needsNUMA: Bool { self != .local }

    /// The memory the pool takes its objects from under this policy. Without libnuma every
    /// policy is first touch on the one node.
    public func poolMemory(topology: NUMATopology = .current) -> PoolMemory {
        guard topology.isAvailable, self != .local else {
            return PoolMemory(allocate: { Placement.map($0) }, deallocate: { Placement.unmap($0, $1) })
        }
        switch self {
        case .node(let id):
            return PoolMemory(
                allocate: { bytes in
                    guard let memory = numa_alloc_onnode(bytes, Int32(id)) else { preconditionFailure("numa_alloc_onnode failed: NULL") }
                    return memory
                },
                deallocate: { numa_free($0, $1) })
        default:
            return PoolMemory(
                allocate: { bytes in
                    guard let memory = numa_alloc_interleaved(bytes) else { preconditionFailure("numa_alloc_interleaved failed: NULL") }
                    return memory
                },
                deallocate: { numa_free($0, $1) })
        }
    }

    /// Anonymous pages no one has touched: zero-filled, placed by their first toucher.
    static func map(_ bytes: Int) -> UnsafeMutableRawPointer {
        let memory = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        precondition(memory != MAP_FAILED, "mmap failed: \(errno)")
        return memory!
    }

    static func unmap(_ memory: UnsafeMutableRawPointer, _ bytes: Int) {
        let result = munmap(memory, bytes)
        precondition(result == 0, "munmap failed: \(errno)")
    }
}

extension Pinning {
    /// The one line said where libnuma is missing and a policy would need it; nil otherwise.
    public static func numaNote(pin: [Pinning], placement: [Placement], topology: NUMATopology = .current) -> String? {
        guard !topology.isAvailable, pin.contains(.scatter) || placement.contains(where: \.needsNUMA) else { return nil }
        return "libnuma is not available here (numa_available() failed): running on one node, "
            + "so --pin scatter places as compact and --placement node0/interleave are first-touch memory"
    }
}
