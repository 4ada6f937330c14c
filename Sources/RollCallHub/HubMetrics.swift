import Prometheus
import RollCallPostgres

/// This hub's Prometheus figures; one registry per hub, so several hubs share a test process.
final class HubMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let connectionsOpen: Gauge
    let connectionsOpened: Counter
    let connectionsRefused: Counter
    let registryTransactions: Counter
    let registryRequests: Counter
    let registryPending: Gauge
    let messagesHeld: Counter
    let transitionsPublished: Counter
    let framesRejected: Counter
    let slowReadersClosed: Counter
    let connectionsLimited: Counter
    let notificationsRejected: Counter
    let databaseUp: Gauge
    let heartbeatFailures: Counter
    let orphansClosed: Counter
    let historyDeleted: Counter
    let historyRolledUp: Counter
    let historyMonthsDropped: Counter
    let webhooksDelivered: Counter
    let webhooksFailedAttempts: Counter
    let webhooksPending: Gauge
    let webhookLatency: DurationHistogram

    init() {
        func name(_ subsystem: String, _ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "rollcall", subsystem: subsystem, metricName: metric, unitName: unit, helpText: help)
        }
        connectionsOpen = registry.makeGauge(descriptor: name("connections", "open", "", "WebSocket connections this hub holds"))
        connectionsOpened = registry.makeCounter(descriptor: name("connections", "opened", "total", "Connections welcomed"))
        connectionsRefused = registry.makeCounter(
            descriptor: name("connections", "refused", "total", "Upgrades refused: bad token, database unavailable"))
        registryTransactions = registry.makeCounter(
            descriptor: name("registry", "transactions", "total", "Transactions committed by the registry writer"))
        registryRequests = registry.makeCounter(
            descriptor: name("registry", "requests", "total", "Opens and closes written by the registry writer"))
        registryPending = registry.makeGauge(
            descriptor: name("registry", "pending", "", "Requests queued for the registry writer that no transaction has taken yet"))
        messagesHeld = registry.makeCounter(
            descriptor: name("messages", "held", "total", "Messages whose socket was not read until the backlogged registry writer had room"))
        transitionsPublished = registry.makeCounter(
            descriptor: name("presence", "transitions", "total", "Presence transitions this hub's writer decided"))
        framesRejected = registry.makeCounter(descriptor: name("frames", "rejected", "total", "Client frames answered with an error"))
        slowReadersClosed = registry.makeCounter(
            descriptor: name("connections", "slow_closed", "total", "Sockets closed for not reading: their outbound budget was passed"))
        connectionsLimited = registry.makeCounter(
            descriptor: name("connections", "limited", "total", "Upgrades refused by the per-user socket cap or an open-rate limit"))
        notificationsRejected = registry.makeCounter(
            descriptor: name("notifications", "rejected", "total", "NOTIFY payloads dropped: unsigned, forged, stale or replayed"))
        databaseUp = registry.makeGauge(descriptor: name("database", "up", "", "1 while this hub can write to the database, else 0"))
        heartbeatFailures = registry.makeCounter(descriptor: name("heartbeat", "failures", "total", "Heartbeats the database did not take"))
        orphansClosed = registry.makeCounter(
            descriptor: name("purge", "orphans_closed", "total", "Rows of dead hubs this hub's purge closed as orphaned"))
        historyDeleted = registry.makeCounter(
            descriptor: name("purge", "history_deleted", "total", "Closed rows past the retention this hub deleted"))
        historyRolledUp = registry.makeCounter(
            descriptor: name("purge", "history_rolled_up", "total", "Closed rows this hub added to the history's rollups"))
        webhooksDelivered = registry.makeCounter(descriptor: name("webhooks", "delivered", "total", "Webhooks this hub delivered (2xx)"))
        webhooksFailedAttempts = registry.makeCounter(
            descriptor: name("webhooks", "failed_attempts", "total", "Webhook POSTs that failed: an error status, no answer within the timeout"))
        webhooksPending = registry.makeGauge(
            descriptor: name("webhooks", "pending", "", "Webhooks in the outbox neither delivered nor failed, as this hub last counted"))
        webhookLatency = registry.makeDurationHistogram(
            descriptor: name("webhooks", "delivery", "seconds", "How long a delivered webhook's POST took"),
            buckets: [.milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500), .seconds(2), .seconds(5)])
        historyMonthsDropped = registry.makeCounter(
            descriptor: name("purge", "history_months_dropped", "total", "Monthly history partitions past the retention this hub dropped"))
    }

    func record(_ report: CommitReport) {
        registryTransactions.increment()
        registryRequests.increment(by: Int64(report.requests))
        transitionsPublished.increment(by: Int64(report.transitions.count))
    }
}
