import Foundation
import RefScale

/// What `refscale info` says of the machine and the build: CPUs, cores, caches, NUMA nodes, the
/// embedded Python. Read from sysfs and libnuma; `lines` for people, `json()` for machines.
public struct MachineReport: Codable, Sendable {
    public struct Cache: Codable, Sendable, Equatable {
        public var level: Int
        /// Data, Instruction or Unified.
        public var type: String
        public var sizeBytes: Int
        public var lineBytes: Int
        /// The CPUs that share it, in the kernel's list format.
        public var sharedCPUs: String

        enum CodingKeys: String, CodingKey {
            case level, type, sizeBytes = "size_bytes", lineBytes = "line_bytes", sharedCPUs = "shared_cpus"
        }
    }

    public struct Node: Codable, Sendable {
        public var id: Int
        public var cpus: String
        public var memoryBytes: Int?
        public var freeBytes: Int?

        enum CodingKeys: String, CodingKey {
            case id, cpus, memoryBytes = "memory_bytes", freeBytes = "free_bytes"
        }
    }

    public var host: String
    public var cpuModel: String
    public var kernel: String
    public var onlineCPUs: Int
    /// The CPUs this process may run on (what pinning chooses from).
    public var allowedCPUs: String
    /// Physical cores and packages (sockets) of the online CPUs.
    public var cores: Int
    public var packages: Int
    /// CPU 0's caches, from /sys/devices/system/cpu/cpu0/cache/index*.
    public var caches: [Cache]
    public var numaAvailable: Bool
    public var numaNodes: [Node]
    public var pythonVersion: String
    public var buildConfiguration: String
    public var swiftVersion: String
    public var gitCommit: String

    /// The JSON names: the CSV's where a column says the same (`online_cpus`, `numa_nodes`, ...).
    enum CodingKeys: String, CodingKey {
        case host, cpuModel = "cpu_model", kernel, onlineCPUs = "online_cpus", allowedCPUs = "allowed_cpus"
        case cores, packages, caches, numaAvailable = "numa_available", numaNodes = "numa_nodes"
        case pythonVersion = "python_version", buildConfiguration = "build_config", swiftVersion = "swift_version"
        case gitCommit = "git_commit"
    }

    public static func current(machine: MachineInfo = .current, topology: NUMATopology = .current) -> MachineReport {
        let online = readFile("/sys/devices/system/cpu/online").flatMap { CPUSet(list: $0.trimmingSpaces) }
            ?? CPUSet(0..<machine.onlineCPUs)
        let (cores, packages) = coresAndPackages(online)
        return MachineReport(
            host: machine.host, cpuModel: machine.cpuModel, kernel: machine.kernel, onlineCPUs: machine.onlineCPUs,
            allowedCPUs: CPUSet.allowed.description, cores: cores, packages: packages,
            caches: caches(cpu: online.cpus.first ?? 0),
            numaAvailable: topology.isAvailable,
            numaNodes: topology.nodes.map { Node(id: $0.id, cpus: $0.cpus.description, memoryBytes: $0.memoryBytes, freeBytes: $0.freeBytes) },
            pythonVersion: EmbeddedPython.version, buildConfiguration: machine.buildConfiguration,
            swiftVersion: machine.swiftVersion, gitCommit: machine.gitCommit)
    }

    /// Distinct (package, core) pairs and packages among the CPUs; each CPU its own core where
    /// sysfs has no topology.
    static func coresAndPackages(_ cpus: CPUSet) -> (cores: Int, packages: Int) {
        var cores = Set<[Int]>()
        var packages = Set<Int>()
        for cpu in cpus.cpus {
            let directory = "/sys/devices/system/cpu/cpu\(cpu)/topology"
            let package = readFile("\(directory)/physical_package_id").flatMap { Int($0.trimmingSpaces) } ?? 0
            let core = readFile("\(directory)/core_id").flatMap { Int($0.trimmingSpaces) } ?? cpu
            cores.insert([package, core])
            packages.insert(package)
        }
        return (max(1, cores.count), max(1, packages.count))
    }

    static func caches(cpu: Int) -> [Cache] {
        var caches: [Cache] = []
        for index in 0..<16 {
            let directory = "/sys/devices/system/cpu/cpu\(cpu)/cache/index\(index)"
            guard let level = readFile("\(directory)/level").flatMap({ Int($0.trimmingSpaces) }) else { break }
            caches.append(Cache(
                level: level,
                type: readFile("\(directory)/type")?.trimmingSpaces ?? "",
                sizeBytes: readFile("\(directory)/size").flatMap { bytes($0.trimmingSpaces) } ?? 0,
                lineBytes: readFile("\(directory)/coherency_line_size").flatMap { Int($0.trimmingSpaces) } ?? 0,
                sharedCPUs: readFile("\(directory)/shared_cpu_list")?.trimmingSpaces ?? ""))
        }
        return caches
    }

    /// "32K", "16384K", "1M", "512" as bytes.
    static func bytes(_ text: String) -> Int? {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        guard let last = text.last else { return nil }
        if let unit = units[last] { return Int(text.dropLast()).map { $0 * unit } }
        return Int(text)
    }

    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    public var lines: [String] {
        func size(_ bytes: Int) -> String {
            bytes >= 1 << 30 && bytes % (1 << 30) == 0 ? "\(bytes >> 30) GiB"
                : bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : "\(bytes >> 10) KiB"
        }
        var lines = [
            "host:          \(host)",
            "cpu:           \(cpuModel)",
            "kernel:        \(kernel)",
            "cpus:          \(onlineCPUs) online, \(cores) core(s) in \(packages) package(s); this process may use \(allowedCPUs)",
            "caches (cpu0):",
        ]
        lines += caches.map {
            "  L\($0.level) \($0.type.padding(toLength: 11, withPad: " ", startingAt: 0)) \(size($0.sizeBytes).padding(toLength: 9, withPad: " ", startingAt: 0)) line \($0.lineBytes) B, shared by cpus \($0.sharedCPUs)"
        }
        lines.append("numa nodes:    \(numaNodes.count)" + (numaAvailable ? "" : " (libnuma not available: one node assumed)"))
        lines += numaNodes.map { node in
            "  node \(node.id): cpus \(node.cpus)" + (node.memoryBytes.map { ", memory \(size($0))" } ?? "")
                + (node.freeBytes.map { " (\(size($0)) free)" } ?? "")
        }
        lines += [
            "python:        \(pythonVersion) (embedded, for the cpython scheme)",
            "build:         \(buildConfiguration), Swift \(swiftVersion), commit \(gitCommit)",
        ]
        return lines
    }
}
