import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NIOCore
import RollCall
import RollCallHub
import RollCallPostgres
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a hub.")

    @OptionGroup var common: CommonOptions

    @Option(help: "Address to listen on (env: ROLLCALL_HOST).")
    var host: String = ProcessInfo.processInfo.environment["ROLLCALL_HOST"] ?? HubConfiguration.Defaults.host

    @Option(help: "Port to listen on; 0 picks a free one (env: ROLLCALL_PORT).")
    var port: Int = environmentInt("ROLLCALL_PORT", default: HubConfiguration.Defaults.port)

    @Option(name: .customLong("server-id"), help: "This hub's name; keep it across restarts (env: ROLLCALL_SERVER_ID; default HOSTNAME:PORT).")
    var serverIDOption: String?

    @Option(
        help: "A hub silent this long is dead and its rows are purged (env: ROLLCALL_ORPHAN_WINDOW; default 60s).",
        transform: DurationText.parseArgument)
    var orphanWindow: Duration = environmentDuration("ROLLCALL_ORPHAN_WINDOW", default: HubConfiguration.Defaults.orphanWindow)

    @Option(
        help: "How often the hub vouches for its connections (env: ROLLCALL_HEARTBEAT_INTERVAL; default 10s).", transform: DurationText.parseArgument)
    var heartbeatInterval: Duration = environmentDuration("ROLLCALL_HEARTBEAT_INTERVAL", default: HubConfiguration.Defaults.heartbeatInterval)

    @Option(
        name: .customLong("purge-interval"), help: "How often the purge runs; default a quarter of the orphan window (env: ROLLCALL_PURGE_INTERVAL).",
        transform: DurationText.parseArgument)
    var purgeIntervalOption: Duration?

    @Option(help: "Wait before publishing a user offline (env: ROLLCALL_OFFLINE_GRACE; default 3s).", transform: DurationText.parseArgument)
    var offlineGrace: Duration = environmentDuration("ROLLCALL_OFFLINE_GRACE", default: HubConfiguration.Defaults.offlineGrace)

    @Option(help: "How long closed rows are kept (env: ROLLCALL_RETENTION; default 30d).", transform: DurationText.parseArgument)
    var retention: Duration = environmentDuration("ROLLCALL_RETENTION", default: HubConfiguration.Defaults.retention)

    @Option(help: "Most events in one registry transaction; 1 turns grouping off (env: ROLLCALL_MAX_BATCH).")
    var maxBatch: Int = environmentInt("ROLLCALL_MAX_BATCH", default: HubConfiguration.Defaults.maxBatch)

    @Option(
        help: """
            While the hub is busy, longest a registry transaction waits for more events; 0 never waits \
            (env: ROLLCALL_BATCH_LINGER; default 5ms, at most 1s).
            """,
        transform: DurationText.parseArgument)
    var batchLinger: Duration = environmentDuration("ROLLCALL_BATCH_LINGER", default: HubConfiguration.Defaults.batchLinger)

    @Option(
        help: """
            Longest one registry transaction may take before the hub gives it up; its lock waits end at half of it \
            (env: ROLLCALL_WRITE_DEADLINE; default 10s, 2s to 60s).
            """,
        transform: DurationText.parseArgument)
    var writeDeadline: Duration = environmentDuration("ROLLCALL_WRITE_DEADLINE", default: HubConfiguration.Defaults.writeDeadline)

    @Option(help: "Largest frame or message body in bytes (env: ROLLCALL_MAX_MESSAGE_BYTES).")
    var maxMessageBytes: Int = environmentInt("ROLLCALL_MAX_MESSAGE_BYTES", default: HubConfiguration.Defaults.maxMessageBytes)

    @Option(help: "Most bytes queued for one socket that does not read; past it the socket is closed (env: ROLLCALL_MAX_OUTBOUND_BYTES).")
    var maxOutboundBytes: Int = environmentInt("ROLLCALL_MAX_OUTBOUND_BYTES", default: HubConfiguration.Defaults.maxOutboundBytes)

    @Option(
        help: "How often idle sockets are pinged; a peer silent as long again is dropped (env: ROLLCALL_PING_INTERVAL; default 30s).",
        transform: DurationText.parseArgument)
    var pingInterval: Duration = environmentDuration("ROLLCALL_PING_INTERVAL", default: HubConfiguration.Defaults.pingInterval)

    @Option(
        help: """
            Proxies whose X-Forwarded-For names the client, as addresses or networks, comma-separated, e.g. 10.0.0.0/8 \
            (env: ROLLCALL_TRUSTED_PROXIES; default none).
            """)
    var trustedProxies: String = ProcessInfo.processInfo.environment["ROLLCALL_TRUSTED_PROXIES"] ?? ""

    @Option(help: "Most sockets one user holds open on this hub; 0 is no cap (env: ROLLCALL_MAX_SOCKETS_PER_USER).")
    var maxSocketsPerUser: Int = environmentInt("ROLLCALL_MAX_SOCKETS_PER_USER", default: HubConfiguration.Defaults.maxSocketsPerUser)

    @Option(help: "Sockets one user may open per second, in bursts of five seconds' worth; 0 is no limit (env: ROLLCALL_USER_OPEN_RATE).")
    var userOpenRate: Int = environmentInt("ROLLCALL_USER_OPEN_RATE", default: HubConfiguration.Defaults.userOpensPerSecond)

    @Option(
        help: "Sockets one client address may open per second, in bursts of five seconds' worth; 0 is no limit (env: ROLLCALL_ADDRESS_OPEN_RATE).")
    var addressOpenRate: Int = environmentInt("ROLLCALL_ADDRESS_OPEN_RATE", default: HubConfiguration.Defaults.addressOpensPerSecond)

    @Option(
        help: """
            Where Swift tasks run: 'pool' (Swift's own thread pool) or, experimental, 'event-loops' \
            (the socket threads: fewer thread switches per socket) (env: ROLLCALL_EXECUTOR).
            """)
    var executor: TaskPlacement = TaskPlacement(rawValue: ProcessInfo.processInfo.environment["ROLLCALL_EXECUTOR"] ?? "") ?? .pool

    @Option(
        name: .customLong("webhook-url"),
        help: "POST every online, offline, room join and room leave to this http(s) URL (env: ROLLCALL_WEBHOOK_URL; default none).")
    var webhookURLOption: String?

    @Option(
        name: .customLong("webhook-secret"),
        help: "Signs the webhooks; at least 32 bytes, needed with --webhook-url (env: ROLLCALL_WEBHOOK_SECRET).")
    var webhookSecretOption: String?

    @Option(help: "How long one webhook POST may take (env: ROLLCALL_WEBHOOK_TIMEOUT; default 5s).", transform: DurationText.parseArgument)
    var webhookTimeout: Duration = environmentDuration("ROLLCALL_WEBHOOK_TIMEOUT", default: HubConfiguration.Defaults.webhookTimeout)

    @Option(
        help: "How long a webhook is retried before it is kept as failed (env: ROLLCALL_WEBHOOK_MAX_AGE; default 24h).",
        transform: DurationText.parseArgument)
    var webhookMaxAge: Duration = environmentDuration("ROLLCALL_WEBHOOK_MAX_AGE", default: HubConfiguration.Defaults.webhookMaxAge)

    /// Where the hub's Swift tasks run. On the event loops, a socket's task wakes on the thread
    /// that did its I/O instead of crossing to the concurrency pool and back.
    enum TaskPlacement: String, ExpressibleByArgument {
        case eventLoops = "event-loops"
        case pool
    }

    var serverID: String? { serverIDOption ?? ProcessInfo.processInfo.environment["ROLLCALL_SERVER_ID"] }
    var purgeInterval: Duration? {
        purgeIntervalOption ?? ProcessInfo.processInfo.environment["ROLLCALL_PURGE_INTERVAL"].flatMap { try? DurationText.parse($0) }
    }

    func run() async throws {
        let logger = common.makeLogger()
        let secret = try common.resolveSecret(logger: logger)
        let proxies: TrustedProxies
        do {
            proxies = try TrustedProxies(parsing: trustedProxies)
        } catch {
            throw CommandFailure(error.description)
        }
        var webhooks: WebhookSettings?
        let webhookURL = webhookURLOption ?? ProcessInfo.processInfo.environment["ROLLCALL_WEBHOOK_URL"]
        let webhookSecret = webhookSecretOption ?? ProcessInfo.processInfo.environment["ROLLCALL_WEBHOOK_SECRET"]
        if let webhookURL, !webhookURL.isEmpty {
            switch WebhookSettings.validated(url: webhookURL, secret: webhookSecret, timeout: webhookTimeout, maxAge: webhookMaxAge) {
            case .success(let settings): webhooks = settings
            case .failure(let problem): throw CommandFailure(problem.description)
            }
        }
        var settings = HubConfiguration(
            host: host, port: port,
            serverID: serverID ?? Self.defaultServerID(port: port),
            jwtSecret: secret,
            orphanWindow: orphanWindow, heartbeatInterval: heartbeatInterval, purgeInterval: purgeInterval,
            offlineGrace: offlineGrace, retention: retention, maxBatch: maxBatch, batchLinger: batchLinger, writeDeadline: writeDeadline,
            maxMessageBytes: maxMessageBytes, maxOutboundBytes: maxOutboundBytes,
            pingInterval: pingInterval, trustedProxies: proxies,
            openLimits: .init(
                maxSocketsPerUser: maxSocketsPerUser,
                userOpens: .sustained(Double(userOpenRate)), addressOpens: .sustained(Double(addressOpenRate))))
        settings.webhooks = webhooks
        let configuration = settings
        do {
            try configuration.validate()
        } catch {
            throw CommandFailure(error.description)
        }
        // Past the writer's own patience with a dead database, the drain and any running offline graces.
        let patience = Duration.seconds(35) + writeDeadline + offlineGrace
        let common = common, host = host, port = port
        try await BoundedShutdown.run(patience: patience, logger: logger) { stage in
            try await common.withDatabase(logger: logger) { target in
                try Task.checkCancellation()
                logger.info("database", metadata: ["location": "\(target.location.redacted)"])
                let dataDir = common.dataDir
                let app = try await HubApplication.build(configuration: configuration, database: target.location, logger: logger) { port in
                    stage.markListening()
                    if common.usesEmbeddedDatabase, common.jwtSecret == nil {
                        logger.notice("try it: swift run rollcall connect alice --data-dir \(dataDir) --url ws://\(host):\(port)")
                    }
                }
                try Task.checkCancellation()
                // The hub runs under a group of its own, which the signal watcher shuts down.
                let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
                guard stage.serve(group) else { throw CancellationError() }
                do {
                    try await group.run()
                } catch let error as IOError {
                    throw CommandFailure(Self.explain(error, host: host, port: port))
                }
            }
        }
    }

    /// `HOSTNAME:PORT`, which a restart keeps. With `--port 0` every run gets a port of its own,
    /// so the id gets a random suffix: hubs on one machine must never share an id (a restart's
    /// cleanup would close another hub's live rows). What such a run leaves, the purge closes.
    static func defaultServerID(port: Int) -> String {
        let host = ProcessInfo.processInfo.hostName
        return port == 0 ? "\(host):0-\(UUID().uuidString.prefix(8).lowercased())" : "\(host):\(port)"
    }

    /// What a failure to listen means for the operator.
    static func explain(_ error: IOError, host: String, port: Int) -> String {
        switch error.errnoCode {
        case EADDRINUSE: "port \(port) is in use"
        case EACCES: "port \(port) needs privileges this process does not have"
        case EADDRNOTAVAIL: "\(host) is not an address of this machine"
        default: "cannot listen on \(host):\(port): \(error)"
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply the sql/ migrations, then exit.")

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let logger = common.makeLogger()
        try await common.withDatabase(logger: logger) { target in
            let applied = try await RegistryDatabase.migrate(target.location, logger: logger)
            print(applied.isEmpty ? "schema is up to date" : "applied: \(applied.joined(separator: ", "))")
        }
    }
}
