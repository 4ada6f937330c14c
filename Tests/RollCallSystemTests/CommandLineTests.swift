import Foundation
import RollCall
import RollCallTestSupport
import Testing

@Suite("The command line as operators type it", .timeLimit(.minutes(5)))
struct CommandLineTests {
    @Test("a program the tests start holds none of the test process's files, as the sockets of other tests")
    func testChildrenInheritNothing() async throws {
        try await withFileOpenedWithoutCloseOnExec { leaked in
            let child = try HubProcess.program("/bin/sh", ["-c", "ls -l /proc/$$/fd; echo listed"], name: "descriptors")
            #expect(try await child.waitForExit() == 0)
            #expect(child.log.contains("listed"))
            #expect(!child.log.contains(leaked), "\(child.log)")
        }
    }

    @Test("a compound or decimal duration is taken: a token for 1m30s expires 90 seconds out")
    func compoundDuration() async throws {
        let result = try await HubProcess.run(["token", "ann", "--ttl", "1m30s", "--jwt-secret", TestHub.secret])
        #expect(result.status == 0, "output: \(result.output)")
        let payload = try #require(result.output.split(separator: ".").dropFirst().first)
        var base64 = payload.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        let json = try #require(Data(base64Encoded: base64))
        let claims = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        let expiry = try #require(claims["exp"] as? Double)
        #expect(abs(expiry - Date().timeIntervalSince1970 - 90) < 30)
    }

    @Test("cluster start makes and starts the embedded cluster and says where it is; a second start finds it; stop stops it")
    func clusterCommand() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        func start() async throws -> [String: Any] {
            let run = try await HubProcess.run(["cluster", "start", "--data-dir", directory.path, "--log-level", "warning"])
            #expect(run.status == 0, "output: \(run.output)")
            let line = try #require(run.output.split(separator: "\n").last { $0.hasPrefix("{") }, "output: \(run.output)")
            return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        let first = try await start()
        let pid = try #require(first["postmaster_pid"] as? Int)
        #expect(kill(pid_t(pid), 0) == 0, "the postmaster it names runs")
        #expect(first["socket_directory"] as? String == directory.appendingPathComponent("postgres").standardizedFileURL.path)
        let binaries = try #require(first["binaries"] as? String)
        #expect(FileManager.default.isExecutableFile(atPath: binaries + "/pg_ctl"), "binaries: \(binaries)")
        #expect(try await start()["postmaster_pid"] as? Int == pid)
        let stop = try await HubProcess.run(["cluster", "stop", "--data-dir", directory.path, "--log-level", "warning"])
        #expect(stop.status == 0, "output: \(stop.output)")
        try await eventually("the postmaster has exited") { kill(pid_t(pid), 0) != 0 }
    }

    @Test("an executor the hub does not know stops it with the two it knows, from the flag or the environment")
    func badExecutor() async throws {
        let flag = try await HubProcess.run(["serve", "--executor", "threads"])
        #expect(flag.status == 64)
        #expect(flag.output.contains("event-loops") && flag.output.contains("pool"), "output: \(flag.output)")
        let variable = try HubProcess.start(["serve"], environment: ["ROLLCALL_EXECUTOR": "threads"])
        #expect(try await variable.waitForExit(timeout: .seconds(30)) == 64)
        #expect(variable.log.contains("ROLLCALL_EXECUTOR: 'threads' is neither event-loops nor pool"), "output: \(variable.log)")
    }

    @Test("webhooks are configured from the environment too: a URL without a secret stops the hub, a short secret names its length")
    func webhookEnvironment() async throws {
        let arguments = ["serve", "--database-url", "postgres://nobody@127.0.0.1:1/none", "--jwt-secret", TestHub.secret]
        let unsigned = try HubProcess.start(arguments, environment: ["ROLLCALL_WEBHOOK_URL": "http://127.0.0.1:9/hook"])
        #expect(try await unsigned.waitForExit(timeout: .seconds(30)) == 1)
        #expect(unsigned.log.contains("--webhook-url needs --webhook-secret"), "\(unsigned.log)")
        let short = try HubProcess.start(
            arguments, environment: ["ROLLCALL_WEBHOOK_URL": "http://127.0.0.1:9/hook", "ROLLCALL_WEBHOOK_SECRET": "too short"])
        #expect(try await short.waitForExit(timeout: .seconds(30)) == 1)
        #expect(short.log.contains("at least 32 bytes, not 9"), "\(short.log)")
    }

    @Test("every number and duration README documents for serve stops it, from the environment, when it cannot be read")
    func badEnvironmentValues() async throws {
        let readme = try String(contentsOf: HubProcess.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        // Rows of the configuration table: | `--flag` | `NAME` | `default` | meaning |
        let numeric = readme.split(separator: "\n").compactMap { line -> String? in
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4, cells[0].hasPrefix("`--"), cells[1].hasPrefix("`"), cells[2].hasPrefix("`") else { return nil }
            let value = cells[2].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            let number = value.prefix { $0.isNumber || $0 == "." }
            guard Double(number) != nil, ["", "ms", "s", "m", "h", "d"].contains(String(value.dropFirst(number.count))) else { return nil }
            return cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
        }
        #expect(numeric.contains("ROLLCALL_BATCH_LINGER") && numeric.contains("ROLLCALL_PORT") && numeric.count >= 12, "\(numeric)")
        for name in numeric {
            // Were the value taken, --port 70000 would stop the hub with another status, before any database.
            let hub = try HubProcess.start(
                ["serve", "--port", "70000", "--database-url", "postgres://nobody@127.0.0.1:1/none", "--jwt-secret", TestHub.secret],
                environment: [name: "soon"])
            #expect(try await hub.waitForExit(timeout: .seconds(30)) == 64, "\(name)")
            #expect(hub.log.contains("\(name): 'soon'"), "\(name): \(hub.log)")
        }
    }

    @Test("a socket's open and its close are one log line each, with its ids, and never its token")
    func socketLogLines() async throws {
        try await withTestDatabase { database in
            let authority = try await TestTokens.authority()
            let hub = try await HubProcess.serve(database: database, serverID: "logged")
            let token = try await authority.mint(Identity(userID: "lou"), lifetime: .seconds(600))
            let socket = try await TestSocket.open(url: hub.webSocketURL, token: token)
            let welcome = try await socket.next()
            guard case .welcome(let connectionID, _, _, _, _) = welcome else { throw UnexpectedFrame(frame: welcome) }
            try await socket.close()
            try await hub.waitForLog("close_reason=client_closed")
            let lines = hub.log.split(separator: "\n").filter { $0.contains("\(connectionID)") }
            #expect(lines.count == 2, "\(lines)")
            #expect(lines.first?.contains("connection opened") == true && lines.first?.contains("user_id=lou") == true)
            #expect(lines.last?.contains("connection closed") == true && lines.last?.contains("user_id=lou") == true)
            #expect(!hub.log.contains(token))
            hub.signal(SIGTERM)
            #expect(try await hub.waitForExit() == 0)
        }
    }

    @Test("a bad duration stops the command and says what a duration looks like", arguments: ["1.5x", "ten", "99999999d"])
    func badDuration(text: String) async throws {
        let result = try await HubProcess.run(["serve", "--orphan-window", text])
        #expect(result.status == 64)
        #expect(result.output.contains("'\(text)' is"), "output: \(result.output)")
        #expect(result.output.contains("--orphan-window"))
    }

    @Test(
        "bad webhook settings stop the hub at start with what is wrong",
        arguments: [
            (
                ["--webhook-url", "ftp://example.test/hook", "--webhook-secret", String(repeating: "s", count: 32)],
                "must be an http:// or https:// URL"
            ),
            (["--webhook-url", "http://127.0.0.1:9/hook"], "needs --webhook-secret"),
            (["--webhook-url", "http://127.0.0.1:9/hook", "--webhook-secret", "short"], "at least 32 bytes, not 5"),
        ])
    func badWebhookSettings(arguments: [String], message: String) async throws {
        let result = try await HubProcess.run(["serve", "--jwt-secret", TestHub.secret] + arguments)
        #expect(result.status != 0)
        #expect(result.output.contains(message), "output: \(result.output)")
    }

    @Test("rollcall psql --analyst reads the history and its views, and can change nothing")
    func analystSession() async throws {
        try await withTestDatabase { database in
            try await execute(
                database, "INSERT INTO rollcall.connections (connection_id, user_id, server_id) VALUES (gen_random_uuid(), 'ivy', 'hub')")
            guard case .unixSocket(let directory, let port) = database.endpoint else { return }
            let url = "postgres://\(database.username)@/\(database.database)?host=\(directory)&port=\(port)"
            func psql(_ query: String) async throws -> (status: Int32, output: String) {
                try await HubProcess.run(["psql", "--database-url", url, "--log-level", "error", "--analyst", "-At", "-c", query])
            }
            let read = try await psql("SELECT current_user, count(*) FROM rollcall.sessions")
            #expect(read.status == 0, "\(read.output)")
            #expect(read.output.contains("rollcall_analyst|1"), "\(read.output)")
            let rooms = try await psql("SELECT count(*) FROM rollcall.room_sessions, rollcall.rooms, rollcall.room_members")
            #expect(rooms.status == 0, "\(rooms.output)")
            let sessions = try await psql(
                """
                SELECT (SELECT count(*) FROM rollcall.weekly_sessions) + (SELECT count(*) FROM rollcall.session_lengths)
                     + (SELECT count(*) FROM rollcall.session_length_quantile(0.5, '-infinity'))
                """)
            let counted = sessions.output.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(sessions.status == 0 && counted == "1", "ivy's open session in its week: \(sessions.output)")
            for write in [
                "DELETE FROM rollcall.room_members",
                "DELETE FROM rollcall.user_session_weeks",
                "UPDATE rollcall.users SET online = true",
                "DELETE FROM rollcall.connections",
                "SELECT body FROM rollcall.message_payloads",
                "RESET ROLE; DELETE FROM rollcall.connections",
            ] {
                let refused = try await psql(write)
                #expect(refused.status != 0, "\(write) was allowed: \(refused.output)")
            }
            #expect(try await sql(database, "SELECT count(*)::int FROM rollcall.connections", as: Int.self) == [1])
        }
    }
}
