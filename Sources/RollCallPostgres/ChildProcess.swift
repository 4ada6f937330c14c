import Foundation

/// Runs a program to completion and returns its exit status.
///
/// posix_spawn and waitpid, not Foundation's `Process`: on Linux, `Process` sometimes never sees
/// a child exit when that child leaves a daemon behind (as `pg_ctl start` does), and hangs.
public enum ChildProcess {
    struct LaunchFailed: Error, CustomStringConvertible {
        let executable: String
        let code: Int32
        var description: String { "cannot run \(executable): \(String(cString: strerror(code)))" }
    }

    /// What the tools (and the PostgreSQL server they start) get of this process's environment:
    /// locale, time zone and search path, never the hub's own settings (`ROLLCALL_JWT_SECRET`,
    /// `DATABASE_URL`), which the server would otherwise carry for its whole life.
    static func passedEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        let kept: Set<String> = ["PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR", "HOME"]
        return environment.filter { kept.contains($0.key) || $0.key.hasPrefix("LC_") }.map { "\($0.key)=\($0.value)" }.sorted()
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which Swift's Glibc
    /// module does not declare; nil where the C library has none.
    private static let closeFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, CInt) -> CInt)? = {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, CInt) -> CInt).self)
    }()

    /// Makes a child spawned with `actions` close every descriptor of this process past stderr.
    /// SwiftNIO opens its sockets without close-on-exec, so a child would otherwise hold a copy of
    /// each one open at the time, and keep it open after this process closed its own: the peer
    /// never sees the close. A test process holding thousands of sockets once left a PostgreSQL
    /// started this way too few descriptors of its own to start ("insufficient file descriptors").
    public static func closeInherited(_ actions: inout posix_spawn_file_actions_t) {
        _ = closeFrom?(&actions, 3)
    }

    /// Blocks the calling thread; only for short administrative commands.
    static func run(_ executable: String, _ arguments: [String], silenceOutput: Bool, silenceErrors: Bool) throws(LaunchFailed) -> Int32 {
        try run(executable, arguments, output: silenceOutput ? "/dev/null" : nil, silenceErrors: silenceErrors)
    }

    /// Runs a program to completion and returns its exit status and what it wrote on stdout.
    static func output(_ executable: String, _ arguments: [String]) throws(LaunchFailed) -> (status: Int32, output: String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("rollcall-child-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        let status = try run(executable, arguments, output: file.path, silenceErrors: true)
        return (status, (try? String(contentsOf: file, encoding: .utf8)) ?? "")
    }

    /// `output`: a file for stdout (created), or nil for this process's own.
    private static func run(_ executable: String, _ arguments: [String], output: String?, silenceErrors: Bool) throws(LaunchFailed) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if let output { posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600) }
        if silenceErrors { posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0) }
        closeInherited(&actions)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid = pid_t()
        let environment = passedEnvironment().map { strdup($0) } + [nil]
        defer { for pointer in environment { free(pointer) } }
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environment)
        guard spawned == 0 else { throw LaunchFailed(executable: executable, code: spawned) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { return -1 }
        }
        // WIFEXITED / WEXITSTATUS, which Swift does not import as macros.
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}
