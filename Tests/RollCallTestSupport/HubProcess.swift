import Foundation
import RollCall
import RollCallHub
import RollCallPostgres

/// The built `rollcall` executable running as a real process, as operators run it.
public final class HubProcess: Sendable {
    public let pid: pid_t
    public let logFile: URL
    public let port: Int

    /// `rollcall` beside the test bundle: the test target depends on it, so SwiftPM builds both into
    /// one folder, and the tests never run a binary left there by some other build.
    static var executable: String {
        get throws {
            let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("rollcall").path
            guard FileManager.default.isExecutableFile(atPath: beside) else {
                throw MissingExecutable(path: beside)
            }
            return beside
        }
    }

    /// Runs `rollcall` with `arguments` to completion; returns its exit status and output.
    /// `timeout` is a hang guard: longer than any limit the command is given (`load --limit 60s`).
    public static func run(_ arguments: [String], timeout: Duration = .seconds(180)) async throws -> (status: Int32, output: String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("rollcall-run-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: output) }
        let process = HubProcess(pid: try spawn(executable, arguments, output: output), logFile: output, port: 0)
        let status: Int32
        do {
            status = try await process.explainingFailure { try await process.waitForExit(timeout: timeout) }
        } catch {
            process.signal(SIGKILL)
            throw error
        }
        return (status, process.log)
    }

    /// The package's root folder.
    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Starts `rollcall serve` on `database` and waits until it listens.
    public static func serve(database: DatabaseLocation, serverID: String, secret: String = TestHub.secret, extra: [String] = []) async throws
        -> HubProcess
    {
        let logFile = FileManager.default.temporaryDirectory.appendingPathComponent("rollcall-\(serverID)-\(UUID().uuidString).log")
        let url = databaseURL(database)
        let arguments =
            ["serve", "--port", "0", "--server-id", serverID, "--database-url", url, "--jwt-secret", secret, "--log-level", "info"] + extra
        let pid = try spawn(executable, arguments, output: logFile)
        try killWhenTestsEnd(pid)
        let process = HubProcess(pid: pid, logFile: logFile, port: 0)
        var port = 0
        try await eventually(timeout: .seconds(60), "\(serverID) to listen") {
            if let exit = process.exitStatus() { throw TimedOut(what: "hub exited with \(exit) before listening: \(process.log)") }
            guard let line = process.log.split(separator: "\n").first(where: { $0.contains("hub listening") }),
                let range = line.range(of: "port=")
            else { return false }
            port = Int(line[range.upperBound...].prefix { $0.isNumber }) ?? 0
            return port > 0
        }
        return HubProcess(pid: pid, logFile: logFile, port: port)
    }

    /// The `--database-url` of a test database (they are reached by unix socket).
    public static func databaseURL(_ database: DatabaseLocation) -> String {
        guard case .unixSocket(let directory, let socketPort) = database.endpoint else { preconditionFailure("test databases use unix sockets") }
        return "postgres://\(database.username)@/\(database.database)?host=\(directory)&port=\(socketPort)"
    }

    /// Starts any program (a client written by others, say) with its output in a file; it is
    /// killed when the tests end if it is still running.
    public static func program(_ executable: String, _ arguments: [String], name: String) throws -> HubProcess {
        let logFile = FileManager.default.temporaryDirectory.appendingPathComponent("rollcall-\(name)-\(UUID().uuidString).log")
        let pid = try spawn(executable, arguments, output: logFile, environment: ["PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"])
        try killWhenTestsEnd(pid)
        return HubProcess(pid: pid, logFile: logFile, port: 0)
    }

    /// Starts `rollcall` with `arguments` and returns at once, whatever stage it reaches.
    public static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> HubProcess {
        let logFile = FileManager.default.temporaryDirectory.appendingPathComponent("rollcall-start-\(UUID().uuidString).log")
        let pid = try spawn(executable, arguments, output: logFile, environment: environment)
        try killWhenTestsEnd(pid)
        return HubProcess(pid: pid, logFile: logFile, port: 0)
    }

    /// Sends `signal` the moment the process logs `text`, from a shell watcher of its own: the test
    /// process, busy with other tests, may be too slow to hit a stage that lasts a second.
    public func signalWhenLogged(_ text: String, signal: Int32 = SIGTERM) throws {
        let script = "while ! grep -qF \"$1\" \"$2\"; do sleep 0.01; done; kill -\(signal) \(pid)"
        let watcher = try Self.spawn("/bin/sh", ["-c", script, "watcher", text, logFile.path], output: URL(fileURLWithPath: "/dev/null"))
        reapWhenDone(watcher)
    }

    /// Waits until the process has logged `text`; fails if it exits first.
    public func waitForLog(_ text: String, timeout: Duration = .seconds(60)) async throws {
        try await eventually(timeout: timeout, "the hub to log \(text)") {
            if log.contains(text) { return true }
            if let exit = exitStatus() { throw TimedOut(what: "\(text): the hub exited with \(exit) first: \(log)") }
            return false
        }
    }

    private init(pid: pid_t, logFile: URL, port: Int) {
        self.pid = pid
        self.logFile = logFile
        self.port = port
    }

    public var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Runs `body`; an error it throws comes back with the end of this process's log, so that a
    /// failure says what the process was doing.
    public func explainingFailure<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw ExplainedFailure(description: "\(error); the end of the log of process \(pid):\n\(log.suffix(4000))")
        }
    }
    public var webSocketURL: String { "ws://127.0.0.1:\(port)/v1/ws" }

    /// Short windows so a test sees a purge in seconds.
    public static let fast = ["--orphan-window", "2s", "--heartbeat-interval", "300ms", "--purge-interval", "300ms", "--offline-grace", "0s"]

    /// Opens a socket as `user` with a token from `authority` and waits for its welcome.
    public func connect(_ user: String, authority: TokenAuthority) async throws -> TestSocket {
        let socket = try await TestSocket.open(url: webSocketURL, token: try await authority.mint(Identity(userID: user), lifetime: .seconds(600)))
        let welcome = try await socket.next()
        guard case .welcome = welcome else { throw UnexpectedFrame(frame: welcome) }
        return socket
    }

    public func signal(_ signal: Int32) { kill(pid, signal) }

    /// The exit status once the process has ended (reaping it), else nil.
    public func exitStatus() -> Int32? {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    public func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        var exit: Int32?
        try await eventually(timeout: timeout, "hub process to exit") {
            exit = exitStatus()
            return exit != nil
        }
        return exit ?? -1
    }

    /// A hub a failed test left running is killed when the test process ends, however it ends:
    /// a detached watcher, in a session of its own, polls both processes.
    static func killWhenTestsEnd(_ pid: pid_t) throws {
        let script = """
            while [ -d "/proc/$2" ]; do [ -d "/proc/$1" ] || { kill -9 "$2"; exit 0; }; sleep 0.5; done
            """
        let watcher = try spawn(
            "/usr/bin/setsid", ["-f", "/bin/sh", "-c", script, "rollcall-test-reaper", "\(getpid())", "\(pid)"],
            output: URL(fileURLWithPath: "/dev/null"))
        reapWhenDone(watcher)
    }

    static func spawn(_ executable: String, _ arguments: [String], output: URL, environment: [String: String] = [:]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // A hub or client that held a copy of another test's socket would keep that socket open
        // after the test closed it: a WebSocket whose hub never sees it close, a database session
        // that outlives its test.
        ChildProcess.closeInherited(&actions)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid = pid_t()
        let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in envp { free(pointer) } }
        let result = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard result == 0 else { throw TimedOut(what: "spawning \(executable): \(String(cString: strerror(result)))") }
        return pid
    }
}

public struct MissingExecutable: Error, CustomStringConvertible {
    public let path: String
    public var description: String { "no rollcall executable beside the tests at \(path): build with `swift build --build-tests`" }
}

/// A failure with what explains it (a log, the last error of an attempt retried).
public struct ExplainedFailure: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}
