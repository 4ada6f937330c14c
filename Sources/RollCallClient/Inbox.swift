import Synchronization

/// Frames waiting to be read, and one reader waiting for them.
final class Inbox: Sendable {
    private struct State {
        var texts: [String] = []
        var head = 0
        var finished = false
        var closingFromHere = false
        var closeCode: UInt16?
        var waiter: CheckedContinuation<String?, any Error>?
    }
    private let state = Mutex(State())

    func append(_ text: String) {
        let waiter = state.withLock { state -> CheckedContinuation<String?, any Error>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.texts.append(text)
            return nil
        }
        waiter?.resume(returning: text)
    }

    func finish() {
        let waiter = state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// Records the hub's close; true when the hub closed first (so its close must be answered).
    func closeReceived(code: UInt16?) -> Bool {
        state.withLock { state in
            if state.closeCode == nil { state.closeCode = code }
            return !state.closingFromHere
        }
    }

    func closingFromHere() { state.withLock { $0.closingFromHere = true } }

    var closeCode: UInt16? { state.withLock { $0.closeCode } }
    var isClosed: Bool { state.withLock { $0.finished } }

    func next() async throws -> String? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let ready: Result<String?, any Error>? = state.withLock { state in
                    if state.head < state.texts.count {
                        let text = state.texts[state.head]
                        state.head += 1
                        if state.head > 64, state.head * 2 > state.texts.count {
                            state.texts.removeFirst(state.head)
                            state.head = 0
                        }
                        return .success(text)
                    }
                    if state.finished { return .success(nil) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    precondition(state.waiter == nil, "one reader at a time")
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
