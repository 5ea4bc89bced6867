import ArgumentParser
import Glibc
import RefScale
import RefScaleHarness

struct Refscale: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refscale",
        abstract: "Measures reference counting without a global interpreter lock.",
        subcommands: [
            List.self, Run.self, Sweep.self, StressCommand.self, ReportCommand.self, Info.self, Calibrate.self, Columns.self,
            TraceCommand.self, Validate.self,
        ]
    )
}

/// Prints one line for the error and exits with its code: 64 for bad input, 1 for a failure.
func exitWithOneLine(_ error: Error) -> Never {
    let (message, code): (String, Int32) = switch error {
    case let error as UsageError: (error.description, 64)
    case let error as HarnessError: (error.description, 1)
    default: (Refscale.message(for: error), Refscale.exitCode(for: error).rawValue)
    }
    if code == 0 { Refscale.exit(withError: error) }
    let firstLine = message.split(separator: "\n").first.map(String.init) ?? message
    fputs("refscale: error: \(firstLine)\n", stderr)
    exit(code)
}

do {
    var command = try Refscale.parseAsRoot()
    try command.run()
} catch {
    exitWithOneLine(error)
}
