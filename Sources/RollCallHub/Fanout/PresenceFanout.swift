import Foundation
import Logging
import RollCall
import RollCallPostgres

/// What the hub does with what its LISTEN connection hears: presence batches to watchers, room
/// events to the rooms' members, messages to local sockets, and after an outage a re-read of
/// everything its clients watch.
struct PresenceFanout: Sendable {
    let watchers: WatchIndex
    let rooms: RoomIndex
    let sockets: LiveSockets
    let reader: RegistryReader
    let logger: Logger

    func handle(_ event: NotificationListener.Event) async {
        switch event {
        case .presence(let notification):
            watchers.deliver(notification)
            rooms.deliver(notification.rooms)
        case .messages(let notification):
            for message in notification.messages { sockets.deliver(message) }
            for reference in notification.stored where sockets.holds(reference.to) {
                await deliverStored(reference)
            }
        case .listening(let outageStart):
            if let outageStart {
                await resync(since: outageStart)
                await resyncRooms()
            }
        case .lost:
            logger.warning("presence updates paused until LISTEN is back")
        }
    }

    /// Room changes notified while LISTEN was down are gone too: each room with local members
    /// reads its changes since the newest version this hub heard, from the rows; each socket keeps
    /// those newer than it knows. Run before any later notification is handled, so none overtakes them.
    private func resyncRooms() async {
        var count = 0
        for (room, heard) in rooms.heardVersions {
            do {
                let events = try await reader.roomEvents(room, after: heard)
                rooms.deliver(events)
                count += events.count
            } catch {
                logger.warning("room resync failed", metadata: ["room": "\(room)", "error": "\(error)"])
            }
        }
        if count > 0 { logger.info("room changes resynced after LISTEN outage", metadata: ["events": "\(count)"]) }
    }

    private func deliverStored(_ reference: MessageNotification.Reference) async {
        do {
            guard let body = try await reader.storedMessage(reference.id) else { return }
            sockets.deliver(try UserMessage.decode(body))
        } catch {
            logger.warning("could not read a stored message", metadata: ["message_id": "\(reference.id)", "error": "\(error)"])
        }
    }

    /// Notifications sent while LISTEN was down are gone: re-read the watched users, and for
    /// admin feeds every user that changed since the outage began, and let each socket keep
    /// what is newer than it knows.
    private func resync(since outageStart: Date) async {
        do {
            var presences = try await reader.presence(of: watchers.watchedUsers)
            if watchers.hasAllFeeds {
                // A little before the outage, for clock differences between hub and database.
                presences += try await reader.changedUsers(since: outageStart.addingTimeInterval(-5))
            }
            watchers.resync(presences)
            logger.info("presence resynced after LISTEN outage", metadata: ["users": "\(presences.count)"])
        } catch {
            logger.warning("presence resync failed", metadata: ["error": "\(error)"])
        }
    }
}
