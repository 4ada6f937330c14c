import Foundation

/// A message for every open connection of a user, on every hub (`NOTIFY rollcall_messages`).
public struct UserMessage: Sendable, Equatable {
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

    enum Key: String { case at, data, from, to }

    /// The message as JSON, as in a message notification and in `rollcall.message_payloads`.
    public var json: String {
        var writer = JSONWriter()
        writer.object {
            $0.field(Key.at, at)
            $0.field(Key.data, data)
            $0.field(Key.from, from)
            $0.field(Key.to, to)
        }
        return writer.text
    }

    public init(json: JSONValue) throws(JSONValue.FieldError) {
        self.init(to: try json.string(Key.to), from: try json.string(Key.from), data: try json.present(Key.data), at: try json.date(Key.at))
    }

    /// Reads a message as `json` writes it.
    public static func decode(_ text: String) throws -> UserMessage {
        try UserMessage(json: try JSONParser.parse(text))
    }
}

/// The payload of `NOTIFY rollcall_messages`: messages carried inline, and references to
/// messages too large for NOTIFY, which wait in `rollcall.message_payloads`.
public struct MessageNotification: Sendable, Equatable {
    public struct Reference: Sendable, Equatable {
        public let id: Int64
        /// The recipient, so hubs without their connections skip the fetch.
        public let to: String

        public init(id: Int64, to: String) {
            self.id = id
            self.to = to
        }

        enum Key: String { case id, to }

        var json: String {
            var writer = JSONWriter()
            writer.object {
                $0.field(Key.id, id)
                $0.field(Key.to, to)
            }
            return writer.text
        }

        init(json: JSONValue) throws(JSONValue.FieldError) {
            self.init(id: try json.int(Key.id), to: try json.string(Key.to))
        }
    }

    public let messages: [UserMessage]
    public let stored: [Reference]

    public init(messages: [UserMessage], stored: [Reference]) {
        self.messages = messages
        self.stored = stored
    }

    enum Key: String { case messages, stored }

    /// Bytes of a message above which it travels through the table: half of what NOTIFY takes,
    /// so a batch of small ones never waits behind one big one.
    public static let inlineLimit = 4000

    /// The notifications for `messages` (each as `UserMessage.json` wrote it) and `stored`.
    public static func payloads(messages: [String], stored: [Reference], limit: Int = NotifyPayloads.limit) -> [String] {
        NotifyPayloads.pack(fixed: [], arrays: [(Key.messages.rawValue, messages), (Key.stored.rawValue, stored.map(\.json))], limit: limit)
    }

    public static func decode(_ payload: String) throws -> MessageNotification {
        let notification = try JSONParser.parse(payload)
        return MessageNotification(
            messages: try notification.array(Key.messages).map(UserMessage.init(json:)),
            stored: try notification.array(Key.stored).map(Reference.init(json:)))
    }
}
