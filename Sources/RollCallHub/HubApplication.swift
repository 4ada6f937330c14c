import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import PostgresNIO
import RollCall
import RollCallPostgres
import ServiceLifecycle

/// Builds a hub: the one function production and tests both call.
public enum HubApplication {
    /// A hub ready to `run()` as a service (in a `ServiceGroup` that owns its shutdown).
    public static func build(
        configuration: HubConfiguration,
        database: DatabaseLocation,
        logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> Hub {
        try configuration.validate()
        let logger = logger.with(metadata: "server_id", "\(configuration.serverID)")

        // Two pools: the writer, heartbeat and sweep on one, the reads that clients cause on the
        // other, so a flood of reads never makes an open, a close or a heartbeat wait.
        let client = PostgresClient(
            configuration: database.clientConfiguration(connections: 3, within: configuration.writeDeadline), backgroundLogger: logger)
        let readClient = PostgresClient(configuration: database.clientConfiguration(connections: 6), backgroundLogger: logger)
        let seal = NotifySeal(secret: configuration.jwtSecret)
        let writer = RegistryWriter(
            serverID: configuration.serverID, client: client, seal: seal, maxBatch: configuration.maxBatch,
            linger: configuration.batchLinger, offlineGrace: configuration.offlineGrace, attemptLimit: configuration.writeDeadline,
            webhooks: configuration.webhooks != nil, logger: logger)
        let metrics = HubMetrics()
        let contact = DatabaseContact()
        writer.onCommit { report in
            metrics.record(report)
            contact.writeCommitted()
        }
        writer.onFailure { contact.writeFailed() }
        let reader = RegistryReader(client: readClient, logger: logger)
        let sockets = LiveSockets()
        let watchers = WatchIndex()
        let rooms = RoomIndex()
        let fanout = PresenceFanout(watchers: watchers, rooms: rooms, sockets: sockets, reader: reader, logger: logger)
        let listener = NotificationListener(
            location: database, seal: seal, logger: logger, onRejected: { _ in metrics.notificationsRejected.increment() },
            wantsPresence: { watchers.isWatching || rooms.hasMembers }
        ) { await fanout.handle($0) }
        let authority = try await TokenAuthority(secret: configuration.jwtSecret)
        let services = SocketServices(
            settings: SocketSettings(configuration),
            writer: writer,
            reader: reader,
            sockets: sockets,
            watchers: watchers,
            rooms: rooms,
            metrics: metrics,
            contact: contact)
        let registration = ServerRegistration(client: client, serverID: configuration.serverID, logger: logger)
        let lifecycle = HubLifecycle(serverID: configuration.serverID, writer: writer, registration: registration, logger: logger)
        let heartbeat = HeartbeatService(
            interval: configuration.heartbeatInterval, writer: writer, sockets: sockets, metrics: metrics,
            registration: registration, contact: contact, logger: logger)
        let purge = PurgeService(
            interval: configuration.purgeInterval, orphanWindow: configuration.orphanWindow, retention: configuration.retention,
            writer: writer, metrics: metrics, history: HistoryMaintenance(client: client, logger: logger), contact: contact, logger: logger)

        let admission = SocketAdmission(
            authority: authority, rules: configuration.openLimits, trustedProxies: configuration.trustedProxies,
            metrics: metrics, databaseAvailable: { contact.isAvailable })

        let router = Router(context: HubRequestContext.self)
        router.middlewares.add(JSONErrorMiddleware())
        HubRoutes(
            services: services, authority: authority, admission: admission, trustedProxies: configuration.trustedProxies,
            listening: { listener.isListening },
            webhooks: WebhookRoutes(outbox: WebhookOutbox(client: readClient, logger: logger), delivering: configuration.webhooks != nil)
        ).add(to: router)

        var app = Application(
            router: router,
            server: .gatedWebSocketUpgrade(
                router: router,
                configuration: .init(
                    http1: .init(idleTimeout: .seconds(60)),
                    ws: .init(maxFrameSize: configuration.maxFrameBytes, autoPing: .enabled(timePeriod: configuration.pingInterval))),
                census: sockets.census,
                admission: { head, channel in admission.admit(head, on: channel) }),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "RollCall"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                logger.info("hub listening", metadata: ["host": "\(configuration.host)", "port": "\(port)"])
                await onServerRunning(port)
            },
            logger: logger)
        // Shutdown runs in reverse: server, then purge and heartbeat, lifecycle (closes and
        // stopped_at), listener, writer, pool.
        func watched(_ service: some Service, _ name: String) -> any Service {
            WatchedService(base: service, name: name, logger: logger)
        }
        app.addServices(
            watched(client, "database-pool"), watched(readClient, "read-pool"), watched(writer, "registry-writer"),
            watched(listener, "notification-listener"), watched(lifecycle, "hub-lifecycle"), watched(heartbeat, "heartbeat"),
            watched(purge, "purge"))
        if let webhooks = configuration.webhooks {
            app.addServices(
                watched(
                    WebhookDelivery(settings: webhooks, outbox: WebhookOutbox(client: client, logger: logger), metrics: metrics, logger: logger),
                    "webhooks"))
        }
        app.beforeServerStarts {
            // A SIGTERM while the database keeps the start waiting (a lock, an unreachable server)
            // ends the start instead of waiting for it.
            try await cancelWhenGracefulShutdown {
                try await Migrator(logger: logger).migrate(Migration.bundled(), using: client)
                try await lifecycle.prepare(host: ProcessInfo.processInfo.hostName)
            }
        }
        let routes = router.routes.map { route in
            let segments = "\(route.path)".split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
            return "\(route.method) /" + segments.joined(separator: "/")
        }
        return Hub(application: app, drain: SocketDrain(sockets: sockets, logger: logger), logger: logger, routes: routes)
    }
}

extension Logger {
    func with(metadata key: String, _ value: Logger.MetadataValue) -> Logger {
        var copy = self
        copy[metadataKey: key] = value
        return copy
    }
}
