import Foundation

/// A message for every open connection of a user, on every hub (`NOTIFY rollcall_messages`).
public struct UserMessage: Sendable, Equatable, Codable {
    public let to: String
    public let from: String
    public let data: JSONValue
    public let at: Date

    public init(to: String, from: String, data: JSONValue, at: Date) {
        self.to = to
        self.from = from
        self.data = data
        self.at = at
    }
}

/// The payload of `NOTIFY rollcall_messages`: messages carried inline, and references to
/// messages too large for NOTIFY, which wait in `rollcall.message_payloads`.
public struct MessageNotification: Sendable, Equatable, Codable {
    public struct Reference: Sendable, Equatable, Codable {
        public let id: Int64
        /// The recipient, so hubs without their connections skip the fetch.
        public let to: String

        public init(id: Int64, to: String) {
            self.id = id
            self.to = to
        }
    }

    public let messages: [UserMessage]
    public let stored: [Reference]

    public init(messages: [UserMessage], stored: [Reference]) {
        self.messages = messages
        self.stored = stored
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        messages = try container.decodeIfPresent([UserMessage].self, forKey: .messages) ?? []
        stored = try container.decodeIfPresent([Reference].self, forKey: .stored) ?? []
    }

    /// Bytes of a message above which it travels through the table: half of what NOTIFY takes,
    /// so a batch of small ones never waits behind one big one.
    public static let inlineLimit = 4000

    public static func payloads(messages: [String], stored: [Reference], limit: Int = PresenceNotification.payloadLimit) -> [String] {
        NotifyPayloads.pack(fixed: [], arrays: [("messages", messages), ("stored", stored.map(RollCallJSON.string))], limit: limit)
    }
}
