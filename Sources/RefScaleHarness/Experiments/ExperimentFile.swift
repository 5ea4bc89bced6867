import Foundation
import RefScale

/// Reads an experiment file (JSON). The schema, documented in `Experiments/README.md`:
///
///     name            string of letters, digits, '-' and '_'        required
///     schemes         "all" or a list of scheme names                required
///     workloads       list of objects: {"name": W, option: value or list of values, ...}
///                     (options by their CSV names: objects, dup_depth, zipf, ...)   required
///     scheme_options  object: option: value or list (object_align, and the options schemes declare)
///     context         "direct", "universal", "debug", or a list of them (default "direct")
///     threads         list of distinct positive integers, "powers" (1, 2, 4, ... and the online CPUs)
///                     or "one-and-all" (1 and the online CPUs)             required
///     repetitions     integer from 1 to 10000 (default 3)
///     duration        seconds > 0, at most a day (default 0.5); warmup: seconds >= 0 (default 0.1)
///     seed            non-negative integer (default 1)
///     pin             "none", "compact" or "scatter", or a list of them (default "none")
///     placement       "local", "interleave" or "node<N>", or a list of them (default "local")
///
/// A list where one value is expected expands to a grid. Every error names the place where it
/// is, as `workloads[2].zipf: must be >= 0`.
public enum ExperimentFile {
    public static func load(path: String) throws -> Experiment {
        var status = stat()
        if stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR {
            throw UsageError("\(path): is a directory, not an experiment file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UsageError("\(path): cannot read the experiment file")
        }
        return try parse(data: data, source: path)
    }

    /// The experiment in a file's bytes; `source` names it in errors.
    public static func parse(data: Data, source: String) throws -> Experiment {
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            let reason = ((error as NSError).userInfo["NSDebugDescription"] as? String ?? "parse error")
                .split(whereSeparator: \.isNewline).joined(separator: " ")
            throw UsageError("\(source): not valid JSON (\(reason))")
        }
        do {
            return try parse(json)
        } catch let error as PlaceError {
            throw UsageError("\(source): \(error.place.isEmpty ? "" : error.place + ": ")\(error.problem)")
        }
    }

    struct PlaceError: Error {
        var place: String
        var problem: String
    }

    static let topKeys: Set<String> = ["name", "description", "schemes", "workloads", "scheme_options", "threads", "repetitions", "duration", "warmup", "seed", "context", "pin", "placement"]

    public static func parse(_ json: Any) throws -> Experiment {
        let top = try object(json, at: "")
        try checkKeys(top, allowed: topKeys, at: "")
        let name = try string(required(top, "name", at: ""), at: "name")
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw PlaceError(place: "name", problem: "must be letters, digits, '-' or '_', got '\(name)'")
        }
        if let description = top["description"] { _ = try string(description, at: "description") }

        let schemes: [String]
        let schemesValue = try required(top, "schemes", at: "")
        if let all = schemesValue as? String, all == "all" {
            schemes = Registry.schemes.map(\.name)
        } else {
            schemes = try nonEmptyList(schemesValue, at: "schemes").enumerated().map { index, value in
                let name = try string(value, at: "schemes[\(index)]")
                guard Registry.schemes.contains(where: { $0.name == name }) else {
                    throw PlaceError(place: "schemes[\(index)]", problem: "unknown scheme '\(name)'; valid: all, \(Registry.schemes.map(\.name).joined(separator: ", "))")
                }
                return name
            }
        }

        var workloads: [(name: String, options: OptionValues)] = []
        for (index, value) in try nonEmptyList(required(top, "workloads", at: ""), at: "workloads").enumerated() {
            workloads += try workloadVariants(value, at: "workloads[\(index)]")
        }

        var schemeOptions = [SchemeOptions()]
        if let value = top["scheme_options"] {
            let options = try object(value, at: "scheme_options")
            let declarations = Dictionary(uniqueKeysWithValues: Registry.schemeOptions.map { ($0.name, $0) })
            try checkKeys(options, allowed: Set(declarations.keys).union(["object_align"]), at: "scheme_options")
            for key in options.keys.sorted() {
                let place = "scheme_options.\(key)"
                let values = try valueList(options[key]!, at: place)
                schemeOptions = try schemeOptions.flatMap { base in
                    try values.enumerated().map { index, value in
                        let at = values.count > 1 ? "\(place)[\(index)]" : place
                        var variant = base
                        if key == "object_align" {
                            let align = try integer(value, at: at)
                            guard align >= 8, align & (align - 1) == 0 else {
                                throw PlaceError(place: at, problem: "must be a power of two of at least 8, got \(align)")
                            }
                            variant.objectAlignment = align
                        } else {
                            variant.values.set(key, to: try optionValue(value, declaration: declarations[key]!, at: at))
                        }
                        return variant
                    }
                }
            }
        }

        var contexts = [ContextKind.direct]
        if let value = top["context"] {
            let values = try valueList(value, at: "context")
            contexts = try values.enumerated().map { index, value in
                let at = values.count > 1 ? "context[\(index)]" : "context"
                let name = try string(value, at: at)
                guard let kind = ContextKind(rawValue: name) else {
                    throw PlaceError(place: at, problem: "unknown context '\(name)'; valid: \(ContextKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return kind
            }
        }

        let threads: Experiment.ThreadCounts
        let threadsValue = try required(top, "threads", at: "")
        switch threadsValue as? String {
        case "powers"?: threads = .powersOfTwo
        case "one-and-all"?: threads = .oneAndAll
        case let other?: throw PlaceError(place: "threads", problem: "must be a list of thread counts, \"powers\" or \"one-and-all\", got '\(other)'")
        case nil:
            var counts: [Int] = []
            for (index, value) in try nonEmptyList(threadsValue, at: "threads").enumerated() {
                let place = "threads[\(index)]"
                let count = try integer(value, at: place)
                guard count >= 1 else { throw PlaceError(place: place, problem: "must be at least 1, got \(count)") }
                let limit = ResourceLimits.maximumThreads()
                guard count <= limit else {
                    throw PlaceError(place: place, problem: "\(count): at most \(limit) threads (\(ResourceLimits.threadsPerOnlineCPU) times the \(MachineInfo.current.onlineCPUs) online CPUs)")
                }
                guard !counts.contains(count) else {
                    throw PlaceError(place: place, problem: "\(count) is listed twice; list each count once (repetitions sets the repetitions)")
                }
                counts.append(count)
            }
            threads = .list(counts)
        }

        let repetitions = try top["repetitions"].map { try integer($0, at: "repetitions") } ?? 3
        guard (1...ResourceLimits.maximumRepetitions).contains(repetitions) else {
            throw PlaceError(place: "repetitions", problem: "must be between 1 and \(ResourceLimits.maximumRepetitions), got \(repetitions)")
        }
        let duration = try top["duration"].map { try number($0, at: "duration") } ?? 0.5
        if let problem = ResourceLimits.secondsProblem(duration) { throw PlaceError(place: "duration", problem: problem) }
        let warmup = try top["warmup"].map { try number($0, at: "warmup") } ?? 0.1
        if let problem = ResourceLimits.secondsProblem(warmup, zeroAllowed: true) { throw PlaceError(place: "warmup", problem: problem) }
        let seed = try top["seed"].map { try integer($0, at: "seed") } ?? 1
        guard seed >= 0 else { throw PlaceError(place: "seed", problem: "must be >= 0, got \(seed)") }

        var experiment = Experiment(
            name: name, schemes: schemes, workloads: workloads, threads: threads, repetitions: repetitions,
            duration: duration, warmup: warmup, seed: UInt64(seed))
        experiment.schemeOptions = schemeOptions
        if let value = top["pin"] {
            experiment.pins = try policies(value, at: "pin") { try Pinning(name: $0) }
        }
        if let value = top["placement"] {
            experiment.placements = try policies(value, at: "placement") { try Placement(name: $0) }
        }
        experiment.contexts = contexts
        return experiment
    }

    /// One workload entry: its name and its options, lists expanded to every combination.
    static func workloadVariants(_ value: Any, at place: String) throws -> [(name: String, options: OptionValues)] {
        let entry = try object(value, at: place)
        let name = try string(required(entry, "name", at: place), at: "\(place).name")
        guard let workload = Registry.workloads.first(where: { $0.name == name }) else {
            throw PlaceError(place: "\(place).name", problem: "unknown workload '\(name)'; valid: \(Registry.workloads.map(\.name).joined(separator: ", "))")
        }
        let declarations = Dictionary(uniqueKeysWithValues: workload.declaredOptions.map { ($0.name, $0) })
        try checkKeys(entry, allowed: Set(["name"] + declarations.keys), at: place)
        var variants = [OptionValues()]
        for key in entry.keys.sorted() where key != "name" {
            let values = try valueList(entry[key]!, at: "\(place).\(key)")
            variants = try variants.flatMap { base in
                try values.enumerated().map { index, value in
                    let at = values.count > 1 ? "\(place).\(key)[\(index)]" : "\(place).\(key)"
                    var variant = base
                    variant.set(key, to: try optionValue(value, declaration: declarations[key]!, at: at))
                    return variant
                }
            }
        }
        for variant in variants {
            do {
                try ResourceLimits.checkCounts(variant)
            } catch let error as UsageError {
                throw PlaceError(place: place, problem: error.description)
            }
            do {
                _ = try workload.make(variant)
            } catch let error as ConfigurationError {
                throw PlaceError(place: place, problem: error.description)
            }
        }
        return variants.map { (name, $0) }
    }

    /// A JSON value as the declared option's value: a number for numeric options, a string for
    /// words; checked against the declaration's range.
    static func optionValue(_ value: Any, declaration: OptionDeclaration, at place: String) throws -> OptionValue {
        let given: OptionValue = switch declaration.form {
        case .integer, .number: .number(try number(value, at: place))
        case .word, .text: .word(try string(value, at: place))
        }
        do {
            return try declaration.checked(given)
        } catch let error as ConfigurationError {
            throw PlaceError(place: place, problem: error.problem)
        }
    }

    /// A policy by name, or a list of them; a bad name is reported at its place.
    static func policies<Policy>(_ value: Any, at place: String, parse: (String) throws -> Policy) throws -> [Policy] {
        let values = try valueList(value, at: place)
        let isList = value is [Any]
        return try values.enumerated().map { index, value in
            let at = isList ? "\(place)[\(index)]" : place
            do {
                return try parse(string(value, at: at))
            } catch let error as UsageError {
                throw PlaceError(place: at, problem: error.description)
            }
        }
    }

    static func required(_ object: [String: Any], _ key: String, at place: String) throws -> Any {
        guard let value = object[key] else {
            throw PlaceError(place: place, problem: "missing key '\(key)'")
        }
        return value
    }

    static func checkKeys(_ object: [String: Any], allowed: Set<String>, at place: String) throws {
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw PlaceError(place: place, problem: "unknown key '\(unknown)'; allowed: \(allowed.sorted().joined(separator: ", "))")
        }
    }

    static func object(_ value: Any, at place: String) throws -> [String: Any] {
        guard let object = value as? [String: Any] else { throw PlaceError(place: place, problem: "must be an object") }
        return object
    }

    static func nonEmptyList(_ value: Any, at place: String) throws -> [Any] {
        guard let list = value as? [Any] else { throw PlaceError(place: place, problem: "must be a list") }
        guard !list.isEmpty else { throw PlaceError(place: place, problem: "must not be empty") }
        return list
    }

    /// A value, or a non-empty list of values to expand.
    static func valueList(_ value: Any, at place: String) throws -> [Any] {
        value is [Any] ? try nonEmptyList(value, at: place) : [value]
    }

    static func isBoolean(_ value: Any) -> Bool {
        type(of: value) == Bool.self
    }

    static func string(_ value: Any, at place: String) throws -> String {
        guard let string = value as? String else { throw PlaceError(place: place, problem: "must be a string") }
        return string
    }

    static func number(_ value: Any, at place: String) throws -> Double {
        guard !(value is String), !isBoolean(value), let number = value as? NSNumber else {
            throw PlaceError(place: place, problem: "must be a number")
        }
        return number.doubleValue
    }

    static func integer(_ value: Any, at place: String) throws -> Int {
        let number = try number(value, at: place)
        guard number == number.rounded(), abs(number) < 1e15 else {
            throw PlaceError(place: place, problem: "must be an integer, got \(number)")
        }
        return Int(number)
    }
}
