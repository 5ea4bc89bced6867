import CRefScale
import Glibc

/// What machine and build a row came from: on every row, so files from several machines can be
/// concatenated and compared.
public struct MachineInfo: Sendable {
    public static let columns = [
        "host", "cpu_model", "online_cpus", "numa_nodes", "kernel", "swift_version", "git_commit", "build_config",
    ]

    public var host: String
    public var cpuModel: String
    public var onlineCPUs: Int
    public var numaNodes: Int
    public var kernel: String
    public var swiftVersion: String
    public var gitCommit: String
    public var buildConfiguration: String

    public var values: [String: String] {
        [
            "host": host, "cpu_model": cpuModel, "online_cpus": String(onlineCPUs), "numa_nodes": String(numaNodes),
            "kernel": kernel, "swift_version": swiftVersion, "git_commit": gitCommit, "build_config": buildConfiguration,
        ]
    }

    public static let current = MachineInfo.read()

    static func read() -> MachineInfo {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        var system = utsname()
        uname(&system)
        let release = withUnsafeBytes(of: &system.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        let cpuModel = readFile("/proc/cpuinfo")?
            .split(separator: "\n")
            .first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?
            .trimmingSpaces ?? "unknown"
        return MachineInfo(
            host: String(cString: name),
            cpuModel: cpuModel,
            onlineCPUs: sysconf(Int32(_SC_NPROCESSORS_ONLN)),
            numaNodes: numaNodeCount(),
            kernel: release,
            swiftVersion: swiftCompilerVersion,
            gitCommit: gitCommit() ?? "unknown",
            buildConfiguration: buildConfiguration
        )
    }

    static var buildConfiguration: String {
        #if DEBUG
        "debug"
        #else
        "release"
        #endif
    }

    static var swiftCompilerVersion: String {
        #if compiler(>=6.5)
        ">=6.5"
        #elseif compiler(>=6.4)
        "6.4"
        #elseif compiler(>=6.3)
        "6.3"
        #elseif compiler(>=6.2)
        "6.2"
        #else
        "<6.2"
        #endif
    }

    /// Nodes listed by the kernel; 1 where sysfs shows none.
    static func numaNodeCount() -> Int {
        guard let directory = opendir("/sys/devices/system/node") else { return 1 }
        defer { closedir(directory) }
        var nodes = 0
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name.hasPrefix("node"), name.dropFirst(4).allSatisfy(\.isNumber), name.count > 4 { nodes += 1 }
        }
        return max(1, nodes)
    }

    /// The commit of the checkout the running executable was built in (`.build/<config>/refscale`
    /// lives three levels below it), with `-dirty` when the work tree has changes.
    static func gitCommit() -> String? {
        guard let executable = readLink("/proc/self/exe") else { return nil }
        var directory = executable
        for _ in 0..<4 {
            guard let slash = directory.lastIndex(of: "/") else { return nil }
            directory = String(directory[..<slash])
            guard let commit = shell("git -C '\(directory)' rev-parse --short=12 HEAD 2>/dev/null") else { continue }
            let dirty = shell("git -C '\(directory)' status --porcelain --untracked-files=no 2>/dev/null") ?? ""
            return commit + (dirty.isEmpty ? "" : "-dirty")
        }
        return nil
    }

    /// Now, in UTC, ISO 8601 to the second.
    public static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
        return String(cString: buffer)
    }
}

func readFile(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count <= 0 { break }
        bytes.append(contentsOf: buffer[0..<count])
    }
    return String(decoding: bytes, as: UTF8.self)
}

func readLink(_ path: String) -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink(path, &buffer, buffer.count - 1)
    guard count > 0 else { return nil }
    buffer[count] = 0
    return String(cString: buffer)
}

/// Runs a shell command and returns its trimmed standard output, or nil if it failed.
func shell(_ command: String) -> String? {
    guard let pipe = popen(command, "r") else { return nil }
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = fread(&buffer, 1, buffer.count, pipe)
        if count <= 0 { break }
        output.append(contentsOf: buffer[0..<count])
    }
    guard pclose(pipe) == 0 else { return nil }
    return String(decoding: output, as: UTF8.self).trimmingSpaces
}

extension StringProtocol {
    var trimmingSpaces: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}

extension MachineInfo {
    /// Seconds on the monotonic clock.
    public static func monotonicSeconds() -> Double { Double(crefscale_clock_monotonic_ns()) / 1e9 }
}
