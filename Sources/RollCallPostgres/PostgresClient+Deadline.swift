import PostgresNIO

extension PostgresClient {
    /// Leases a connection for `body`, for at most `limit` (nil: until the caller is cancelled).
    /// Past it, or when the caller is cancelled, the connection is closed and the caller resumes at
    /// once: a PostgresNIO query ignores cancellation, so one whose backend never answers (stopped,
    /// or its connection closed under it) would otherwise hold the caller, and a shutdown, for ever.
    public func withConnection<T: Sendable>(
        within limit: Duration?, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let slot = ConnectionSlot()
        return try await withDeadline(limit, onAbandon: slot.closeConnection) {
            try await self.withConnection { connection in
                slot.use(connection)
                return try await body(connection)
            }
        }
    }
}
