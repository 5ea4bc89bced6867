import CNuma
import Glibc

/// The machine's NUMA nodes as libnuma reports them: each with its CPUs and memory. Where
/// `numa_available()` fails (a container without the system calls, a kernel without NUMA) the
/// machine is one node, 0, holding every CPU the process may use and all of its memory.
public struct NUMATopology: Sendable {
    public struct Node: Sendable {
        public var id: Int
        /// The node's CPUs this process may run on.
        public var cpus: CPUSet
        /// Memory on the node, bytes; nil where the kernel does not say.
        public var memoryBytes: Int?
        public var freeBytes: Int?
    }

    /// Whether libnuma works here; false means one node was assumed.
    public var isAvailable: Bool
    public var nodes: [Node]

    public static let current = NUMATopology.read()

    public func node(_ id: Int) -> Node? { nodes.first { $0.id == id } }

    static func read() -> NUMATopology {
        let allowed = CPUSet.allowed
        guard numa_available() >= 0 else {
            let memory = sysconf(Int32(_SC_PHYS_PAGES)) * sysconf(Int32(_SC_PAGESIZE))
            return NUMATopology(isAvailable: false, nodes: [Node(id: 0, cpus: allowed, memoryBytes: memory, freeBytes: nil)])
        }
        var nodes: [Node] = []
        let cpuMask = numa_allocate_cpumask()!
        defer { numa_free_cpumask(cpuMask) }
        for id in 0...Int(numa_max_node()) where numa_bitmask_isbitset(numa_nodes_ptr, UInt32(id)) != 0 {
            let result = numa_node_to_cpus(Int32(id), cpuMask)
            precondition(result == 0, "numa_node_to_cpus failed: \(result)")
            let cpus = CPUSet((0..<Int(numa_num_possible_cpus())).filter { numa_bitmask_isbitset(cpuMask, UInt32($0)) != 0 })
            var free: Int64 = 0
            let size = numa_node_size64(Int32(id), &free)
            nodes.append(Node(
                id: id, cpus: cpus.intersection(allowed),
                memoryBytes: size >= 0 ? Int(size) : nil, freeBytes: size >= 0 ? Int(free) : nil))
        }
        return NUMATopology(isAvailable: true, nodes: nodes)
    }
}
