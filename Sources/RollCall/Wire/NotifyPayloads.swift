/// The channels hubs NOTIFY and LISTEN on.
public enum NotifyChannel: String, Sendable, CaseIterable {
    /// Presence batches: `PresenceNotification`.
    case presence = "rollcall_presence"
    /// Messages to users: `MessageNotification`.
    case messages = "rollcall_messages"
}

/// Packs JSON pieces into as few objects under a byte limit as possible, keeping their order.
/// A piece that could not fit under the limit even alone is left out: no payload ever reaches
/// the limit, so one oversized event can never fail the transaction that carries the others.
public enum NotifyPayloads {
    /// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
    public static let limit = 7999

    public static func pack(fixed: [(key: String, json: String)], arrays: [(key: String, pieces: [String])], limit: Int) -> [String] {
        let fixedPart = fixed.map { "\"\($0.key)\":\($0.json)" }.joined(separator: ",")
        var payloads: [String] = []
        var current: [(key: String, pieces: [String])] = []
        var size = 0

        func render() -> String {
            let parts = current.map { "\"\($0.key)\":[\($0.pieces.joined(separator: ","))]" } + (fixedPart.isEmpty ? [] : [fixedPart])
            return "{" + parts.joined(separator: ",") + "}"
        }
        func reset() {
            current = []
            size = fixedPart.utf8.count + 2
        }
        reset()
        for (key, pieces) in arrays {
            for piece in pieces {
                guard fixedPart.utf8.count + 2 + piece.utf8.count + key.utf8.count + 6 <= limit else { continue }
                let opensArray = current.last?.key != key
                let added = piece.utf8.count + (opensArray ? key.utf8.count + 6 : 1)
                if size + added > limit, !current.isEmpty {
                    payloads.append(render())
                    reset()
                }
                if current.last?.key == key {
                    current[current.count - 1].pieces.append(piece)
                    size += piece.utf8.count + 1
                } else {
                    current.append((key, [piece]))
                    size += piece.utf8.count + key.utf8.count + 6
                }
            }
        }
        if !current.isEmpty { payloads.append(render()) }
        return payloads
    }
}
