import Foundation

/// Clients written by others, in Python: a virtual environment under `.build/interop-venv`,
/// made from `Tests/Interop/requirements.txt` (pinned) the first time a test needs it. Whatever
/// stops it (no python3, no network for pip) fails the test that needs it, with the reason.
public enum Interop {
    public static var scripts: URL { HubProcess.packageRoot.appendingPathComponent("Tests/Interop") }
    static var environment: URL { HubProcess.packageRoot.appendingPathComponent(".build/interop-venv") }

    /// The environment's python, made (and its packages installed) when missing or out of date.
    public static func python() async throws -> String {
        let python = environment.appendingPathComponent("bin/python").path
        let requirements = scripts.appendingPathComponent("requirements.txt")
        let stamp = environment.appendingPathComponent("requirements.installed")
        let wanted = try String(contentsOf: requirements, encoding: .utf8)
        if FileManager.default.isExecutableFile(atPath: python), (try? String(contentsOf: stamp, encoding: .utf8)) == wanted {
            return python
        }
        // One suite (serialized) uses it; tests that need it in parallel must share one preparation.
        try await run(
            "/usr/bin/env", ["python3", "-m", "venv", environment.path], "creating the Python environment (is python3 with venv installed?)")
        try await run(
            python, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", requirements.path],
            "installing \(requirements.path) with pip (is PyPI reachable?)")
        try wanted.write(to: stamp, atomically: true, encoding: .utf8)
        return python
    }

    static func run(_ executable: String, _ arguments: [String], _ what: String) async throws {
        let process = try HubProcess.program(executable, arguments, name: "interop-setup")
        let status = try await process.waitForExit(timeout: .seconds(300))
        guard status == 0 else { throw InteropUnavailable(description: "\(what) failed with status \(status): \(process.log.suffix(2000))") }
    }
}

public struct InteropUnavailable: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

extension HubProcess {
    /// For interop scripts, which print `step NAME ...` as they go and `fail WHY` when they
    /// give up: the first line of step `name`, or the script's failure with its output.
    public func step(_ name: String, timeout: Duration = .seconds(90)) async throws -> String {
        try await eventuallyValue(timeout: timeout, "step \(name)") {
            let output = log
            if output.contains("fail ") { throw InteropUnavailable(description: "the script failed: \(output)") }
            return output.split(separator: "\n").first { $0.hasPrefix("step \(name)") }.map(String.init)
        }
    }
}
